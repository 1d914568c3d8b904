"""tensorflow backend: nn ops (activations, convolution, pooling, normalisation, losses, attention).

Convolutions always run channels-last with explicit padding: TF's CPU kernels reject NCHW and
grouped convolutions, and refuse strides > 1 together with dilation > 1, so those cases are
rewritten (transpose, per-group split, stride-1 conv then subsample).
"""

import math

import numpy as np
import tensorflow as tf

from kbridge.backend.common import config
from kbridge.backend.common.dtypes import floatx, result_type
from kbridge.backend.tensorflow.core import convert_to_tensor, to_tf_dtype
from kbridge.backend.common.arguments import check_padding, int_tuple
from kbridge.errors import ArgumentError, ShapeError




_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _float(x):
    x = convert_to_tensor(x)
    if x.dtype.is_floating or x.dtype.is_complex:
        return x
    return tf.cast(x, to_tf_dtype(floatx()))


_tuple = int_tuple
_check_padding = check_padding


def _axes(axis):
    return list(axis) if isinstance(axis, (list, tuple)) else axis


def _same_pads(size, k, stride, dilation):
    k_eff = (k - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def _to_channels_last(x, data_format):
    if data_format == "channels_first":
        nd = x.shape.rank
        return tf.transpose(x, [0] + list(range(2, nd)) + [1])
    return x


def _from_channels_last(x, data_format):
    if data_format == "channels_first":
        nd = x.shape.rank
        return tf.transpose(x, [0, nd - 1] + list(range(1, nd - 1)))
    return x


# Explicit layouts: TF's eager gradients of the 3D ops read the data_format attribute, which
# is unset (None) when the caller leaves it to the default.
_LAYOUT = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


# ----------------------------------------------------------------------------- activations

def relu(x):
    return tf.nn.relu(convert_to_tensor(x))


def relu6(x):
    return tf.nn.relu6(convert_to_tensor(x))


def sigmoid(x):
    return tf.sigmoid(_float(x))


def sparse_sigmoid(x):
    x = _float(x)
    return tf.clip_by_value(0.5 * (x + 1), tf.cast(0, x.dtype), tf.cast(1, x.dtype))


def tanh_shrink(x):
    x = _float(x)
    return x - tf.tanh(x)


def softplus(x):
    return tf.nn.softplus(_float(x))


def softsign(x):
    return tf.nn.softsign(_float(x))


def soft_shrink(x, threshold=0.5):
    x = _float(x)
    return tf.where(x > threshold, x - threshold,
                    tf.where(x < -threshold, x + threshold, tf.zeros_like(x)))


def sparse_plus(x):
    x = _float(x)
    return tf.where(x <= -1, tf.zeros_like(x), tf.where(x < 1, 0.25 * tf.square(x + 1), x))


def silu(x):
    x = _float(x)
    return x * tf.sigmoid(x)


swish = silu


def squareplus(x, b=4):
    x = _float(x)
    return (x + tf.sqrt(x * x + tf.cast(b, x.dtype))) / 2


def log_sigmoid(x):
    return tf.math.log_sigmoid(_float(x))


def leaky_relu(x, negative_slope=0.2):
    x = _float(x)
    return tf.where(x >= 0, x, x * tf.cast(negative_slope, x.dtype))


def hard_sigmoid(x):
    x = _float(x)
    return tf.clip_by_value(x / 6 + 0.5, tf.cast(0, x.dtype), tf.cast(1, x.dtype))


def hard_silu(x):
    x = _float(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def elu(x, alpha=1.0):
    x = _float(x)
    return tf.where(x > 0, x, tf.cast(alpha, x.dtype) * tf.math.expm1(tf.minimum(x, 0)))


def selu(x):
    y = elu(x, _SELU_ALPHA)
    return tf.cast(_SELU_SCALE, y.dtype) * y


def gelu(x, approximate=True):
    return tf.nn.gelu(_float(x), approximate=approximate)


def celu(x, alpha=1.0):
    x = _float(x)
    a = tf.cast(alpha, x.dtype)
    return tf.maximum(x, 0) + a * tf.math.expm1(tf.minimum(x, 0) / a)


def glu(x, axis=-1):
    x = _float(x)
    if x.shape[axis] % 2:
        raise ShapeError(
            f"glu needs an even size along `axis`. Received: x.shape={tuple(x.shape)}, "
            f"axis={axis}"
        )
    a, b = tf.split(x, 2, axis=axis)
    return a * tf.sigmoid(b)


def hard_tanh(x):
    x = _float(x)
    return tf.clip_by_value(x, tf.cast(-1, x.dtype), tf.cast(1, x.dtype))


def hard_shrink(x, threshold=0.5):
    x = _float(x)
    return tf.where(tf.abs(x) > threshold, x, tf.zeros_like(x))


def threshold(x, threshold, default_value):
    x = convert_to_tensor(x)
    return tf.where(x > tf.cast(threshold, x.dtype), x, tf.cast(default_value, x.dtype))


def softmax(x, axis=-1):
    x = _float(x)
    if isinstance(axis, (list, tuple)):
        e = tf.exp(x - tf.reduce_max(x, axis=list(axis), keepdims=True))
        return e / tf.reduce_sum(e, axis=list(axis), keepdims=True)
    return tf.nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    x = _float(x)
    if isinstance(axis, (list, tuple)):
        return x - tf.reduce_logsumexp(x, axis=list(axis), keepdims=True)
    return tf.nn.log_softmax(x, axis=axis)


def sparsemax(x, axis=-1):
    x = _float(x)
    nd = x.shape.rank
    axis = axis % nd
    perm = [d for d in range(nd) if d != axis] + [axis]
    inv = np.argsort(perm).tolist()
    z = tf.transpose(x, perm)
    srt = tf.sort(z, axis=-1, direction="DESCENDING")
    cums = tf.cumsum(srt, axis=-1)
    k = tf.range(1, z.shape[-1] + 1, dtype=z.dtype)
    support = 1 + k * srt > cums
    k_z = tf.reduce_sum(tf.cast(support, tf.int32), axis=-1, keepdims=True)
    tau = (tf.gather(cums, k_z - 1, axis=-1, batch_dims=nd - 1) - 1) / tf.cast(k_z, z.dtype)
    return tf.transpose(tf.maximum(z - tau, 0), inv)


# ----------------------------------------------------------------------------- convolution

def _prepare(inputs, kernel, strides, dilation_rate, data_format):
    data_format = config.standardize_data_format(data_format)
    inputs, kernel = convert_to_tensor(inputs), convert_to_tensor(kernel)
    dt = to_tf_dtype(result_type(inputs.dtype, kernel.dtype))
    nd = inputs.shape.rank - 2
    if nd not in (1, 2, 3) or kernel.shape.rank != nd + 2:
        raise ShapeError(
            f"conv expects inputs of rank 3-5 and a kernel of the same rank. Received: "
            f"inputs.shape={tuple(inputs.shape)}, kernel.shape={tuple(kernel.shape)}"
        )
    x = _to_channels_last(tf.cast(inputs, dt), data_format)
    return (x, tf.cast(kernel, dt), _tuple(strides, nd, "strides"),
            _tuple(dilation_rate, nd, "dilation_rate"), data_format, nd)


def _pad_spatial(x, pads, value=0):
    if all(p == (0, 0) for p in pads):
        return x
    return tf.pad(x, [[0, 0]] + [list(p) for p in pads] + [[0, 0]], constant_values=value)


def _conv_cl(x, kernel, strides, pads, dilation):
    """Grouped channels-last conv with explicit (left, right) pads."""
    x = _pad_spatial(x, pads)
    channels, cin_g = x.shape[-1], kernel.shape[-2]
    if channels % cin_g:
        raise ShapeError(
            "The number of input channels must be a multiple of the kernel's in_channels. "
            f"Received: input channels {channels}, kernel.shape={tuple(kernel.shape)}."
        )
    groups = channels // cin_g
    subsample = any(s > 1 for s in strides) and any(d > 1 for d in dilation)
    step = (1,) * len(strides) if subsample else strides

    def one(xg, kg):
        return tf.nn.convolution(xg, kg, strides=step, padding="VALID", dilations=dilation,
                                 data_format=_LAYOUT[len(strides)])

    if groups == 1:
        y = one(x, kernel)
    else:
        xs = tf.split(x, groups, axis=-1)
        ks = tf.split(kernel, groups, axis=-1)
        y = tf.concat([one(a, b) for a, b in zip(xs, ks)], axis=-1)
    if subsample:
        y = y[(slice(None),) + tuple(slice(None, None, s) for s in strides)]
    return y


def _resolve_pads(padding, spatial, kernel, strides, dilation):
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    return [_same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilation)]


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    pads = _resolve_pads(padding, x.shape[1:-1], kernel.shape[:nd], strides, dilation)
    return _from_channels_last(_conv_cl(x, kernel, strides, pads, dilation), data_format)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    channels = x.shape[-1]
    if kernel.shape[-2] != channels:
        raise ShapeError(
            f"depthwise_conv needs kernel.shape[-2] == input channels. Received: "
            f"kernel.shape={tuple(kernel.shape)}, input channels={channels}"
        )
    pads = _resolve_pads(padding, x.shape[1:-1], kernel.shape[:nd], strides, dilation)
    if nd == 2 and not (any(s > 1 for s in strides) and any(d > 1 for d in dilation)):
        y = tf.nn.depthwise_conv2d(_pad_spatial(x, pads), kernel, (1,) + strides + (1,),
                                   "VALID", dilations=dilation, data_format="NHWC")
    else:
        kernel = tf.reshape(kernel, tuple(kernel.shape[:nd]) + (1, channels * kernel.shape[-1]))
        y = _conv_cl(x, kernel, strides, pads, dilation)
    return _from_channels_last(y, data_format)


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


def _interleave_zeros(x, axis, stride):
    """Insert ``stride - 1`` zeros between elements of ``x`` along ``axis``."""
    if stride == 1:
        return x
    n = x.shape[axis]
    expanded = tf.expand_dims(x, axis + 1)
    zeros_shape = list(expanded.shape)
    zeros_shape[axis + 1] = stride - 1
    if zeros_shape[0] is None:
        zeros_shape[0] = tf.shape(x)[0]
    stacked = tf.concat([expanded, tf.zeros(zeros_shape, x.dtype)], axis=axis + 1)
    shape = tf.unstack(tf.shape(x))
    shape[axis] = n * stride
    merged = tf.reshape(stacked, tf.stack(shape))
    index = [slice(None)] * x.shape.rank
    index[axis] = slice(0, (n - 1) * stride + 1)
    return merged[tuple(index)]


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    if kernel.shape[-1] != x.shape[-1]:
        raise ShapeError(
            "conv_transpose needs kernel.shape[-1] (in_channels) == input channels. Received: "
            f"kernel.shape={tuple(kernel.shape)}, input channels={x.shape[-1]}"
        )
    out_pad = (None,) * nd if output_padding is None else _tuple(output_padding, nd,
                                                                  "output_padding")
    for i, s in enumerate(strides):
        x = _interleave_zeros(x, i + 1, s)
    pads = [_conv_transpose_pads(k, s, d, padding, op)
            for k, s, d, op in zip(kernel.shape[:nd], strides, dilation, out_pad)]
    crops = [min(r, 0) for _, r in pads]
    pads = [(left, max(r, 0)) for left, r in pads]
    flipped = tf.reverse(kernel, axis=list(range(nd)))
    flipped = tf.transpose(flipped, list(range(nd)) + [nd + 1, nd])
    y = _conv_cl(x, flipped, (1,) * nd, pads, dilation)
    if any(crops):
        y = y[(slice(None),) + tuple(slice(0, c if c else None) for c in crops)]
    return _from_channels_last(y, data_format)


# ----------------------------------------------------------------------------- pooling

def _pool_args(inputs, pool_size, strides, padding, data_format):
    padding = _check_padding(padding)
    data_format = config.standardize_data_format(data_format)
    inputs = convert_to_tensor(inputs)
    nd = inputs.shape.rank - 2
    pool_size = _tuple(pool_size, nd, "pool_size")
    strides = pool_size if strides is None else _tuple(strides, nd, "strides")
    return _to_channels_last(inputs, data_format), pool_size, strides, padding.upper(), data_format


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, pool_size, strides, padding, data_format = _pool_args(
        inputs, pool_size, strides, padding, data_format)
    y = tf.nn.max_pool(x, pool_size, strides, padding, data_format=_LAYOUT[len(pool_size)])
    return _from_channels_last(y, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, pool_size, strides, padding, data_format = _pool_args(
        _float(inputs), pool_size, strides, padding, data_format)
    # TF's 'SAME' average already excludes the padding from the count.
    y = tf.nn.avg_pool(x, pool_size, strides, padding, data_format=_LAYOUT[len(pool_size)])
    return _from_channels_last(y, data_format)


def _adaptive_pool(x, output_size, data_format, reduce):
    data_format = config.standardize_data_format(data_format)
    nd = x.shape.rank - 2
    output_size = _tuple(output_size, nd, "output_size")
    first = 1 if data_format == "channels_last" else 2
    for i, out in enumerate(output_size):
        axis = first + i
        n = x.shape[axis]
        parts = []
        for j in range(out):
            index = [slice(None)] * x.shape.rank
            index[axis] = slice((j * n) // out, -(-((j + 1) * n) // out))
            parts.append(reduce(x[tuple(index)], axis=axis, keepdims=True))
        x = tf.concat(parts, axis=axis)
    return x


def adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(_float(inputs), output_size, data_format, tf.reduce_mean)


def adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(convert_to_tensor(inputs), output_size, data_format, tf.reduce_max)


# ----------------------------------------------------------------------------- encodings

def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ArgumentError("`sparse=True` is not supported by kbridge's tensorflow one_hot.")
    x = convert_to_tensor(x)
    return tf.one_hot(x, num_classes, axis=axis, dtype=to_tf_dtype(dtype or floatx()))


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if num_classes is None:
        raise ArgumentError("multi_hot needs `num_classes`. Received: num_classes=None")
    inputs = convert_to_tensor(inputs)
    hot = one_hot(tf.cast(inputs, tf.int32), num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return tf.reduce_max(hot, axis=1 if inputs.shape.rank > 1 else 0)


# ----------------------------------------------------------------------------- losses

def _check_same_shape(target, output):
    if target.shape != output.shape:
        raise ShapeError(
            "`target` and `output` must have the same shape. Received: "
            f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )


def _clip_prob(p):
    eps = config.epsilon()
    return tf.clip_by_value(p, tf.cast(eps, p.dtype), tf.cast(1 - eps, p.dtype))


def binary_crossentropy(target, output, from_logits=False):
    target, output = convert_to_tensor(target), _float(output)
    _check_same_shape(target, output)
    target = tf.cast(target, output.dtype)
    if from_logits:
        output = tf.sigmoid(output)
    output = _clip_prob(output)
    return -(target * tf.math.log(output) + (1 - target) * tf.math.log(1 - output))


def _log_prob(output, from_logits, axis):
    if from_logits:
        return tf.nn.log_softmax(output, axis=axis)
    output = output / tf.reduce_sum(output, axis=axis, keepdims=True)
    return tf.math.log(_clip_prob(output))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = convert_to_tensor(target), _float(output)
    _check_same_shape(target, output)
    if output.shape.rank < 1:
        raise ShapeError(f"`output` must be at least rank 1. Received: shape={output.shape}")
    return -tf.reduce_sum(tf.cast(target, output.dtype) * _log_prob(output, from_logits, axis),
                          axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = tf.cast(convert_to_tensor(target), tf.int32), _float(output)
    if target.shape.rank == output.shape.rank and target.shape[-1] == 1:
        target = tf.squeeze(target, axis=-1)
    if output.shape.rank < 1 or target.shape != output.shape[:-1]:
        raise ShapeError(
            "`target` must have the shape of `output` without its last axis. Received: "
            f"target.shape={tuple(target.shape)}, output.shape={tuple(output.shape)}"
        )
    hot = tf.one_hot(target, output.shape[axis], axis=axis, dtype=output.dtype)
    return -tf.reduce_sum(hot * _log_prob(output, from_logits, axis), axis=axis)


# ----------------------------------------------------------------------------- normalisation

def moments(x, axes, keepdims=False, synchronized=False):
    x = _float(x)
    dtype = x.dtype
    low = dtype in (tf.float16, tf.bfloat16)
    if low:
        x = tf.cast(x, tf.float32)
    axes = _axes(axes)
    mean = tf.reduce_mean(x, axis=axes, keepdims=True)
    variance = tf.reduce_mean(tf.square(x), axis=axes, keepdims=True) - tf.square(mean)
    if not keepdims:
        mean, variance = tf.squeeze(mean, axes), tf.squeeze(variance, axes)
    if low:
        if dtype == tf.float16:
            big = float(np.finfo(np.float16).max)
            mean = tf.clip_by_value(mean, -big, big)
            variance = tf.clip_by_value(variance, -big, big)
        mean, variance = tf.cast(mean, dtype), tf.cast(variance, dtype)
    return mean, variance


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=0.001):
    x = _float(x)
    shape = [1] * x.shape.rank
    shape[axis] = x.shape[axis]

    def _b(v):
        return tf.reshape(tf.cast(convert_to_tensor(v), x.dtype), shape)

    inv = tf.math.rsqrt(_b(variance) + tf.cast(epsilon, x.dtype))
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
    x = tf.cast(x, to_tf_dtype(result_type(x.dtype, "float32")))
    epsilon = config.epsilon() if epsilon is None else epsilon
    eps = tf.cast(epsilon, x.dtype)
    nd = x.shape.rank
    axes = sorted(a % nd for a in ((axis,) if isinstance(axis, int) else axis))
    bshape = [1] * nd
    for a in axes:
        bshape[a] = x.shape[a]

    def _b(v):
        return None if v is None else tf.reshape(tf.cast(convert_to_tensor(v), x.dtype), bshape)

    gamma, beta = _b(gamma), _b(beta)
    if rms_scaling:
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        var = tf.reduce_mean(tf.square(x - mean), axis=axes, keepdims=True)
        out = x * tf.math.rsqrt(var + eps)
        if gamma is not None:
            out = out * gamma
    else:
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        var = tf.reduce_mean(tf.square(x), axis=axes, keepdims=True) - tf.square(mean)
        inv = tf.math.rsqrt(var + eps)
        if gamma is not None:
            inv = inv * gamma
        res = -mean * inv
        if beta is not None:
            res = res + beta
        out = x * inv + res
    return tf.cast(out, original)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    x = _float(x)
    original = x.dtype
    x = tf.cast(x, to_tf_dtype(result_type(x.dtype, "float32")))
    epsilon = config.epsilon() if epsilon is None else epsilon
    ms = tf.reduce_mean(tf.square(x), axis=_axes(axis), keepdims=True)
    out = x * tf.math.rsqrt(ms + tf.cast(epsilon, x.dtype))
    if scale is not None:
        out = out * tf.cast(convert_to_tensor(scale), x.dtype)
    return tf.cast(out, original)


def normalize(x, axis=-1, order=2, epsilon=None):
    if not isinstance(order, int) or order < 1:
        raise ArgumentError(f"`order` must be an int >= 1. Received: order={order!r}")
    x = _float(x)
    if x.shape.rank == 0:
        x = x[None]
    epsilon = config.epsilon() if epsilon is None else epsilon
    axis = _axes(axis)
    if order == 2:
        sq = tf.reduce_sum(tf.square(x), axis=axis, keepdims=True)
        return x * tf.minimum(tf.math.rsqrt(sq), tf.cast(1 / epsilon, x.dtype))
    norm = tf.reduce_sum(tf.abs(x) ** order, axis=axis, keepdims=True) ** (1 / order)
    return x / tf.maximum(norm, tf.cast(epsilon, x.dtype))


# ----------------------------------------------------------------------------- misc

def psnr(x1, x2, max_val):
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    if x1.shape != x2.shape:
        raise ShapeError(
            f"psnr needs inputs of one shape. Received: {tuple(x1.shape)} and {tuple(x2.shape)}")
    d1 = x1.dtype if x1.dtype.is_floating else "float32"
    dt = to_tf_dtype(result_type(x1.dtype, x2.dtype, d1))
    x1, x2 = tf.cast(x1, dt), tf.cast(x2, dt)
    mse = tf.reduce_mean(tf.square(x1 - x2))
    ln10 = tf.cast(math.log(10.0), dt)
    return 20 * tf.math.log(tf.cast(max_val, dt)) / ln10 - 10 * tf.math.log(mse) / ln10


def polar(abs_, angle):
    abs_, angle = _float(abs_), _float(angle)
    dt = to_tf_dtype(result_type(abs_.dtype, angle.dtype))
    abs_, angle = tf.cast(abs_, dt), tf.cast(angle, dt)
    return tf.complex(abs_ * tf.cos(angle), abs_ * tf.sin(angle))


def depth_to_space(x, block_size, data_format="channels_last"):
    x = convert_to_tensor(x)
    if data_format == "channels_last":
        return tf.nn.depth_to_space(x, block_size)
    b = block_size
    n, c, h, w = x.shape
    x = tf.transpose(tf.reshape(x, (-1, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return tf.reshape(x, (-1, c // (b * b), h * b, w * b))


def space_to_depth(x, block_size, data_format="channels_last"):
    x = convert_to_tensor(x)
    if data_format == "channels_last":
        return tf.nn.space_to_depth(x, block_size)
    b = block_size
    n, c, h, w = x.shape
    x = tf.transpose(tf.reshape(x, (-1, c, h // b, b, w // b, b)), (0, 1, 3, 5, 2, 4))
    return tf.reshape(x, (-1, c * b * b, h // b, w // b))


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    x = convert_to_tensor(x)
    (kh, kw), (dh, dw) = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    (ph, pw), (sh, sw) = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    n, c, h, w = x.shape
    x = tf.pad(x, [[0, 0], [0, 0], [ph, ph], [pw, pw]])
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    blocks = [x[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
              for i in range(kh) for j in range(kw)]
    patches = tf.stack(blocks, axis=2)  # (N, C, kh*kw, oh, ow)
    return tf.reshape(patches, (-1, c * kh * kw, oh * ow))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    x = convert_to_tensor(x)
    oh, ow = _tuple(output_size, 2, "output_size")
    (kh, kw), (dh, dw) = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    (ph, pw), (sh, sw) = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    _, ckk, _ = x.shape
    c = ckk // (kh * kw)
    nh = (oh + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    nw = (ow + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    x = tf.reshape(x, (-1, c, kh, kw, nh, nw))
    full_h, full_w = oh + 2 * ph, ow + 2 * pw
    out = None
    for i in range(kh):
        for j in range(kw):
            block = _interleave_zeros(_interleave_zeros(x[:, :, i, j], 2, sh), 3, sw)
            top, left = i * dh, j * dw
            placed = tf.pad(block, [[0, 0], [0, 0],
                                    [top, full_h - top - block.shape[2]],
                                    [left, full_w - left - block.shape[3]]])
            out = placed if out is None else out + placed
    return out[:, :, ph:ph + oh, pw:pw + ow]


# ----------------------------------------------------------------------------- attention

def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    if flash_attention:
        raise ArgumentError("flash_attention=True is not supported by kbridge's tensorflow "
                           "backend.")
    query, key, value = (convert_to_tensor(t) for t in (query, key, value))
    if query.shape.rank != 4 or key.shape.rank != 4 or value.shape.rank != 4:
        raise ShapeError(
            "dot_product_attention expects 4D query/key/value [B, T, N, H]. Received: "
            f"query.shape={tuple(query.shape)}, key.shape={tuple(key.shape)}, "
            f"value.shape={tuple(value.shape)}"
        )
    dt = to_tf_dtype(result_type(query.dtype, key.dtype, value.dtype))
    heads, kv_heads = query.shape[2], key.shape[2]
    if heads != kv_heads:
        if heads % kv_heads:
            raise ShapeError(
                f"The number of query heads ({heads}) must be a multiple of the number of "
                f"key/value heads ({kv_heads})."
            )
        key = tf.repeat(key, heads // kv_heads, axis=2)
        value = tf.repeat(value, heads // kv_heads, axis=2)
    scale = 1 / math.sqrt(key.shape[-1]) if scale is None else scale
    logit_dt = tf.float64 if dt == tf.float64 else tf.float32
    logits = tf.einsum("btnh,bsnh->bnts", tf.cast(query, logit_dt), tf.cast(key, logit_dt))
    logits = logits * tf.cast(scale, logit_dt)
    if attn_logits_soft_cap is not None:
        logits = tf.tanh(logits / attn_logits_soft_cap) * attn_logits_soft_cap
    if bias is not None:
        logits = logits + tf.cast(convert_to_tensor(bias), logit_dt)
    if mask is not None or is_causal:
        keep = tf.ones(tf.shape(logits), tf.bool)
        if mask is not None:
            keep = tf.logical_and(keep, tf.cast(convert_to_tensor(mask), tf.bool))
        if is_causal:
            t, s = logits.shape[2], logits.shape[3]
            causal = tf.cast(tf.linalg.band_part(tf.ones((t, s)), -1, 0), tf.bool)
            keep = tf.logical_and(keep, causal)
        logits = tf.where(keep, logits, tf.cast(-0.7 * 3.38953e38, logit_dt))
    probs = tf.nn.softmax(logits, axis=-1)
    return tf.cast(tf.einsum("bnts,bsnh->btnh", probs, tf.cast(value, logit_dt)), dt)


# ----------------------------------------------------------------------------- CTC

def ctc_loss(target, output, target_length, output_length, mask_index=0):
    target = tf.cast(convert_to_tensor(target), tf.int32)
    output = _float(output)
    output = tf.cast(output, to_tf_dtype(result_type(output.dtype, "float32")))
    target_length = tf.cast(convert_to_tensor(target_length), tf.int32)
    output_length = tf.cast(convert_to_tensor(output_length), tf.int32)
    return tf.nn.ctc_loss(labels=target, logits=output, label_length=target_length,
                          logit_length=output_length, logits_time_major=False,
                          blank_index=mask_index)


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    inputs = _float(inputs)
    inputs = tf.cast(inputs, to_tf_dtype(result_type(inputs.dtype, "float32")))
    lengths = tf.cast(convert_to_tensor(sequence_lengths), tf.int32)
    batch, max_t, num_classes = inputs.shape
    if mask_index is None:
        mask_index = num_classes - 1
    if strategy == "beam_search":
        # Prefix beam search is data-dependent control flow: run the reference on host.
        from kbridge.backend.numpy.nn import _ctc_beam_search

        paths, scores = _ctc_beam_search(inputs.numpy(), lengths.numpy(), beam_width,
                                         top_paths, mask_index)
        return tf.convert_to_tensor(paths), tf.convert_to_tensor(scores)
    if strategy != "greedy":
        raise ArgumentError(
            f"`strategy` must be 'greedy' or 'beam_search'. Received: strategy={strategy!r}")
    idx = tf.argmax(inputs, axis=-1, output_type=tf.int32)
    scores = tf.reduce_max(inputs, axis=-1)
    steps = tf.range(max_t)[None, :]
    pad = steps >= lengths[:, None]
    idx = tf.where(pad, mask_index, idx)
    scores = tf.where(pad, tf.zeros_like(scores), scores)
    if merge_repeated:
        rep = tf.concat([tf.zeros_like(idx[:, :1], tf.bool), idx[:, 1:] == idx[:, :-1]], 1)
        idx = tf.where(rep, mask_index, idx)
    blank = idx == mask_index
    order = tf.argsort(tf.where(blank, max_t, steps + tf.zeros_like(idx)), axis=-1, stable=True)
    idx = tf.gather(tf.where(blank, -1, idx), order, axis=1, batch_dims=1)
    return idx[None], -tf.reduce_sum(scores, axis=1, keepdims=True)


def linear(x, kernel, bias=None):
    """Dense's ``x @ kernel + bias``; the backend's compiler fuses it where it can."""
    from kbridge.backend.tensorflow import numpy as backend_numpy

    out = backend_numpy.matmul(x, kernel)
    return out if bias is None else backend_numpy.add(out, bias)
