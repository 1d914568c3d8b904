"""The nn ops composed of other ops, written once for every backend.

Activations, normalisation, encodings, losses, attention's reference path, CTC decoding and
the padding arithmetic of convolutions, over ``ops`` and tensor operators. A backend overrides
an op here only where its framework has a fused kernel.

Bindings: ``convert_to_tensor`` (the backend's), ``_float`` (the input as a tensor, integer
and bool inputs as floatx) and ``einsum`` (the framework's own einsum, at full precision). The includer defines its
kernels ``sigmoid``, ``softmax`` and ``log_softmax``, and either its convolutions
(``conv``, ``depthwise_conv``, ``conv_transpose``) or the channels-last kernels that those
here run (see below); the ops here call them.
"""

import math

import numpy as np

from kbridge.backend.common import config
from kbridge.backend.common.arguments import check_padding as _check_padding
from kbridge.backend.common.arguments import int_tuple as _tuple
from kbridge.backend.common.dtypes import floatx, result_type, standardize_dtype
from kbridge.backend.common.shared import bound
from kbridge.errors import ArgumentError, ShapeError

convert_to_tensor = bound("convert_to_tensor")
_float = bound("_float")
einsum = bound("einsum")

_BACKEND = __name__.split(".")[2]
_FLOATS = frozenset(("float16", "bfloat16", "float32", "float64"))
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
# Added to the logits of masked positions (not -inf): a fully masked row then attends
# uniformly, as Keras's attention does, instead of producing NaN.
_MASKED_LOGIT = -0.7 * 3.38953e38


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _shape(x):
    return tuple(x.shape)


# ----------------------------------------------------------------------------- activations

def sparse_sigmoid(x):
    return ops.clip(0.5 * (_float(x) + 1), 0, 1)


def tanh_shrink(x):
    x = _float(x)
    return x - ops.tanh(x)


def softplus(x):
    return ops.logaddexp(_float(x), 0)


def softsign(x):
    x = _float(x)
    return x / (1 + ops.abs(x))


def soft_shrink(x, threshold=0.5):
    x = _float(x)
    return ops.where(x > threshold, x - threshold, ops.where(x < -threshold, x + threshold, 0))


def sparse_plus(x):
    x = _float(x)
    return ops.where(x <= -1, 0, ops.where(x < 1, 0.25 * (x + 1) ** 2, x))


def silu(x):
    x = _float(x)
    return x * sigmoid(x)


swish = silu


def squareplus(x, b=4):
    x = _float(x)
    return (x + ops.sqrt(x * x + b)) / 2


def log_sigmoid(x):
    return -softplus(-_float(x))


def leaky_relu(x, negative_slope=0.2):
    x = _float(x)
    return ops.where(x >= 0, x, x * negative_slope)


def hard_sigmoid(x):
    return ops.clip(_float(x) / 6 + 0.5, 0, 1)


