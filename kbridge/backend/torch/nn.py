"""torch backend: nn ops (activations, convolution, pooling, normalisation, losses, attention).

The ops composed of other ops are in the shared module; here are the ones torch runs as
kernels (torch.nn.functional).
"""

import math

import torch
import torch.nn.functional as F

from kbridge.backend.common.dtypes import result_type
from kbridge.backend.common.shared import include
from kbridge.backend.torch.core import convert_to_tensor, promote, to_torch_dtype
from kbridge.backend.torch.math import _as_float as _float

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


include("nn", globals(), einsum=torch.einsum)


def _torch_pad(pads):
    """Per-dim (left, right) pairs to F.pad's last-dim-first flat list."""
    return [p for pair in reversed(pads) for p in pair]


def _to_channels_first(x, data_format):
    return x if data_format == "channels_first" else torch.movedim(x, -1, 1)


def _from_channels_first(x, data_format):
    return x if data_format == "channels_first" else torch.movedim(x, 1, -1)


# ----------------------------------------------------------------------------- activations

def relu(x):
    return torch.relu(convert_to_tensor(x))


def relu6(x):
    x = convert_to_tensor(x)
    return torch.clamp(x, 0, 6)


def sigmoid(x):
    return torch.sigmoid(_float(x))


def silu(x):  # torch has fused kernels for this and the activations below
    return F.silu(_float(x))


swish = silu


def log_sigmoid(x):
    return F.logsigmoid(_float(x))


def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(_float(x), negative_slope)


def gelu(x, approximate=True):
    return F.gelu(_float(x), approximate="tanh" if approximate else "none")


def softmax(x, axis=-1):
    x = _float(x)
    if isinstance(axis, (list, tuple)):
        e = torch.exp(x - torch.amax(x, dim=tuple(axis), keepdim=True))
        return e / torch.sum(e, dim=tuple(axis), keepdim=True)
    return torch.softmax(x, dim=axis)


def log_softmax(x, axis=-1):
    x = _float(x)
    if isinstance(axis, (list, tuple)):
        return x - torch.logsumexp(x, dim=tuple(axis), keepdim=True)
    return torch.log_softmax(x, dim=axis)


# ----------------------------------------------------------------------------- convolution

def _prepare(inputs, kernel, strides, dilation_rate, data_format):
    x, kernel, strides, dilation, data_format, nd = _conv_args(
        inputs, kernel, strides, dilation_rate, data_format)
    return _to_channels_first(x, data_format), kernel, strides, dilation, data_format, nd


def _conv_cf(x, weight, strides, padding, dilation, groups, nd):
    """Channels-first conv; weight is torch-layout (out, in/groups, *k)."""
    if padding == "same":
        k = weight.shape[2:]
        if all(s == 1 for s in strides) and all((kk - 1) * d % 2 == 0
                                                for kk, d in zip(k, dilation)):
            # Stride 1 and odd effective kernels: symmetric padding, torch pads in the kernel.
            return _CONV[nd](x, weight, None, 1, "same", dilation, groups)
        pads = [_same_pads(n, kk, s, d) for n, kk, s, d in zip(x.shape[2:], k, strides, dilation)]
        if any(p != (0, 0) for p in pads):
            x = F.pad(x, _torch_pad(pads))
    return _CONV[nd](x, weight, None, strides, 0, dilation, groups)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    # torch has fused kernels for this and the convolutions below: F.conv<n>d
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    weight = torch.permute(kernel, (nd + 1, nd) + tuple(range(nd)))
    y = _conv_cf(x, weight, strides, padding, dilation, _groups(x.shape[1], kernel), nd)
    return _from_channels_first(y, data_format)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    channels = x.shape[1]
    _check_depthwise(kernel, channels)
    kernel = kernel.reshape(tuple(kernel.shape[:nd]) + (1, channels * kernel.shape[-1]))
    weight = torch.permute(kernel, (nd + 1, nd) + tuple(range(nd)))
    y = _conv_cf(x, weight, strides, padding, dilation, channels, nd)
    return _from_channels_first(y, data_format)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    pads = _transpose_pads(kernel, x.shape[1], strides, dilation, padding, output_padding)
    # torch's transposed conv without padding gives the "full" output; Keras's padding rule
    # then crops (k_eff - 1 - left) on the left and pads or crops the right.
    weight = torch.permute(kernel, (nd + 1, nd) + tuple(range(nd)))
    y = _CONV_T[nd](x, weight, None, strides, 0, 0, 1, dilation)
    index, extra = [slice(None), slice(None)], []
    for i, (k, d, (left, right)) in enumerate(zip(kernel.shape[:nd], dilation, pads)):
        k_eff = (k - 1) * d + 1
        start = k_eff - 1 - left
        stop = y.shape[2 + i] - max(k_eff - 1 - right, 0)
        index.append(slice(start, stop))
        extra.append((0, max(right - (k_eff - 1), 0)))
    y = y[tuple(index)]
    if any(e != (0, 0) for e in extra):
        y = F.pad(y, _torch_pad(extra))
    return _from_channels_first(y, data_format)


# ----------------------------------------------------------------------------- pooling

