"""numpy backend: nn ops (activations, convolution, pooling, normalisation, losses, attention).

This backend is the reference the other backends are tested against, so everything here is
written out in plain numpy (convolution by strided window views + einsum) rather than
borrowed from another framework.
"""

import math

import numpy as np

from kbridge.backend.common import config
from kbridge.backend.common.dtypes import floatx, numpy_dtype, result_type, standardize_dtype
from kbridge.backend.numpy.core import convert_to_tensor
from kbridge.backend.common.arguments import check_padding, int_tuple
from kbridge.errors import ArgumentError, ShapeError

_FLOAT_KINDS = frozenset(("float16", "bfloat16", "float32", "float64"))




_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ----------------------------------------------------------------------------- helpers

def _float(x):
    """``x`` as an array; integer and bool inputs become floatx (float functions)."""
    x = np.asarray(x)
    if x.dtype.kind == "c" or standardize_dtype(x.dtype) in _FLOAT_KINDS:
        return x
    return x.astype(numpy_dtype(floatx()))


def _scalar(value, x):
    return np.asarray(value, dtype=x.dtype)


_tuple = int_tuple
_check_padding = check_padding


def _same_pads(size, k, stride, dilation):
    """TF/Keras 'same' padding: (left, right) for one spatial dim."""
    k_eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def _to_channels_last(x, data_format):
    if data_format == "channels_first":
        return np.moveaxis(x, 1, -1)
    return x


def _from_channels_last(x, data_format):
    if data_format == "channels_first":
        return np.moveaxis(x, -1, 1)
    return x


def _windows(x, kernel, strides, dilation, pads, pad_value=0):
    """Sliding windows of channels-last ``x``: shape (N, *out_spatial, C, *kernel)."""
    nd = len(kernel)
    if any(p != (0, 0) for p in pads):
        x = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)], constant_values=pad_value)
    k_eff = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
    spatial_axes = tuple(range(1, nd + 1))
    for i, (size, k) in enumerate(zip(x.shape[1:-1], k_eff)):
        if size < k:
            raise ShapeError(
                f"The window ({k_eff}) is larger than the (padded) input {x.shape[1:-1]} "
                f"in spatial dim {i}; the output would be empty."
            )
    w = np.lib.stride_tricks.sliding_window_view(x, k_eff, axis=spatial_axes)
    index = (slice(None),) + tuple(slice(None, None, s) for s in strides) + (slice(None),)
    index += tuple(slice(None, None, d) for d in dilation)
    return w[index]


def _resolve_pads(padding, spatial, kernel, strides, dilation):
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    return [_same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilation)]


_LETTERS = "ABCDEFGHIJKL"