def hard_silu(x):
    x = _float(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def elu(x, alpha=1.0):
    x = _float(x)
    return ops.where(x > 0, x, alpha * ops.expm1(ops.minimum(x, 0)))


def selu(x):
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def gelu(x, approximate=True):
    x = _float(x)
    if approximate:
        return 0.5 * x * (1 + ops.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + ops.erf(x / math.sqrt(2)))


def celu(x, alpha=1.0):
    x = _float(x)
    return ops.maximum(x, 0) + alpha * ops.expm1(ops.minimum(x, 0) / alpha)


def glu(x, axis=-1):
    x = _float(x)
    if x.shape[axis] % 2:
        raise ShapeError(
            f"glu needs an even size along `axis`. Received: x.shape={_shape(x)}, axis={axis}"
        )
    a, b = ops.split(x, 2, axis=axis)
    return a * sigmoid(b)


def hard_tanh(x):
    return ops.clip(_float(x), -1, 1)


def hard_shrink(x, threshold=0.5):
    x = _float(x)
    return ops.where(ops.abs(x) > threshold, x, 0)


def threshold(x, threshold, default_value):
    x = convert_to_tensor(x)
    return ops.where(ops.greater(x, threshold), x, ops.cast(default_value, x.dtype))


def sparsemax(x, axis=-1):
    z = ops.moveaxis(_float(x), axis, -1)
    srt = -ops.sort(-z, axis=-1)
    cums = ops.cumsum(srt, axis=-1)
    k = ops.arange(1, z.shape[-1] + 1, dtype=standardize_dtype(z.dtype))
    k_z = ops.sum(ops.cast(1 + k * srt > cums, "int32"), axis=-1, keepdims=True)
    tau = (ops.take_along_axis(cums, k_z - 1, axis=-1) - 1) / ops.cast(k_z, z.dtype)
    return ops.moveaxis(ops.maximum(z - tau, 0), -1, axis)


# ----------------------------------------------------------------------------- convolution

def _same_pads(size, k, stride, dilation):
    """TF/Keras 'same' padding: (left, right) for one spatial dim."""
    k_eff = (k - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def _conv_args(inputs, kernel, strides, dilation_rate, data_format):
    """A convolution's checked arguments, ``inputs`` and ``kernel`` cast to their common dtype:
    (inputs, kernel, strides, dilation, data_format, number of spatial dims)."""
    data_format = config.standardize_data_format(data_format)
    inputs, kernel = convert_to_tensor(inputs), convert_to_tensor(kernel)
    nd = len(inputs.shape) - 2
    if nd not in (1, 2, 3) or len(kernel.shape) != nd + 2:
        raise ShapeError(
            f"conv expects inputs of rank 3-5 and a kernel of the same rank. Received: "
            f"inputs.shape={_shape(inputs)}, kernel.shape={_shape(kernel)}"
        )
    dt = result_type(inputs.dtype, kernel.dtype)
    return (ops.cast(inputs, dt), ops.cast(kernel, dt), _tuple(strides, nd, "strides"),
            _tuple(dilation_rate, nd, "dilation_rate"), data_format, nd)


def _groups(channels, kernel):
    """The number of groups of a conv of ``channels`` input channels by ``kernel``
    (*K, in_channels / groups, out_channels)."""
    if channels % kernel.shape[-2]:
        raise ShapeError(
            "The number of input channels must be a multiple of the kernel's in_channels. "
            f"Received: input channels {channels}, kernel.shape={_shape(kernel)}."
        )
    return channels // kernel.shape[-2]


def _check_depthwise(kernel, channels):
    """Raise unless the depthwise ``kernel`` (*K, C, M) is for ``channels`` input channels."""
    if kernel.shape[-2] != channels:
        raise ShapeError(
            f"depthwise_conv needs kernel.shape[-2] == input channels. Received: "
            f"kernel.shape={_shape(kernel)}, input channels={channels}"
        )


def _resolve_pads(padding, spatial, kernel, strides, dilation):
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    return [_same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilation)]


def _conv_transpose_pads(size_k, stride, dilation, padding, output_padding):
    """(left, right) padding of the stride-dilated input (Keras's rule, as in lax)."""
    k = (size_k - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    total = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, k - 1)
    return left, total - left


def _transpose_pads(kernel, channels, strides, dilation, padding, output_padding):
    """Per spatial dim, :func:`_conv_transpose_pads` of a ``conv_transpose`` whose input has
    ``channels`` channels (checked against ``kernel``)."""
    nd = len(strides)
    if kernel.shape[-1] != channels:
        raise ShapeError(
            "conv_transpose needs kernel.shape[-1] (in_channels) == input channels. Received: "
            f"kernel.shape={tuple(kernel.shape)}, input channels={channels}"
        )
    out_pad = (None,) * nd if output_padding is None else _tuple(output_padding, nd,
                                                                  "output_padding")
    return [_conv_transpose_pads(k, s, d, padding, op)
            for k, s, d, op in zip(kernel.shape[:nd], strides, dilation, out_pad)]


def _correlate_padded(conv_channels_last, x, kernel, pads, dilation):
    """Stride-1 ``conv_channels_last`` of ``x`` with ``pads``; a negative right padding
    (possible with a small output_padding) crops instead."""
    crops = [min(right, 0) for _, right in pads]
    pads = [(left, max(right, 0)) for left, right in pads]
    y = conv_channels_last(x, kernel, (1,) * len(pads), pads, dilation)
    if any(crops):
        y = y[(slice(None),) + tuple(slice(0, c if c else None) for c in crops)]
    return y


# The channels-last backends (numpy, tensorflow) define ``_conv_cl(x, kernel, strides, pads,
# dilation)``, a grouped convolution of channels-last ``x`` with explicit (left, right) pads,
# and ``_dilate_cl(x, strides)``, ``x`` with ``stride - 1`` zeros between spatial elements.

def _to_channels_last(x, data_format):
    return ops.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def _from_channels_last(x, data_format):
    return ops.moveaxis(x, -1, 1) if data_format == "channels_first" else x


def _prepare_channels_last(inputs, kernel, strides, dilation_rate, data_format):
    """:func:`_conv_args`, the inputs moved to channels-last."""
    x, kernel, strides, dilation, data_format, nd = _conv_args(
        inputs, kernel, strides, dilation_rate, data_format)
    return _to_channels_last(x, data_format), kernel, strides, dilation, data_format, nd


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare_channels_last(
        inputs, kernel, strides, dilation_rate, data_format)
    pads = _resolve_pads(padding, x.shape[1:-1], kernel.shape[:nd], strides, dilation)
    return _from_channels_last(_conv_cl(x, kernel, strides, pads, dilation), data_format)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare_channels_last(
        inputs, kernel, strides, dilation_rate, data_format)
    _check_depthwise(kernel, x.shape[-1])
    pads = _resolve_pads(padding, x.shape[1:-1], kernel.shape[:nd], strides, dilation)
    return _from_channels_last(_depthwise_cl(x, kernel, strides, pads, dilation), data_format)


def _depthwise_cl(x, kernel, strides, pads, dilation):
    """Depthwise conv of channels-last ``x`` by ``kernel`` (*K, C, M), as the grouped conv by
    (*K, 1, C*M) with one input channel per group."""
    k = _shape(kernel)
    kernel = ops.reshape(kernel, k[:-2] + (1, k[-2] * k[-1]))
    return _conv_cl(x, kernel, strides, pads, dilation)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare_channels_last(
        inputs, kernel, strides, dilation_rate, data_format)
    pads = _transpose_pads(kernel, x.shape[-1], strides, dilation, padding, output_padding)
    # Zeros between the input elements, then a correlation with the flipped kernel.
    flipped = ops.swapaxes(ops.flip(kernel, axis=tuple(range(nd))), -1, -2)
    y = _correlate_padded(_conv_cl, _dilate_cl(x, strides), flipped, pads, dilation)
    return _from_channels_last(y, data_format)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, 1)


