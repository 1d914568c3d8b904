"""torch backend: nn ops (activations, convolution, pooling, normalisation, losses, attention)."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from kbridge.backend.common import config
from kbridge.backend.common.dtypes import floatx, result_type
from kbridge.backend.torch import numpy as backend_numpy
from kbridge.backend.torch.core import convert_to_tensor, promote, to_torch_dtype
from kbridge.backend.common.arguments import check_padding, int_tuple
from kbridge.errors import ArgumentError, ShapeError




_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _float(x):
    x = convert_to_tensor(x)
    if x.is_floating_point() or x.is_complex():
        return x
    return x.to(to_torch_dtype(floatx()))


_tuple = int_tuple
_check_padding = check_padding


def _dims(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _same_pads(size, k, stride, dilation):
    k_eff = (k - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


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


def sparse_sigmoid(x):
    x = _float(x)
    return torch.clamp(0.5 * (x + 1), 0, 1)


def tanh_shrink(x):
    return F.tanhshrink(_float(x))


def softplus(x):
    x = _float(x)
    return torch.logaddexp(x, torch.zeros((), dtype=x.dtype, device=x.device))


def softsign(x):
    return F.softsign(_float(x))


def soft_shrink(x, threshold=0.5):
    x = _float(x)
    return torch.where(x > threshold, x - threshold,
                       torch.where(x < -threshold, x + threshold, torch.zeros_like(x)))


def sparse_plus(x):
    x = _float(x)
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x < 1, 0.25 * (x + 1) ** 2, x))


def silu(x):
    return F.silu(_float(x))


swish = silu


def squareplus(x, b=4):
    x = _float(x)
    return (x + torch.sqrt(x * x + b)) / 2


def log_sigmoid(x):
    return F.logsigmoid(_float(x))


def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(_float(x), negative_slope)


def hard_sigmoid(x):
    x = _float(x)
    return torch.clamp(x / 6 + 0.5, 0, 1)


def hard_silu(x):
    x = _float(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def elu(x, alpha=1.0):
    x = _float(x)
    return torch.where(x > 0, x, alpha * torch.expm1(torch.clamp(x, max=0)))


def selu(x):
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def gelu(x, approximate=True):
    return F.gelu(_float(x), approximate="tanh" if approximate else "none")


def celu(x, alpha=1.0):
    x = _float(x)
    return torch.clamp(x, min=0) + alpha * torch.expm1(torch.clamp(x, max=0) / alpha)


def glu(x, axis=-1):
    x = _float(x)
    if x.shape[axis] % 2:
        raise ShapeError(
            f"glu needs an even size along `axis`. Received: x.shape={tuple(x.shape)}, "
            f"axis={axis}"
        )
    return F.glu(x, dim=axis)


def hard_tanh(x):
    return torch.clamp(_float(x), -1, 1)


def hard_shrink(x, threshold=0.5):
    x = _float(x)
    return torch.where(torch.abs(x) > threshold, x, torch.zeros_like(x))


def threshold(x, threshold, default_value):
    x = convert_to_tensor(x)
    return torch.where(x > threshold, x, torch.tensor(default_value, dtype=x.dtype,
                                                      device=x.device))


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


def sparsemax(x, axis=-1):
    x = _float(x)
    z = torch.movedim(x, axis, -1)
    srt = torch.sort(z, dim=-1, descending=True).values
    cums = torch.cumsum(srt, dim=-1)
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
    support = 1 + k * srt > cums
    k_z = torch.sum(support, dim=-1, keepdim=True)
    tau = (torch.gather(cums, -1, k_z - 1) - 1) / k_z.to(z.dtype)
    return torch.movedim(torch.clamp(z - tau, min=0), -1, axis)


# ----------------------------------------------------------------------------- convolution

def _prepare(inputs, kernel, strides, dilation_rate, data_format):
    data_format = config.standardize_data_format(data_format)
    inputs, kernel = convert_to_tensor(inputs), convert_to_tensor(kernel)
    dt = to_torch_dtype(result_type(inputs.dtype, kernel.dtype))
    nd = inputs.ndim - 2
    if nd not in _CONV or kernel.ndim != nd + 2:
        raise ShapeError(
            f"conv expects inputs of rank 3-5 and a kernel of the same rank. Received: "
            f"inputs.shape={tuple(inputs.shape)}, kernel.shape={tuple(kernel.shape)}"
        )
    x = _to_channels_first(inputs.to(dt), data_format)
    return (x, kernel.to(dt), _tuple(strides, nd, "strides"),
            _tuple(dilation_rate, nd, "dilation_rate"), data_format, nd)


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
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    channels = x.shape[1]
    if channels % kernel.shape[-2]:
        raise ShapeError(
            "The number of input channels must be a multiple of the kernel's in_channels. "
            f"Received: input channels {channels}, kernel.shape={tuple(kernel.shape)}."
        )
    weight = torch.permute(kernel, (nd + 1, nd) + tuple(range(nd)))
    y = _conv_cf(x, weight, strides, padding, dilation, channels // kernel.shape[-2], nd)
    return _from_channels_first(y, data_format)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    channels = x.shape[1]
    if kernel.shape[-2] != channels:
        raise ShapeError(
            f"depthwise_conv needs kernel.shape[-2] == input channels. Received: "
            f"kernel.shape={tuple(kernel.shape)}, input channels={channels}"
        )
    kernel = kernel.reshape(tuple(kernel.shape[:nd]) + (1, channels * kernel.shape[-1]))
    weight = torch.permute(kernel, (nd + 1, nd) + tuple(range(nd)))
    y = _conv_cf(x, weight, strides, padding, dilation, channels, nd)
    return _from_channels_first(y, data_format)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, 1)


def _conv_transpose_pads(size_k, stride, dilation, padding, output_padding):
    k = (size_k - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    total = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, k - 1)
    return left, total - left


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    if kernel.shape[-1] != x.shape[1]:
        raise ShapeError(
            "conv_transpose needs kernel.shape[-1] (in_channels) == input channels. Received: "
            f"kernel.shape={tuple(kernel.shape)}, input channels={x.shape[1]}"
        )
    out_pad = (None,) * nd if output_padding is None else _tuple(output_padding, nd,
                                                                  "output_padding")
    # torch's transposed conv without padding gives the "full" output; Keras's padding rule
    # then crops (k_eff - 1 - left) on the left and pads or crops the right.
    weight = torch.permute(kernel, (nd + 1, nd) + tuple(range(nd)))
    y = _CONV_T[nd](x, weight, None, strides, 0, 0, 1, dilation)
    index, extra = [slice(None), slice(None)], []
    for i, (k, s, d, op) in enumerate(zip(kernel.shape[:nd], strides, dilation, out_pad)):
        left, right = _conv_transpose_pads(k, s, d, padding, op)
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
    padding = _check_padding(padding)
    data_format = config.standardize_data_format(data_format)
    inputs = convert_to_tensor(inputs)
    nd = inputs.ndim - 2
    pool_size = _tuple(pool_size, nd, "pool_size")
    strides = pool_size if strides is None else _tuple(strides, nd, "strides")
    x = _to_channels_first(inputs, data_format)
    pads = None
    if padding == "same":
        pads = [_same_pads(n, k, s, 1) for n, k, s in zip(x.shape[2:], pool_size, strides)]
        if all(p == (0, 0) for p in pads):
            pads = None
    return x, pool_size, strides, pads, data_format, nd


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


def _adaptive_pool(x, output_size, data_format, reduce):
    data_format = config.standardize_data_format(data_format)
    nd = x.ndim - 2
    output_size = _tuple(output_size, nd, "output_size")
    first = 1 if data_format == "channels_last" else 2
    for i, out in enumerate(output_size):
        axis = first + i
        n = x.shape[axis]
        parts = [reduce(torch.narrow(x, axis, (j * n) // out,
                                     -(-((j + 1) * n) // out) - (j * n) // out), axis)
                 for j in range(out)]
        x = torch.cat(parts, dim=axis)
    return x


def adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(_float(inputs), output_size, data_format,
                          lambda t, a: torch.mean(t, dim=a, keepdim=True))


def adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(convert_to_tensor(inputs), output_size, data_format,
                          lambda t, a: torch.amax(t, dim=a, keepdim=True))


# ----------------------------------------------------------------------------- encodings

def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ArgumentError("`sparse=True` is not supported by the torch backend's one_hot.")
    x = convert_to_tensor(x)
    classes = torch.arange(num_classes, device=x.device)
    out = (x.unsqueeze(-1) == classes).to(to_torch_dtype(dtype or floatx()))
    return out if axis == -1 else torch.movedim(out, -1, axis)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if num_classes is None:
        raise ArgumentError("multi_hot needs `num_classes`. Received: num_classes=None")
    inputs = convert_to_tensor(inputs)
    hot = one_hot(inputs.to(torch.int32), num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return torch.amax(hot, dim=1 if inputs.ndim > 1 else 0)


# ----------------------------------------------------------------------------- losses

def _check_same_shape(target, output):
    if target.shape != output.shape:
        raise ShapeError(
            "`target` and `output` must have the same shape. Received: "
            f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )


def _clip_prob(p):
    eps = config.epsilon()
    return torch.clamp(p, eps, 1 - eps)


def binary_crossentropy(target, output, from_logits=False):
    target, output = convert_to_tensor(target), _float(output)
    _check_same_shape(target, output)
    target = target.to(output.dtype)
    if from_logits:
        output = torch.sigmoid(output)
    output = _clip_prob(output)
    return -(target * torch.log(output) + (1 - target) * torch.log(1 - output))


def _log_prob(output, from_logits, axis):
    if from_logits:
        return torch.log_softmax(output, dim=axis)
    output = output / torch.sum(output, dim=axis, keepdim=True)
    return torch.log(_clip_prob(output))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = convert_to_tensor(target), _float(output)
    _check_same_shape(target, output)
    if output.ndim < 1:
        raise ShapeError(f"`output` must be at least rank 1. Received: shape={output.shape}")
    return -torch.sum(target.to(output.dtype) * _log_prob(output, from_logits, axis), dim=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = convert_to_tensor(target).to(torch.int64), _float(output)
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = target.squeeze(-1)
    if output.ndim < 1 or target.shape != output.shape[:-1]:
        raise ShapeError(
            "`target` must have the shape of `output` without its last axis. Received: "
            f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )
    hot = one_hot(target, output.shape[axis], axis=axis, dtype=output.dtype)
    return -torch.sum(hot * _log_prob(output, from_logits, axis), dim=axis)


# ----------------------------------------------------------------------------- normalisation

def moments(x, axes, keepdims=False, synchronized=False):
    x = _float(x)
    dtype = x.dtype
    low = dtype in (torch.float16, torch.bfloat16)
    if low:
        x = x.to(torch.float32)
    dims = _dims(axes)
    mean = torch.mean(x, dim=dims, keepdim=True)
    variance = torch.mean(torch.square(x), dim=dims, keepdim=True) - torch.square(mean)
    if not keepdims:
        dims = dims if isinstance(dims, tuple) else (dims,)
        mean, variance = mean.squeeze(dims), variance.squeeze(dims)
    if low:
        if dtype == torch.float16:
            info = torch.finfo(torch.float16)
            mean = torch.clamp(mean, info.min, info.max)
            variance = torch.clamp(variance, info.min, info.max)
        mean, variance = mean.to(dtype), variance.to(dtype)
    return mean, variance


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=0.001):
    x = _float(x)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def _b(v):
        return torch.reshape(convert_to_tensor(v).to(x.dtype), shape)

    inv = torch.rsqrt(_b(variance) + epsilon)
    if scale is not None:
        inv = inv * _b(scale)
    res = -_b(mean) * inv
    if offset is not None:
        res = res + _b(offset)
    return x * inv + res


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise ArgumentError(f"Unknown arguments to layer_normalization: {sorted(kwargs)}")
    x = _float(x)
    original = x.dtype
    x = x.to(to_torch_dtype(result_type(x.dtype, "float32")))
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = sorted(a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis))
    bshape = [1] * x.ndim
    for a in axes:
        bshape[a] = x.shape[a]

    def _b(v):
        return None if v is None else torch.reshape(convert_to_tensor(v).to(x.dtype), bshape)

    axes = tuple(axes)
    if not rms_scaling and axes == tuple(range(x.ndim - len(axes), x.ndim)):
        # Trailing axes: torch's fused kernel (as Keras uses on torch).
        def flat(v):
            return None if v is None else torch.reshape(convert_to_tensor(v).to(x.dtype),
                                                        x.shape[x.ndim - len(axes):])

        return F.layer_norm(x, x.shape[x.ndim - len(axes):], flat(gamma), flat(beta),
                            epsilon).to(original)
    gamma, beta = _b(gamma), _b(beta)
    if rms_scaling:
        out = x * torch.rsqrt(torch.var(x, dim=axes, keepdim=True, correction=0) + epsilon)
        if gamma is not None:
            out = out * gamma
    else:
        mean = torch.mean(x, dim=axes, keepdim=True)
        var = torch.mean(torch.square(x), dim=axes, keepdim=True) - torch.square(mean)
        inv = torch.rsqrt(var + epsilon)
        if gamma is not None:
            inv = inv * gamma
        res = -mean * inv
        if beta is not None:
            res = res + beta
        out = x * inv + res
    return out.to(original)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    x = _float(x)
    original = x.dtype
    x = x.to(to_torch_dtype(result_type(x.dtype, "float32")))
    epsilon = config.epsilon() if epsilon is None else epsilon
    out = x * torch.rsqrt(torch.mean(torch.square(x), dim=_dims(axis), keepdim=True) + epsilon)
    if scale is not None:
        out = out * convert_to_tensor(scale).to(x.dtype)
    return out.to(original)


def normalize(x, axis=-1, order=2, epsilon=None):
    if not isinstance(order, int) or order < 1:
        raise ArgumentError(f"`order` must be an int >= 1. Received: order={order!r}")
    x = _float(x)
    if x.ndim == 0:
        x = x[None]
    epsilon = config.epsilon() if epsilon is None else epsilon
    dims = _dims(axis)
    if order == 2:
        sq = torch.sum(torch.square(x), dim=dims, keepdim=True)
        return x * torch.clamp(torch.rsqrt(sq), max=1 / epsilon)
    norm = torch.sum(torch.abs(x) ** order, dim=dims, keepdim=True) ** (1 / order)
    return x / torch.clamp(norm, min=epsilon)


# ----------------------------------------------------------------------------- misc

def psnr(x1, x2, max_val):
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    if x1.shape != x2.shape:
        raise ShapeError(
            f"psnr needs inputs of one shape. Received: {tuple(x1.shape)} and {tuple(x2.shape)}")
    d1 = x1.dtype if x1.is_floating_point() else "float32"
    dt = to_torch_dtype(result_type(x1.dtype, x2.dtype, d1))
    x1, x2 = x1.to(dt), x2.to(dt)
    mse = torch.mean(torch.square(x1 - x2))
    return 20 * torch.log10(torch.tensor(max_val, dtype=dt, device=x1.device)) - 10 * torch.log10(
        mse)


def polar(abs_, angle):
    abs_, angle = _float(abs_), _float(angle)
    dt = to_torch_dtype(result_type(abs_.dtype, angle.dtype))
    return torch.polar(abs_.to(dt), angle.to(dt))


def depth_to_space(x, block_size, data_format="channels_last"):
    x = convert_to_tensor(x)
    b = block_size
    if data_format == "channels_last":
        n, h, w, c = x.shape
        x = x.reshape(n, h, w, b, b, c // (b * b)).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(n, h * b, w * b, c // (b * b))
    return F.pixel_shuffle(x, b)


def space_to_depth(x, block_size, data_format="channels_last"):
    x = convert_to_tensor(x)
    b = block_size
    if data_format == "channels_last":
        n, h, w, c = x.shape
        x = x.reshape(n, h // b, b, w // b, b, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(n, h // b, w // b, c * b * b)
    return F.pixel_unshuffle(x, b)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    return F.unfold(convert_to_tensor(x), kernel_size, dilation, padding, stride)


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    return F.fold(convert_to_tensor(x), output_size, kernel_size, dilation, padding, stride)


# ----------------------------------------------------------------------------- attention

# Added to the logits of masked positions (not -inf): a fully masked row then attends
# uniformly, as Keras's attention does, instead of producing NaN.
_MASKED_LOGIT = -0.7 * 3.38953e38


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    if flash_attention:
        raise ArgumentError("flash_attention=True is not supported by kbridge's torch backend.")
    query, key, value = (convert_to_tensor(t) for t in (query, key, value))
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ShapeError(
            "dot_product_attention expects 4D query/key/value [B, T, N, H]. Received: "
            f"query.shape={tuple(query.shape)}, key.shape={tuple(key.shape)}, "
            f"value.shape={tuple(value.shape)}"
        )
    dt = to_torch_dtype(result_type(query.dtype, key.dtype, value.dtype))
    heads, kv_heads = query.shape[2], key.shape[2]
    if heads != kv_heads:
        if heads % kv_heads:
            raise ShapeError(
                f"The number of query heads ({heads}) must be a multiple of the number of "
                f"key/value heads ({kv_heads})."
            )
        key = torch.repeat_interleave(key, heads // kv_heads, dim=2)
        value = torch.repeat_interleave(value, heads // kv_heads, dim=2)
    scale = 1 / math.sqrt(key.shape[-1]) if scale is None else scale
    if dt in (torch.float32, torch.float64) and attn_logits_soft_cap is None:
        return _fused_attention(query.to(dt), key.to(dt), value.to(dt), bias, mask, scale,
                                is_causal)
    logit_dt = torch.float64 if dt == torch.float64 else torch.float32
    logits = torch.einsum("btnh,bsnh->bnts", query.to(logit_dt), key.to(logit_dt)) * scale
    if attn_logits_soft_cap is not None:
        logits = torch.tanh(logits / attn_logits_soft_cap) * attn_logits_soft_cap
    if bias is not None:
        logits = logits + convert_to_tensor(bias).to(logit_dt)
    if mask is not None or is_causal:
        keep = torch.ones(logits.shape, dtype=torch.bool, device=logits.device)
        if mask is not None:
            keep = keep & convert_to_tensor(mask).to(torch.bool)
        if is_causal:
            t, s = logits.shape[2], logits.shape[3]
            keep = keep & torch.ones((t, s), dtype=torch.bool, device=logits.device).tril()
        logits = torch.where(keep, logits, torch.tensor(_MASKED_LOGIT, dtype=logit_dt,
                                                        device=logits.device))
    probs = torch.softmax(logits, dim=-1)
    return torch.einsum("bnts,bsnh->btnh", probs, value.to(logit_dt)).to(dt)


def _fused_attention(query, key, value, bias, mask, scale, is_causal):
    """``F.scaled_dot_product_attention`` on [B, T, N, H] tensors (it takes [B, N, T, H]);
    mask, causal mask and bias folded into one additive float mask."""
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


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    inputs = _float(inputs)
    inputs = inputs.to(to_torch_dtype(result_type(inputs.dtype, "float32")))
    lengths = convert_to_tensor(sequence_lengths).to(torch.int64)
    batch, max_t, num_classes = inputs.shape
    if mask_index is None:
        mask_index = num_classes - 1
    if strategy == "beam_search":
        # Prefix beam search is data-dependent control flow: run the reference on host.
        from kbridge.backend.numpy.nn import _ctc_beam_search

        paths, scores = _ctc_beam_search(inputs.detach().cpu().numpy(),
                                         lengths.cpu().numpy(), beam_width, top_paths,
                                         mask_index)
        return (torch.from_numpy(paths).to(inputs.device),
                torch.from_numpy(np.ascontiguousarray(scores)).to(inputs.device))
    if strategy != "greedy":
        raise ArgumentError(
            f"`strategy` must be 'greedy' or 'beam_search'. Received: strategy={strategy!r}")
    scores = torch.amax(inputs, dim=-1)
    idx = torch.argmax(inputs, dim=-1).to(torch.int32)
    steps = torch.arange(max_t, device=inputs.device)[None, :]
    pad = steps >= lengths[:, None]
    idx = torch.where(pad, mask_index, idx)
    scores = torch.where(pad, torch.zeros_like(scores), scores)
    if merge_repeated:
        rep = torch.cat([torch.zeros((batch, 1), dtype=torch.bool, device=idx.device),
                         idx[:, 1:] == idx[:, :-1]], 1)
        idx = torch.where(rep, mask_index, idx)
    blank = idx == mask_index
    order = torch.argsort(torch.where(blank, max_t, steps), dim=-1, stable=True)
    idx = torch.gather(torch.where(blank, -1, idx), -1, order)
    return idx[None], -torch.sum(scores, dim=1, keepdim=True)


def linear(x, kernel, bias=None):
    """Dense's ``x @ kernel + bias`` as one ``F.linear`` (addmm) when the dtypes agree."""
    if x.dtype != kernel.dtype:
        x, kernel = promote(x, kernel)
    if kernel.ndim == 2 and x.ndim >= 1 and (
            bias is None or (bias.ndim == 1 and bias.dtype == x.dtype)):
        return F.linear(x, kernel.T, bias)
    out = torch.matmul(x, kernel)
    return out if bias is None else backend_numpy.add(out, bias)