def _conv_channels_last(x, kernel, strides, pads, dilation):
    """Grouped N-D cross-correlation; x (N, *S, C), kernel (*K, C/groups, O)."""
    nd = x.ndim - 2
    k_spatial = kernel.shape[:nd]
    cin_g, out = kernel.shape[-2], kernel.shape[-1]
    channels = x.shape[-1]
    if channels % cin_g:
        raise ShapeError(
            "The number of input channels must be a multiple of the kernel's in_channels. "
            f"Received: input channels {channels}, kernel in_channels {cin_g} "
            f"(kernel.shape={kernel.shape})."
        )
    groups = channels // cin_g
    if out % groups:
        raise ShapeError(
            f"The kernel's out_channels ({out}) must be a multiple of groups ({groups})."
        )
    w = _windows(x, k_spatial, strides, dilation, pads)  # (N, *O, C, *K)
    sp = _LETTERS[:nd]
    ks = _LETTERS[nd:2 * nd]
    w = w.reshape(w.shape[:nd + 1] + (groups, cin_g) + w.shape[nd + 2:])
    kern = kernel.reshape(k_spatial + (cin_g, groups, out // groups))
    y = np.einsum(f"n{sp}gc{ks},{ks}cgo->n{sp}go", w, kern, optimize=True)
    return y.reshape(y.shape[:nd + 1] + (out,))


def _conv_prepare(inputs, kernel, strides, dilation_rate, data_format):
    data_format = config.standardize_data_format(data_format)
    inputs, kernel = np.asarray(inputs), np.asarray(kernel)
    dt = numpy_dtype(result_type(inputs.dtype, kernel.dtype))
    nd = inputs.ndim - 2
    if nd < 1 or kernel.ndim != nd + 2:
        raise ShapeError(
            f"conv expects inputs of rank 3-5 and a kernel of the same rank. Received: "
            f"inputs.shape={inputs.shape}, kernel.shape={kernel.shape}"
        )
    x = _to_channels_last(inputs.astype(dt, copy=False), data_format)
    strides = _tuple(strides, nd, "strides")
    dilation = _tuple(dilation_rate, nd, "dilation_rate")
    return x, kernel.astype(dt, copy=False), strides, dilation, data_format


# ----------------------------------------------------------------------------- activations

def relu(x):
    x = np.asarray(x)
    return np.maximum(x, _scalar(0, x))


def relu6(x):
    x = np.asarray(x)
    return np.minimum(np.maximum(x, _scalar(0, x)), _scalar(6, x))


def sigmoid(x):
    x = _float(x)
    return 1 / (1 + np.exp(-x))


def sparse_sigmoid(x):
    x = _float(x)
    return np.clip(0.5 * (x + 1), 0, 1).astype(x.dtype)


def tanh_shrink(x):
    x = _float(x)
    return x - np.tanh(x)


def softplus(x):
    x = _float(x)
    return np.logaddexp(x, _scalar(0, x))


def softsign(x):
    x = _float(x)
    return x / (1 + np.abs(x))


def soft_shrink(x, threshold=0.5):
    x = _float(x)
    zero = _scalar(0, x)
    return np.where(x > threshold, x - threshold, np.where(x < -threshold, x + threshold, zero))


def sparse_plus(x):
    x = _float(x)
    return np.where(x <= -1, _scalar(0, x), np.where(x < 1, 0.25 * (x + 1) ** 2, x))


def silu(x):
    x = _float(x)
    return x / (1 + np.exp(-x))


swish = silu


def squareplus(x, b=4):
    x = _float(x)
    return (x + np.sqrt(x * x + _scalar(b, x))) / 2


def log_sigmoid(x):
    x = _float(x)
    return -np.logaddexp(-x, _scalar(0, x))


def leaky_relu(x, negative_slope=0.2):
    x = _float(x)
    return np.where(x >= 0, x, x * _scalar(negative_slope, x))


def hard_sigmoid(x):
    x = _float(x)
    return np.clip(x / 6 + 0.5, 0, 1).astype(x.dtype)


def hard_silu(x):
    x = _float(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def elu(x, alpha=1.0):
    x = _float(x)
    return np.where(x > 0, x, _scalar(alpha, x) * np.expm1(np.minimum(x, 0)))


def selu(x):
    x = _float(x)
    return _scalar(_SELU_SCALE, x) * elu(x, _SELU_ALPHA)


def gelu(x, approximate=True):
    x = _float(x)
    if approximate:
        c = _scalar(math.sqrt(2 / math.pi), x)
        return 0.5 * x * (1 + np.tanh(c * (x + _scalar(0.044715, x) * x ** 3)))
    from scipy.special import erf

    return (0.5 * x * (1 + erf(x / _scalar(math.sqrt(2), x)))).astype(x.dtype)


def celu(x, alpha=1.0):
    x = _float(x)
    a = _scalar(alpha, x)
    return np.maximum(x, 0) + a * np.expm1(np.minimum(x, 0) / a)


def glu(x, axis=-1):
    x = _float(x)
    if x.shape[axis] % 2:
        raise ShapeError(
            f"glu needs an even size along `axis`. Received: x.shape={x.shape}, axis={axis}"
        )
    a, b = np.split(x, 2, axis=axis)
    return a * sigmoid(b)


def hard_tanh(x):
    x = _float(x)
    return np.clip(x, _scalar(-1, x), _scalar(1, x))


def hard_shrink(x, threshold=0.5):
    x = _float(x)
    return np.where(np.abs(x) > threshold, x, _scalar(0, x))


def threshold(x, threshold, default_value):
    x = np.asarray(x)
    return np.where(x > threshold, x, _scalar(default_value, x))


def softmax(x, axis=-1):
    x = _float(x)
    axis = tuple(axis) if isinstance(axis, list) else axis
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    x = _float(x)
    axis = tuple(axis) if isinstance(axis, list) else axis
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sparsemax(x, axis=-1):
    x = _float(x)
    z = np.moveaxis(x, axis, -1)
    srt = -np.sort(-z, axis=-1)
    cums = np.cumsum(srt, axis=-1)
    k = np.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    support = 1 + k * srt > cums
    k_z = np.sum(support, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cums, k_z - 1, axis=-1) - 1) / k_z.astype(z.dtype)
    return np.moveaxis(np.maximum(z - tau, 0), -1, axis)


# ----------------------------------------------------------------------------- convolution

def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format = _conv_prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    nd = x.ndim - 2
    pads = _resolve_pads(padding, x.shape[1:-1], kernel.shape[:nd], strides, dilation)
    return _from_channels_last(_conv_channels_last(x, kernel, strides, pads, dilation),
                               data_format)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format = _conv_prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    nd = x.ndim - 2
    channels = x.shape[-1]
    if kernel.shape[-2] != channels:
        raise ShapeError(
            f"depthwise_conv needs kernel.shape[-2] == input channels. Received: "
            f"kernel.shape={kernel.shape}, input channels={channels}"
        )
    # (*K, C, M) -> (*K, 1, C*M): a grouped conv with one input channel per group.
    kernel = kernel.reshape(kernel.shape[:nd] + (1, channels * kernel.shape[-1]))
    pads = _resolve_pads(padding, x.shape[1:-1], kernel.shape[:nd], strides, dilation)
    return _from_channels_last(_conv_channels_last(x, kernel, strides, pads, dilation),
                               data_format)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, 1)


def _conv_transpose_pads(size_k, stride, dilation, padding, output_padding):
    """(left, right) padding of the stride-dilated input (Keras's rule, as in lax)."""
    k = (size_k - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    if output_padding is None:
        total = stride + k - 2
    else:
        total = k + k % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, k - 1)
    return left, total - left


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format = _conv_prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    nd = x.ndim - 2
    if kernel.shape[-1] != x.shape[-1]:
        raise ShapeError(
            "conv_transpose needs kernel.shape[-1] (in_channels) == input channels. Received: "
            f"kernel.shape={kernel.shape}, input channels={x.shape[-1]}"
        )
    out_pad = (None,) * nd if output_padding is None else _tuple(output_padding, nd,
                                                                  "output_padding")
    # Insert (stride - 1) zeros between input elements, then correlate with the flipped kernel.
    if any(s > 1 for s in strides):
        shape = (x.shape[0],) + tuple((n - 1) * s + 1 for n, s in zip(x.shape[1:-1], strides))
        dilated = np.zeros(shape + (x.shape[-1],), x.dtype)
        dilated[(slice(None),) + tuple(slice(None, None, s) for s in strides)] = x
        x = dilated
    pads = [_conv_transpose_pads(k, s, d, padding, op)
            for k, s, d, op in zip(kernel.shape[:nd], strides, dilation, out_pad)]
    # Negative right padding (possible with a small output_padding) crops instead.
    crops = [min(r, 0) for _, r in pads]
    pads = [(left, max(r, 0)) for left, r in pads]
    flipped = np.flip(kernel, axis=tuple(range(nd))).swapaxes(-1, -2)
    y = _conv_channels_last(x, flipped, (1,) * nd, pads, dilation)
    if any(crops):
        y = y[(slice(None),) + tuple(slice(0, c if c else None) for c in crops)]
    return _from_channels_last(y, data_format)


# ----------------------------------------------------------------------------- pooling

def _pool_prepare(inputs, pool_size, strides, padding, data_format):
    padding = _check_padding(padding)
    data_format = config.standardize_data_format(data_format)
    inputs = np.asarray(inputs)
    nd = inputs.ndim - 2
    pool_size = _tuple(pool_size, nd, "pool_size")
    strides = pool_size if strides is None else _tuple(strides, nd, "strides")
    x = _to_channels_last(inputs, data_format)
    pads = _resolve_pads(padding, x.shape[1:-1], pool_size, strides, (1,) * nd)
    return x, pool_size, strides, pads, data_format


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, pool_size, strides, pads, data_format = _pool_prepare(
        inputs, pool_size, strides, padding, data_format)
    nd = len(pool_size)
    if x.dtype.kind in "iub":
        low = np.iinfo(x.dtype).min if x.dtype.kind != "b" else False
    else:
        low = -np.inf
    w = _windows(x, pool_size, strides, (1,) * nd, pads, pad_value=low)
    return _from_channels_last(w.max(axis=tuple(range(-nd, 0))), data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, pool_size, strides, pads, data_format = _pool_prepare(
        inputs, pool_size, strides, padding, data_format)
    x = _float(x)
    nd = len(pool_size)
    axes = tuple(range(-nd, 0))
    ones = (1,) * nd
    total = _windows(x, pool_size, strides, ones, pads).sum(axis=axes)
    if all(p == (0, 0) for p in pads):
        return _from_channels_last(total / _scalar(math.prod(pool_size), x), data_format)
    # 'same': average over the real (unpadded) elements only, as TF does.
    mask = np.ones((1,) + x.shape[1:-1] + (1,), x.dtype)
    count = _windows(mask, pool_size, strides, ones, pads).sum(axis=axes)
    return _from_channels_last(total / count, data_format)


def _adaptive_pool(inputs, output_size, data_format, reduce):
    data_format = config.standardize_data_format(data_format)
    x = _to_channels_last(np.asarray(inputs), data_format)
    nd = x.ndim - 2
    output_size = _tuple(output_size, nd, "output_size")
    # Pooling windows are products of intervals, so reduce one spatial axis at a time.
    for i, out in enumerate(output_size):
        axis = i + 1
        n = x.shape[axis]
        parts = []
        for j in range(out):
            start, end = (j * n) // out, -(-((j + 1) * n) // out)
            parts.append(reduce(np.take(x, range(start, end), axis=axis), axis=axis,
                                keepdims=True))
        x = np.concatenate(parts, axis=axis)
    return _from_channels_last(x, data_format)


def adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(_float(inputs), output_size, data_format, np.mean)


def adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(inputs, output_size, data_format, np.max)


# ----------------------------------------------------------------------------- encodings

def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ArgumentError("`sparse=True` is not supported by the numpy backend's one_hot.")
    x = np.asarray(x)
    dt = numpy_dtype(dtype or floatx())
    out = (x[..., None] == np.arange(num_classes)).astype(dt)
    if axis != -1:
        out = np.moveaxis(out, -1, axis)
    return out


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if num_classes is None:
        raise ArgumentError("multi_hot needs `num_classes`. Received: num_classes=None")
    inputs = np.asarray(inputs)
    hot = one_hot(inputs.astype("int32"), num_classes, axis=axis, dtype=dtype, sparse=sparse)
    reduce_axis = 1 if inputs.ndim > 1 else 0
    return hot.max(axis=reduce_axis)


# ----------------------------------------------------------------------------- losses

def _eps(x):
    return _scalar(config.epsilon(), x)


def _check_same_shape(target, output):
    if target.shape != output.shape:
        raise ShapeError(
            "`target` and `output` must have the same shape. Received: "
            f"target.shape={target.shape}, output.shape={output.shape}"
        )


def binary_crossentropy(target, output, from_logits=False):
    target, output = np.asarray(target), _float(output)
    _check_same_shape(target, output)
    target = target.astype(output.dtype)
    if from_logits:
        output = sigmoid(output)
    output = np.clip(output, _eps(output), 1 - _eps(output))
    return -(target * np.log(output) + (1 - target) * np.log(1 - output))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = np.asarray(target), _float(output)
    _check_same_shape(target, output)
    if output.ndim < 1:
        raise ShapeError(f"`output` must be at least rank 1. Received: shape={output.shape}")
    target = target.astype(output.dtype)
    if from_logits:
        log_prob = log_softmax(output, axis=axis)
    else:
        output = output / np.sum(output, axis=axis, keepdims=True)
        log_prob = np.log(np.clip(output, _eps(output), 1 - _eps(output)))
    return -np.sum(target * log_prob, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = np.asarray(target).astype("int32"), _float(output)
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = np.squeeze(target, axis=-1)
    if output.ndim < 1 or target.shape != output.shape[:-1]:
        raise ShapeError(
            "`target` must have the shape of `output` without its last axis. Received: "
            f"target.shape={target.shape}, output.shape={output.shape}"
        )
    if from_logits:
        log_prob = log_softmax(output, axis=axis)
    else:
        output = output / np.sum(output, axis=axis, keepdims=True)
        log_prob = np.log(np.clip(output, _eps(output), 1 - _eps(output)))
    hot = one_hot(target, output.shape[axis], axis=axis, dtype=output.dtype)
    return -np.sum(hot * log_prob, axis=axis)


# ----------------------------------------------------------------------------- normalisation

def _axes(axes):
    return tuple(axes) if isinstance(axes, (list, tuple)) else axes


def moments(x, axes, keepdims=False, synchronized=False):
    x = _float(x)
    dtype = x.dtype
    if standardize_dtype(dtype) in ("float16", "bfloat16"):
        x = x.astype(np.float32)  # too little range for the statistics
    axes = _axes(axes)
    mean = np.mean(x, axis=axes, keepdims=True)
    variance = np.mean(np.square(x), axis=axes, keepdims=True) - np.square(mean)
    if not keepdims:
        mean, variance = np.squeeze(mean, axes), np.squeeze(variance, axes)
    if mean.dtype != dtype:
        info = np.finfo(np.float16) if dtype == np.float16 else None
        if info is not None:
            mean = np.clip(mean, info.min, info.max)
            variance = np.clip(variance, info.min, info.max)
        mean, variance = mean.astype(dtype), variance.astype(dtype)
    return mean, variance


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=0.001):
    x = _float(x)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def _b(v):
        return np.reshape(np.asarray(v, dtype=x.dtype), shape)

    inv = 1 / np.sqrt(_b(variance) + _scalar(epsilon, x))
    if scale is not None:
        inv = inv * _b(scale)
    res = -_b(mean) * inv
    if offset is not None:
        res = res + _b(offset)
    return x * inv + res


def _compute_dtype(x):
    return numpy_dtype(result_type(x.dtype, "float32"))


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise ArgumentError(f"Unknown arguments to layer_normalization: {sorted(kwargs)}")
    x = _float(x)
    original = x.dtype
    x = x.astype(_compute_dtype(x), copy=False)
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = sorted(a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis))
    bshape = [1] * x.ndim
    for a in axes:
        bshape[a] = x.shape[a]

    def _b(v):
        return None if v is None else np.reshape(np.asarray(v, dtype=x.dtype), bshape)

    gamma, beta = _b(gamma), _b(beta)
    axes = tuple(axes)
    if rms_scaling:
        out = x / np.sqrt(np.var(x, axis=axes, keepdims=True) + _scalar(epsilon, x))
        if gamma is not None:
            out = out * gamma
    else:
        mean = np.mean(x, axis=axes, keepdims=True)
        var = np.mean(np.square(x), axis=axes, keepdims=True) - np.square(mean)
        inv = 1 / np.sqrt(var + _scalar(epsilon, x))
        if gamma is not None:
            inv = inv * gamma
        res = -mean * inv
        if beta is not None:
            res = res + beta
        out = x * inv + res
    return out.astype(original, copy=False)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    x = _float(x)
    original = x.dtype
    x = x.astype(_compute_dtype(x), copy=False)
    epsilon = config.epsilon() if epsilon is None else epsilon
    axis = _axes(axis)
    out = x / np.sqrt(np.mean(np.square(x), axis=axis, keepdims=True) + _scalar(epsilon, x))
    if scale is not None:
        out = out * np.asarray(scale, dtype=x.dtype)
    return out.astype(original, copy=False)


def normalize(x, axis=-1, order=2, epsilon=None):
    if not isinstance(order, int) or order < 1:
        raise ArgumentError(f"`order` must be an int >= 1. Received: order={order!r}")
    x = _float(x)
    if x.ndim == 0:
        x = x[None]
    epsilon = config.epsilon() if epsilon is None else epsilon
    axis = _axes(axis)
    if order == 2:
        sq = np.sum(np.square(x), axis=axis, keepdims=True)
        with np.errstate(divide="ignore"):
            inv = np.minimum(1 / np.sqrt(sq), _scalar(1 / epsilon, x))
        return x * inv
    norm = np.sum(np.abs(x) ** order, axis=axis, keepdims=True) ** (1 / order)
    return x / np.maximum(norm, _scalar(epsilon, x))


# ----------------------------------------------------------------------------- misc

def psnr(x1, x2, max_val):
    x1, x2 = np.asarray(x1), np.asarray(x2)
    if x1.shape != x2.shape:
        raise ShapeError(f"psnr needs inputs of one shape. Received: {x1.shape} and {x2.shape}")
    dt = numpy_dtype(result_type(x1.dtype, x2.dtype, "float32" if x1.dtype.kind in "iub"
                                 else x1.dtype))
    x1, x2 = x1.astype(dt), x2.astype(dt)
    mse = np.mean(np.square(x1 - x2))
    return 20 * np.log10(np.asarray(max_val, dt)) - 10 * np.log10(mse)


def polar(abs_, angle):
    abs_, angle = _float(abs_), _float(angle)
    dt = numpy_dtype(result_type(abs_.dtype, angle.dtype))
    abs_, angle = abs_.astype(dt), angle.astype(dt)
    out = abs_ * np.cos(angle) + 1j * (abs_ * np.sin(angle))
    return out.astype(np.complex128 if dt == np.float64 else np.complex64)


def depth_to_space(x, block_size, data_format="channels_last"):
    x = np.asarray(x)
    b = block_size
    if data_format == "channels_last":
        n, h, w, c = x.shape
        x = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(n, h * b, w * b, c // (b * b))
    n, c, h, w = x.shape
    x = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c // (b * b), h * b, w * b)


def space_to_depth(x, block_size, data_format="channels_last"):
    x = np.asarray(x)
    b = block_size
    if data_format == "channels_last":
        n, h, w, c = x.shape
        x = x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(n, h // b, w // b, c * b * b)
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 1, 3, 5, 2, 4)
    return x.reshape(n, c * b * b, h // b, w // b)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    x = np.asarray(x)
    k, d = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    p, s = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    n, c = x.shape[:2]
    w = _windows(np.moveaxis(x, 1, -1), k, s, d, [(p[0], p[0]), (p[1], p[1])])
    # (N, oH, oW, C, kH, kW) -> (N, C*kH*kW, oH*oW)
    w = w.reshape(n, -1, c * k[0] * k[1])
    return np.ascontiguousarray(np.swapaxes(w, 1, 2))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    x = np.asarray(x)
    oh, ow = _tuple(output_size, 2, "output_size")
    (kh, kw), (dh, dw) = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    (ph, pw), (sh, sw) = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    n, ckk, _ = x.shape
    c = ckk // (kh * kw)
    nh = (oh + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    nw = (ow + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    x = x.reshape(n, c, kh, kw, nh, nw)
    out = np.zeros((n, c, oh + 2 * ph, ow + 2 * pw), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (nh - 1) + 1:sh,
                j * dw:j * dw + sw * (nw - 1) + 1:sw] += x[:, :, i, j]
    return out[:, :, ph:ph + oh, pw:pw + ow]


# ----------------------------------------------------------------------------- attention

def _large_negative(dtype):
    return np.asarray(-0.7 * (65500.0 if dtype == np.float16 else 3.38953e38), dtype)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    if flash_attention:
        raise ArgumentError("flash_attention=True is not supported by the numpy backend.")
    query, key, value = np.asarray(query), np.asarray(key), np.asarray(value)
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ShapeError(
            "dot_product_attention expects 4D query/key/value [B, T, N, H]. Received: "
            f"query.shape={query.shape}, key.shape={key.shape}, value.shape={value.shape}"
        )
    dt = numpy_dtype(result_type(query.dtype, key.dtype, value.dtype))
    query, key, value = query.astype(dt), key.astype(dt), value.astype(dt)
    heads, kv_heads = query.shape[2], key.shape[2]
    if heads != kv_heads:
        if heads % kv_heads:
            raise ShapeError(
                f"The number of query heads ({heads}) must be a multiple of the number of "
                f"key/value heads ({kv_heads})."
            )
        key = np.repeat(key, heads // kv_heads, axis=2)
        value = np.repeat(value, heads // kv_heads, axis=2)
    scale = 1 / math.sqrt(key.shape[-1]) if scale is None else scale
    logit_dt = np.promote_types(dt, np.float32) if dt != numpy_dtype("bfloat16") else np.float32
    logits = np.einsum("btnh,bsnh->bnts", query.astype(logit_dt), key.astype(logit_dt))
    logits = logits * np.asarray(scale, logit_dt)
    if attn_logits_soft_cap is not None:
        logits = np.tanh(logits / attn_logits_soft_cap) * attn_logits_soft_cap
    if bias is not None:
        logits = logits + np.asarray(bias, logit_dt)
    if mask is not None or is_causal:
        keep = np.ones(logits.shape, bool)
        if mask is not None:
            keep = keep & np.asarray(mask, bool)
        if is_causal:
            t, s = logits.shape[2], logits.shape[3]
            keep = keep & np.tril(np.ones((t, s), bool))
        logits = np.where(keep, logits, _large_negative(logits.dtype))
    probs = softmax(logits.astype(np.float32) if logit_dt != np.float64 else logits, axis=-1)
    out = np.einsum("bnts,bsnh->btnh", probs.astype(logit_dt), value.astype(logit_dt))
    return out.astype(dt)


# ----------------------------------------------------------------------------- CTC

def ctc_loss(target, output, target_length, output_length, mask_index=0):
    target = np.asarray(target).astype(np.int32)
    output = _float(output)
    dt = numpy_dtype(result_type(output.dtype, "float32"))
    output = output.astype(dt)
    target_length = np.asarray(target_length).astype(np.int32)
    output_length = np.asarray(output_length).astype(np.int32)
    batch, max_t, _ = output.shape
    max_l = target.shape[1]
    logp = log_softmax(output, axis=-1)
    neg = np.asarray(-1e30, dt)
    # Extended label sequence: blank, l1, blank, l2, ..., blank  (length 2L+1).
    ext = np.full((batch, 2 * max_l + 1), mask_index, np.int32)
    ext[:, 1::2] = target
    s_len = 2 * max_l + 1
    # A skip from s-2 to s is allowed for labels that differ from the label two steps back.
    skip = np.zeros((batch, s_len), bool)
    skip[:, 3::2] = target[:, 1:] != target[:, :-1]
    skip[:, 1] = False
    emit = np.take_along_axis(logp, np.broadcast_to(ext[:, None, :], (batch, max_t, s_len)),
                              axis=2)  # (B, T, S)
    alpha = np.full((batch, s_len), neg)
    alpha[:, 0] = emit[:, 0, 0]
    alpha[:, 1] = emit[:, 0, 1]
    for t in range(1, max_t):
        prev1 = np.concatenate([np.full((batch, 1), neg), alpha[:, :-1]], axis=1)
        prev2 = np.concatenate([np.full((batch, 2), neg), alpha[:, :-2]], axis=1)
        prev2 = np.where(skip, prev2, neg)
        new = np.logaddexp(np.logaddexp(alpha, prev1), prev2) + emit[:, t]
        active = (t < output_length)[:, None]
        alpha = np.where(active, new, alpha)
    last = 2 * target_length
    a_last = np.take_along_axis(alpha, last[:, None], axis=1)[:, 0]
    a_prev = np.take_along_axis(alpha, np.maximum(last - 1, 0)[:, None], axis=1)[:, 0]
    a_prev = np.where(target_length > 0, a_prev, neg)
    return -np.logaddexp(a_last, a_prev)


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    inputs = _float(inputs)
    dt = numpy_dtype(result_type(inputs.dtype, "float32"))
    inputs = inputs.astype(dt)
    lengths = np.asarray(sequence_lengths).astype(np.int32)
    batch, max_t, num_classes = inputs.shape
    if mask_index is None:
        mask_index = num_classes - 1
    if strategy == "greedy":
        idx = np.argmax(inputs, axis=-1).astype(np.int32)
        scores = np.max(inputs, axis=-1)
        pad = np.arange(max_t)[None, :] >= lengths[:, None]
        idx = np.where(pad, mask_index, idx)
        scores = np.where(pad, 0, scores)
        if merge_repeated:
            rep = np.concatenate([np.zeros((batch, 1), bool), idx[:, 1:] == idx[:, :-1]], 1)
            idx = np.where(rep, mask_index, idx)
        blank = idx == mask_index
        order = np.argsort(np.where(blank, max_t, np.arange(max_t)[None, :]), axis=-1,
                           kind="stable")
        idx = np.take_along_axis(np.where(blank, -1, idx), order, axis=-1)
        return idx[None], -np.sum(scores, axis=1, keepdims=True)
    if strategy == "beam_search":
        return _ctc_beam_search(inputs, lengths, beam_width, top_paths, mask_index)
    raise ArgumentError(
        f"`strategy` must be 'greedy' or 'beam_search'. Received: strategy={strategy!r}")


def _ctc_beam_search(inputs, lengths, beam_width, top_paths, mask_index):
    """Prefix beam search over log-probabilities (log_softmax of ``inputs``)."""
    logp = log_softmax(inputs, axis=-1).astype(np.float64)
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
    from kbridge.backend.numpy import numpy as backend_numpy

    out = backend_numpy.matmul(x, kernel)
    return out if bias is None else backend_numpy.add(out, bias)