def _pool_args(inputs, pool_size, strides, padding, data_format):
    inputs, pool_size, strides, padding, data_format = _pooling_args(
        inputs, pool_size, strides, padding, data_format)
    x = _to_channels_first(inputs, data_format)
    pads = None
    if padding == "same":
        pads = [_same_pads(n, k, s, 1) for n, k, s in zip(x.shape[2:], pool_size, strides)]
        if all(p == (0, 0) for p in pads):
            pads = None
    return x, pool_size, strides, pads, data_format, len(pool_size)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, pool_size, strides, pads, data_format, nd = _pool_args(
        inputs, pool_size, strides, padding, data_format)
    if pads is not None:
        low = -math.inf if x.is_floating_point() else torch.iinfo(x.dtype).min
        x = F.pad(x, _torch_pad(pads), value=low)
    return _from_channels_first(_MAX_POOL[nd](x, pool_size, strides), data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, pool_size, strides, pads, data_format, nd = _pool_args(
        _float(inputs), pool_size, strides, padding, data_format)
    if pads is None:
        return _from_channels_first(_AVG_POOL[nd](x, pool_size, strides), data_format)
    # 'same': average over the real (unpadded) elements only, as TF does: the mean of the
    # zero-padded window divided by the fraction of real elements in it.
    total = _AVG_POOL[nd](F.pad(x, _torch_pad(pads)), pool_size, strides)
    ones = F.pad(torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device),
                 _torch_pad(pads))
    count = _AVG_POOL[nd](ones, pool_size, strides)
    return _from_channels_first(total / count, data_format)


# ----------------------------------------------------------------------------- normalisation

_reference_layer_norm = _layer_norm


def _layer_norm(x, gamma, beta, axes, epsilon, rms_scaling):
    # torch has a fused kernel over trailing axes: F.layer_norm (as Keras uses on torch)
    if rms_scaling or axes != tuple(range(x.ndim - len(axes), x.ndim)):
        return _reference_layer_norm(x, gamma, beta, axes, epsilon, rms_scaling)
    shape = x.shape[x.ndim - len(axes):]

    def flat(v):
        return None if v is None else torch.reshape(convert_to_tensor(v).to(x.dtype), shape)

    return F.layer_norm(x, shape, flat(gamma), flat(beta), epsilon)


# ----------------------------------------------------------------------------- misc

def polar(abs_, angle):
    abs_, angle = _float(abs_), _float(angle)
    dt = to_torch_dtype(result_type(abs_.dtype, angle.dtype))
    return torch.polar(abs_.to(dt), angle.to(dt))


def depth_to_space(x, block_size, data_format="channels_last"):
    # torch has a fused kernel for channels_first: F.pixel_shuffle
    x = convert_to_tensor(x)
    if data_format == "channels_last":
        return _depth_to_space(x, block_size, data_format)
    return F.pixel_shuffle(x, block_size)


def space_to_depth(x, block_size, data_format="channels_last"):
    # torch has a fused kernel for channels_first: F.pixel_unshuffle
    x = convert_to_tensor(x)
    if data_format == "channels_last":
        return _space_to_depth(x, block_size, data_format)
    return F.pixel_unshuffle(x, block_size)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    return F.unfold(convert_to_tensor(x), kernel_size, dilation, padding, stride)


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    return F.fold(convert_to_tensor(x), output_size, kernel_size, dilation, padding, stride)


# ----------------------------------------------------------------------------- attention

_reference_attend = _attend


def _attend(query, key, value, bias, mask, scale, is_causal, soft_cap, dt):
    """``F.scaled_dot_product_attention`` on [B, T, N, H] tensors (it takes [B, N, T, H]);
    mask, causal mask and bias folded into one additive float mask."""
    # torch has a fused kernel: F.scaled_dot_product_attention (float32/64, no soft cap)
    if dt not in ("float32", "float64") or soft_cap is not None:
        return _reference_attend(query, key, value, bias, mask, scale, is_causal, soft_cap, dt)
    dt = to_torch_dtype(dt)
    query, key, value = query.to(dt), key.to(dt), value.to(dt)
    attn_mask = None
    if mask is not None or bias is not None:
        t, s = query.shape[1], key.shape[1]
        attn_mask = torch.zeros((1, 1, t, s), dtype=query.dtype, device=query.device)
        if bias is not None:
            attn_mask = attn_mask + convert_to_tensor(bias).to(query.dtype)
        keep = None
        if mask is not None:
            keep = convert_to_tensor(mask).to(torch.bool)
        if is_causal:
            causal = torch.ones((t, s), dtype=torch.bool, device=query.device).tril()
            keep = causal if keep is None else keep & causal
        if keep is not None:
            attn_mask = attn_mask.masked_fill(~keep, _MASKED_LOGIT)
    out = F.scaled_dot_product_attention(  # is_causal: top-left aligned, as the mask above
        query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2),
        attn_mask=attn_mask, scale=scale, is_causal=bool(is_causal) and attn_mask is None)
    return out.transpose(1, 2)


# ----------------------------------------------------------------------------- CTC

def ctc_loss(target, output, target_length, output_length, mask_index=0):
    target = convert_to_tensor(target).to(torch.int64)
    output = _float(output)
    output = output.to(to_torch_dtype(result_type(output.dtype, "float32")))
    target_length = convert_to_tensor(target_length).to(torch.int64)
    output_length = convert_to_tensor(output_length).to(torch.int64)
    logp = torch.log_softmax(output, dim=-1).transpose(0, 1)  # (T, B, C)
    # reduction="none" gives the per-sequence negative log-likelihood.
    return F.ctc_loss(logp, target, output_length, target_length, blank=mask_index,
                      reduction="none", zero_infinity=False)


def linear(x, kernel, bias=None):
    """Dense's ``x @ kernel + bias`` as one ``F.linear`` (addmm) when the dtypes agree."""
    if x.dtype != kernel.dtype:
        x, kernel = promote(x, kernel)
    if kernel.ndim == 2 and x.ndim >= 1 and (
            bias is None or (bias.ndim == 1 and bias.dtype == x.dtype)):
        return F.linear(x, kernel.T, bias)
    out = torch.matmul(x, kernel)
    return out if bias is None else ops.add(out, bias)