# ----------------------------------------------------------------------------- pooling

def _pooling_args(inputs, pool_size, strides, padding, data_format):
    """A pooling op's checked arguments: (inputs, pool_size, strides, padding, data_format)."""
    padding = _check_padding(padding)
    data_format = config.standardize_data_format(data_format)
    inputs = convert_to_tensor(inputs)
    nd = len(inputs.shape) - 2
    pool_size = _tuple(pool_size, nd, "pool_size")
    strides = pool_size if strides is None else _tuple(strides, nd, "strides")
    return inputs, pool_size, strides, padding, data_format


def _adaptive_pool(x, output_size, data_format, reduce):
    data_format = config.standardize_data_format(data_format)
    nd = len(x.shape) - 2
    output_size = _tuple(output_size, nd, "output_size")
    first = 1 if data_format == "channels_last" else 2
    # Pooling windows are products of intervals, so reduce one spatial axis at a time.
    for axis, out in enumerate(output_size, first):
        n = x.shape[axis]
        index = [slice(None)] * len(x.shape)
        parts = []
        for j in range(out):
            index[axis] = slice((j * n) // out, -(-((j + 1) * n) // out))
            parts.append(reduce(x[tuple(index)], axis=axis, keepdims=True))
        x = ops.concatenate(parts, axis=axis)
    return x


def adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(_float(inputs), output_size, data_format, ops.mean)


def adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(convert_to_tensor(inputs), output_size, data_format, ops.max)


# ----------------------------------------------------------------------------- encodings

def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ArgumentError(f"`sparse=True` is not supported by the {_BACKEND} backend's one_hot.")
    x = convert_to_tensor(x)
    out = ops.cast(ops.expand_dims(x, -1) == ops.arange(num_classes), dtype or floatx())
    return out if axis == -1 else ops.moveaxis(out, -1, axis)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if num_classes is None:
        raise ArgumentError("multi_hot needs `num_classes`. Received: num_classes=None")
    inputs = convert_to_tensor(inputs)
    hot = one_hot(ops.cast(inputs, "int32"), num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return ops.max(hot, axis=1 if len(inputs.shape) > 1 else 0)


# ----------------------------------------------------------------------------- losses

def _check_same_shape(target, output):
    if _shape(target) != _shape(output):
        raise ShapeError(
            "`target` and `output` must have the same shape. Received: "
            f"target.shape={_shape(target)}, output.shape={_shape(output)}"
        )


def _clip_prob(p):
    eps = config.epsilon()
    return ops.clip(p, eps, 1 - eps)


def _log_prob(output, from_logits, axis):
    if from_logits:
        return log_softmax(output, axis=axis)
    return ops.log(_clip_prob(output / ops.sum(output, axis=axis, keepdims=True)))


def binary_crossentropy(target, output, from_logits=False):
    target, output = convert_to_tensor(target), _float(output)
    _check_same_shape(target, output)
    target = ops.cast(target, output.dtype)
    output = _clip_prob(sigmoid(output) if from_logits else output)
    return -(target * ops.log(output) + (1 - target) * ops.log(1 - output))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = convert_to_tensor(target), _float(output)
    _check_same_shape(target, output)
    if len(output.shape) < 1:
        raise ShapeError(f"`output` must be at least rank 1. Received: shape={_shape(output)}")
    return -ops.sum(ops.cast(target, output.dtype) * _log_prob(output, from_logits, axis),
                    axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = ops.cast(target, "int32"), _float(output)
    if len(target.shape) == len(output.shape) and target.shape[-1] == 1:
        target = ops.squeeze(target, axis=-1)
    if len(output.shape) < 1 or _shape(target) != _shape(output)[:-1]:
        raise ShapeError(
            "`target` must have the shape of `output` without its last axis. Received: "
            f"target.shape={_shape(target)}, output.shape={_shape(output)}"
        )
    hot = one_hot(target, output.shape[axis], axis=axis, dtype=standardize_dtype(output.dtype))
    return -ops.sum(hot * _log_prob(output, from_logits, axis), axis=axis)


# ----------------------------------------------------------------------------- normalisation

def moments(x, axes, keepdims=False, synchronized=False):
    x = _float(x)
    dtype = standardize_dtype(x.dtype)
    low = dtype in ("float16", "bfloat16")
    if low:
        x = ops.cast(x, "float32")  # too little range for the statistics
    axes = _axes(axes)
    mean = ops.mean(x, axis=axes, keepdims=True)
    variance = ops.mean(ops.square(x), axis=axes, keepdims=True) - ops.square(mean)
    if not keepdims:
        mean, variance = ops.squeeze(mean, axes), ops.squeeze(variance, axes)
    if low:
        if dtype == "float16":
            big = float(np.finfo(np.float16).max)
            mean, variance = ops.clip(mean, -big, big), ops.clip(variance, -big, big)
        mean, variance = ops.cast(mean, dtype), ops.cast(variance, dtype)
    return mean, variance


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=0.001):
    x = _float(x)
    shape = [1] * len(x.shape)
    shape[axis] = x.shape[axis]

    def _b(v):
        return ops.reshape(ops.cast(v, x.dtype), shape)

    inv = ops.rsqrt(_b(variance) + epsilon)
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
    x = ops.cast(x, result_type(x.dtype, "float32"))
    epsilon = config.epsilon() if epsilon is None else epsilon
    ndim = len(x.shape)
    axes = tuple(sorted(a % ndim for a in ((axis,) if isinstance(axis, int) else axis)))
    return ops.cast(_layer_norm(x, gamma, beta, axes, epsilon, rms_scaling), original)


def _layer_norm(x, gamma, beta, axes, epsilon, rms_scaling):
    """layer_normalization of ``x`` (float32 or wider) over the sorted ``axes``."""
    shape = [n if a in axes else 1 for a, n in enumerate(x.shape)]

    def _b(v):
        return None if v is None else ops.reshape(ops.cast(v, x.dtype), shape)

    gamma, beta = _b(gamma), _b(beta)
    if rms_scaling:
        out = x * ops.rsqrt(ops.var(x, axis=axes, keepdims=True) + epsilon)
        return out if gamma is None else out * gamma
    mean = ops.mean(x, axis=axes, keepdims=True)
    var = ops.mean(ops.square(x), axis=axes, keepdims=True) - ops.square(mean)
    inv = ops.rsqrt(var + epsilon)
    if gamma is not None:
        inv = inv * gamma
    res = -mean * inv
    if beta is not None:
        res = res + beta
    return x * inv + res


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    x = _float(x)
    original = x.dtype
    x = ops.cast(x, result_type(x.dtype, "float32"))
    epsilon = config.epsilon() if epsilon is None else epsilon
    out = x * ops.rsqrt(ops.mean(ops.square(x), axis=_axes(axis), keepdims=True) + epsilon)
    if scale is not None:
        out = out * ops.cast(scale, x.dtype)
    return ops.cast(out, original)


def normalize(x, axis=-1, order=2, epsilon=None):
    if not isinstance(order, int) or order < 1:
        raise ArgumentError(f"`order` must be an int >= 1. Received: order={order!r}")
    x = _float(x)
    if len(x.shape) == 0:
        x = x[None]
    epsilon = config.epsilon() if epsilon is None else epsilon
    axis = _axes(axis)
    if order == 2:
        sq = ops.sum(ops.square(x), axis=axis, keepdims=True)
        return x * ops.minimum(ops.rsqrt(sq), 1 / epsilon)
    norm = ops.sum(ops.abs(x) ** order, axis=axis, keepdims=True) ** (1 / order)
    return x / ops.maximum(norm, epsilon)


# ----------------------------------------------------------------------------- misc

def psnr(x1, x2, max_val):
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    if _shape(x1) != _shape(x2):
        raise ShapeError(
            f"psnr needs inputs of one shape. Received: {_shape(x1)} and {_shape(x2)}")
    d1 = standardize_dtype(x1.dtype)
    dt = result_type(x1.dtype, x2.dtype, d1 if d1 in _FLOATS else "float32")
    x1, x2 = ops.cast(x1, dt), ops.cast(x2, dt)
    mse = ops.mean(ops.square(x1 - x2))
    return 20 * ops.log10(ops.cast(max_val, dt)) - 10 * ops.log10(mse)


def depth_to_space(x, block_size, data_format="channels_last"):
    return _depth_to_space(convert_to_tensor(x), block_size, data_format)


def _depth_to_space(x, b, data_format):
    if data_format == "channels_last":
        _, h, w, c = x.shape
        x = ops.transpose(ops.reshape(x, (-1, h, w, b, b, c // (b * b))), (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h * b, w * b, c // (b * b)))
    _, c, h, w = x.shape
    x = ops.transpose(ops.reshape(x, (-1, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return ops.reshape(x, (-1, c // (b * b), h * b, w * b))


def space_to_depth(x, block_size, data_format="channels_last"):
    return _space_to_depth(convert_to_tensor(x), block_size, data_format)


def _space_to_depth(x, b, data_format):
    if data_format == "channels_last":
        _, h, w, c = x.shape
        x = ops.transpose(ops.reshape(x, (-1, h // b, b, w // b, b, c)), (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h // b, w // b, c * b * b))
    _, c, h, w = x.shape
    x = ops.transpose(ops.reshape(x, (-1, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4))
    return ops.reshape(x, (-1, c * b * b, h // b, w // b))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    x = convert_to_tensor(x)
    oh, ow = _tuple(output_size, 2, "output_size")
    (kh, kw), (dh, dw) = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    (ph, pw), (sh, sw) = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    n, ckk, _ = ops.shape(x)  # the batch may be a graph tensor
    c = ckk // (kh * kw)
    nh = (oh + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    nw = (ow + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    x = ops.reshape(x, (n, c, kh, kw, nh, nw))
    out = ops.zeros((n, c, oh + 2 * ph, ow + 2 * pw), standardize_dtype(x.dtype))
    for i in range(kh):
        for j in range(kw):
            index = (slice(None), slice(None), slice(i * dh, i * dh + sh * (nh - 1) + 1, sh),
                     slice(j * dw, j * dw + sw * (nw - 1) + 1, sw))
            out = _add_at(out, index, x[:, :, i, j])
    return out[:, :, ph:ph + oh, pw:pw + ow]


def _add_at(out, index, value):
    """``out`` with ``value`` added at ``index``, in place."""
    out[index] += value
    return out


# ----------------------------------------------------------------------------- attention

def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    if flash_attention:
        raise ArgumentError(f"flash_attention=True is not supported by the {_BACKEND} backend.")
    query, key, value = convert_to_tensor(query), convert_to_tensor(key), convert_to_tensor(value)
    if len(query.shape) != 4 or len(key.shape) != 4 or len(value.shape) != 4:
        raise ShapeError(
            "dot_product_attention expects 4D query/key/value [B, T, N, H]. Received: "
            f"query.shape={_shape(query)}, key.shape={_shape(key)}, value.shape={_shape(value)}"
        )
    dt = result_type(query.dtype, key.dtype, value.dtype)
    heads, kv_heads = query.shape[2], key.shape[2]
    if heads != kv_heads:
        if heads % kv_heads:
            raise ShapeError(
                f"The number of query heads ({heads}) must be a multiple of the number of "
                f"key/value heads ({kv_heads})."
            )
        key = ops.repeat(key, heads // kv_heads, axis=2)
        value = ops.repeat(value, heads // kv_heads, axis=2)
    scale = 1 / math.sqrt(key.shape[-1]) if scale is None else scale
    return _attend(query, key, value, bias, mask, scale, is_causal, attn_logits_soft_cap, dt)


def _attend(query, key, value, bias, mask, scale, is_causal, soft_cap, dt):
    """Attention of [B, T, N, H] tensors with as many key as query heads, in float32 or
    float64 logits; the output in ``dt``."""
    logit_dt = "float64" if dt == "float64" else "float32"
    logits = einsum("btnh,bsnh->bnts", ops.cast(query, logit_dt), ops.cast(key, logit_dt))
    logits = logits * scale
    if soft_cap is not None:
        logits = ops.tanh(logits / soft_cap) * soft_cap
    if bias is not None:
        logits = logits + ops.cast(bias, logit_dt)
    keep = None if mask is None else ops.cast(mask, "bool")
    if is_causal:
        causal = ops.tril(ops.ones(_shape(logits)[2:], "bool"))
        keep = causal if keep is None else ops.logical_and(keep, causal)
    if keep is not None:
        logits = ops.where(keep, logits, _MASKED_LOGIT)
    probs = softmax(logits, axis=-1)
    return ops.cast(einsum("bnts,bsnh->btnh", probs, ops.cast(value, logit_dt)), dt)


# ----------------------------------------------------------------------------- CTC

def ctc_loss(target, output, target_length, output_length, mask_index=0):
    target, output = ops.cast(target, "int32"), _float(output)
    dt = result_type(output.dtype, "float32")
    output = ops.cast(output, dt)
    target_length = ops.cast(target_length, "int32")
    output_length = ops.expand_dims(ops.cast(output_length, "int32"), 1)
    batch, max_t, _ = output.shape
    max_l = target.shape[1]
    s_len = 2 * max_l + 1
    neg = -1e30
    # Extended label sequence: blank, l1, blank, l2, ..., blank  (length 2L+1).
    blanks = ops.full((batch, max_l + 1), mask_index, "int32")
    ext = ops.concatenate(
        [ops.reshape(ops.stack([blanks[:, 1:], target], axis=-1), (batch, 2 * max_l)),
         blanks[:, :1]], axis=1)
    # A skip from s-2 to s is allowed for labels that differ from the label two steps back.
    differ = target[:, 1:] != target[:, :-1]
    no = ops.zeros((batch, 2), "bool")
    skip = ops.concatenate(
        [no, ops.reshape(ops.stack([ops.zeros_like(differ), differ], axis=-1),
                         (batch, 2 * max_l - 2)), no[:, :1]], axis=1)
    ext = ops.broadcast_to(ops.expand_dims(ext, 1), (batch, max_t, s_len))
    emit = ops.take_along_axis(log_softmax(output, axis=-1), ext, axis=2)  # (B, T, S)
    first = ops.full((batch, 1), neg, dt)

    def step(alpha, emitted, t):
        prev1 = ops.concatenate([first, alpha[:, :-1]], axis=1)
        prev2 = ops.where(skip, ops.concatenate([first, first, alpha[:, :-2]], axis=1), neg)
        new = ops.logaddexp(ops.logaddexp(alpha, prev1), prev2) + emitted
        return ops.where(t < output_length, new, alpha)

    alpha = ops.concatenate([emit[:, 0, :2], ops.full((batch, s_len - 2), neg, dt)], axis=1)
    alpha = _ctc_scan(step, alpha, emit)
    last = ops.expand_dims(2 * target_length, 1)
    a_last = ops.take_along_axis(alpha, last, axis=1)[:, 0]
    a_prev = ops.take_along_axis(alpha, ops.maximum(last - 1, 0), axis=1)[:, 0]
    return -ops.logaddexp(a_last, ops.where(target_length > 0, a_prev, neg))


def _ctc_scan(step, alpha, emit):
    """``alpha = step(alpha, emit[:, t], t)`` for t = 1 .. T-1."""
    for t in range(1, emit.shape[1]):
        alpha = step(alpha, emit[:, t], t)
    return alpha


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    inputs = _float(inputs)
    inputs = ops.cast(inputs, result_type(inputs.dtype, "float32"))
    lengths = ops.cast(sequence_lengths, "int32")
    batch, max_t, num_classes = inputs.shape
    if mask_index is None:
        mask_index = num_classes - 1
    if strategy == "beam_search":
        # Prefix beam search is data-dependent control flow: run it on the host.
        paths, scores = _ctc_beam_search(ops.convert_to_numpy(inputs),
                                         ops.convert_to_numpy(lengths), beam_width, top_paths,
                                         mask_index)
        return convert_to_tensor(paths), convert_to_tensor(scores)
    if strategy != "greedy":
        raise ArgumentError(
            f"`strategy` must be 'greedy' or 'beam_search'. Received: strategy={strategy!r}")
    idx = ops.cast(ops.argmax(inputs, axis=-1), "int32")
    scores = ops.max(inputs, axis=-1)
    steps = ops.expand_dims(ops.arange(max_t, dtype="int32"), 0)
    pad = steps >= ops.expand_dims(lengths, 1)
    idx = ops.where(pad, mask_index, idx)
    scores = ops.where(pad, 0, scores)
    if merge_repeated:
        repeated = ops.concatenate([ops.zeros((batch, 1), "bool"), idx[:, 1:] == idx[:, :-1]],
                                   axis=1)
        idx = ops.where(repeated, mask_index, idx)
    blank = idx == mask_index
    # Move the labels to the front, keeping their order (their keys are distinct).
    order = ops.argsort(ops.where(blank, max_t, steps), axis=-1)
    idx = ops.take_along_axis(ops.where(blank, -1, idx), order, axis=-1)
    return ops.expand_dims(idx, 0), -ops.sum(scores, axis=1, keepdims=True)


def _ctc_beam_search(inputs, lengths, beam_width, top_paths, mask_index):
    """Prefix beam search over the log-softmax of numpy ``inputs`` (B, T, C)."""
    shifted = inputs - inputs.max(axis=-1, keepdims=True)
    logp = (shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))).astype(np.float64)
    batch, max_t, num_classes = inputs.shape
    paths = np.full((top_paths, batch, max_t), -1, np.int32)
    scores = np.zeros((batch, top_paths), inputs.dtype)
    for b in range(batch):
        # prefix -> (log p ending in blank, log p ending in non-blank)
        beams = {(): (0.0, -np.inf)}
        for t in range(int(lengths[b])):
            nxt = {}

            def add(prefix, pb, pnb):
                ob, onb = nxt.get(prefix, (-np.inf, -np.inf))
                nxt[prefix] = (np.logaddexp(ob, pb), np.logaddexp(onb, pnb))

            for prefix, (pb, pnb) in beams.items():
                total = np.logaddexp(pb, pnb)
                for c in range(num_classes):
                    p = logp[b, t, c]
                    if c == mask_index:
                        add(prefix, total + p, -np.inf)
                        continue
                    new = prefix + (c,)
                    if prefix and prefix[-1] == c:
                        add(new, -np.inf, pb + p)
                        add(prefix, -np.inf, pnb + p)
                    else:
                        add(new, -np.inf, total + p)
            ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))
            beams = dict(ranked[:beam_width])
        ranked = sorted(beams.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:top_paths]
        for i, (prefix, (pb, pnb)) in enumerate(ranked):
            paths[i, b, :len(prefix)] = prefix
            scores[b, i] = np.logaddexp(pb, pnb)
    return paths, scores


def linear(x, kernel, bias=None):
    """Dense's ``x @ kernel + bias``; the backend's compiler fuses it where it can."""
    out = ops.matmul(x, kernel)
    return out if bias is None else ops.add(out, bias)
