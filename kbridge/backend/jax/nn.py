"""jax backend: nn ops (activations, convolution, pooling, normalisation, losses, attention)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kbridge.backend.common import config
from kbridge.backend.common.dtypes import floatx, result_type, standardize_dtype
from kbridge.backend.jax.core import convert_to_tensor, to_jax_dtype
from kbridge.backend.common.arguments import check_padding, int_tuple
from kbridge.errors import ArgumentError, ShapeError

_FLOATS = frozenset(("float16", "bfloat16", "float32", "float64"))




_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _float(x):
    x = convert_to_tensor(x)
    if jnp.iscomplexobj(x) or standardize_dtype(x.dtype) in _FLOATS:
        return x
    return x.astype(to_jax_dtype(floatx()))


_tuple = int_tuple
_check_padding = check_padding


def _axes(axis):
    return tuple(axis) if isinstance(axis, list) else axis


# ----------------------------------------------------------------------------- activations

def relu(x):
    return jax.nn.relu(convert_to_tensor(x))


def relu6(x):
    x = convert_to_tensor(x)
    return jnp.minimum(jnp.maximum(x, 0), 6).astype(x.dtype)


def sigmoid(x):
    return jax.nn.sigmoid(_float(x))


def sparse_sigmoid(x):
    x = _float(x)
    return jnp.clip(0.5 * (x + 1), 0, 1)


def tanh_shrink(x):
    x = _float(x)
    return x - jnp.tanh(x)


def softplus(x):
    return jax.nn.softplus(_float(x))


def softsign(x):
    x = _float(x)
    return x / (1 + jnp.abs(x))


def soft_shrink(x, threshold=0.5):
    x = _float(x)
    return jnp.where(x > threshold, x - threshold,
                     jnp.where(x < -threshold, x + threshold, jnp.zeros_like(x)))


def sparse_plus(x):
    x = _float(x)
    return jnp.where(x <= -1, jnp.zeros_like(x), jnp.where(x < 1, 0.25 * (x + 1) ** 2, x))


def silu(x):
    x = _float(x)
    return x * jax.nn.sigmoid(x)


swish = silu


def squareplus(x, b=4):
    x = _float(x)
    return (x + jnp.sqrt(x * x + b)) / 2


def log_sigmoid(x):
    return jax.nn.log_sigmoid(_float(x))


def leaky_relu(x, negative_slope=0.2):
    x = _float(x)
    return jnp.where(x >= 0, x, negative_slope * x)


def hard_sigmoid(x):
    x = _float(x)
    return jnp.clip(x / 6 + 0.5, 0, 1)


def hard_silu(x):
    x = _float(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def elu(x, alpha=1.0):
    x = _float(x)
    return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0)))


def selu(x):
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def gelu(x, approximate=True):
    x = _float(x)
    if approximate:
        c = math.sqrt(2 / math.pi)
        return 0.5 * x * (1 + jnp.tanh(c * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + jax.scipy.special.erf(x / math.sqrt(2)))


def celu(x, alpha=1.0):
    x = _float(x)
    return jnp.maximum(x, 0) + alpha * jnp.expm1(jnp.minimum(x, 0) / alpha)


def glu(x, axis=-1):
    x = _float(x)
    if x.shape[axis] % 2:
        raise ShapeError(
            f"glu needs an even size along `axis`. Received: x.shape={x.shape}, axis={axis}"
        )
    a, b = jnp.split(x, 2, axis=axis)
    return a * jax.nn.sigmoid(b)


def hard_tanh(x):
    x = _float(x)
    return jnp.clip(x, -1, 1)


def hard_shrink(x, threshold=0.5):
    x = _float(x)
    return jnp.where(jnp.abs(x) > threshold, x, jnp.zeros_like(x))


def threshold(x, threshold, default_value):
    x = convert_to_tensor(x)
    return jnp.where(x > threshold, x, jnp.asarray(default_value, x.dtype))


def softmax(x, axis=-1):
    return jax.nn.softmax(_float(x), axis=_axes(axis))


def log_softmax(x, axis=-1):
    return jax.nn.log_softmax(_float(x), axis=_axes(axis))


def sparsemax(x, axis=-1):
    x = _float(x)
    z = jnp.moveaxis(x, axis, -1)
    srt = -jnp.sort(-z, axis=-1)
    cums = jnp.cumsum(srt, axis=-1)
    k = jnp.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    support = 1 + k * srt > cums
    k_z = jnp.sum(support, axis=-1, keepdims=True)
    tau = (jnp.take_along_axis(cums, k_z - 1, axis=-1) - 1) / k_z.astype(z.dtype)
    return jnp.moveaxis(jnp.maximum(z - tau, 0), -1, axis)


# ----------------------------------------------------------------------------- convolution

def _dimension_numbers(nd, data_format):
    spatial = "DHW"[-nd:] if nd <= 3 else None
    if spatial is None:
        raise ShapeError(f"Convolutions support 1 to 3 spatial dims. Received: {nd}")
    lhs = "N" + spatial + "C" if data_format == "channels_last" else "NC" + spatial
    return (lhs, spatial + "IO", lhs)


def _prepare(inputs, kernel, strides, dilation_rate, data_format):
    data_format = config.standardize_data_format(data_format)
    inputs, kernel = convert_to_tensor(inputs), convert_to_tensor(kernel)
    dt = to_jax_dtype(result_type(inputs.dtype, kernel.dtype))
    nd = inputs.ndim - 2
    if nd < 1 or kernel.ndim != nd + 2:
        raise ShapeError(
            f"conv expects inputs of rank 3-5 and a kernel of the same rank. Received: "
            f"inputs.shape={inputs.shape}, kernel.shape={kernel.shape}"
        )
    return (inputs.astype(dt), kernel.astype(dt), _tuple(strides, nd, "strides"),
            _tuple(dilation_rate, nd, "dilation_rate"), data_format, nd)


def _channels(x, data_format):
    return x.shape[-1] if data_format == "channels_last" else x.shape[1]


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    channels = _channels(x, data_format)
    if channels % kernel.shape[-2]:
        raise ShapeError(
            "The number of input channels must be a multiple of the kernel's in_channels. "
            f"Received: input channels {channels}, kernel.shape={kernel.shape}."
        )
    return lax.conv_general_dilated(
        x, kernel, strides, padding.upper(), rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(nd, data_format),
        feature_group_count=channels // kernel.shape[-2])


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _prepare(
        inputs, kernel, strides, dilation_rate, data_format)
    channels = _channels(x, data_format)
    if kernel.shape[-2] != channels:
        raise ShapeError(
            f"depthwise_conv needs kernel.shape[-2] == input channels. Received: "
            f"kernel.shape={kernel.shape}, input channels={channels}"
        )
    kernel = kernel.reshape(kernel.shape[:nd] + (1, channels * kernel.shape[-1]))
    return lax.conv_general_dilated(
        x, kernel, strides, padding.upper(), rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(nd, data_format), feature_group_count=channels)


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
    if kernel.shape[-1] != _channels(x, data_format):
        raise ShapeError(
            "conv_transpose needs kernel.shape[-1] (in_channels) == input channels. Received: "
            f"kernel.shape={kernel.shape}, input channels={_channels(x, data_format)}"
        )
    out_pad = (None,) * nd if output_padding is None else _tuple(output_padding, nd,
                                                                  "output_padding")
    pads = [_conv_transpose_pads(k, s, d, padding, op)
            for k, s, d, op in zip(kernel.shape[:nd], strides, dilation, out_pad)]
    return lax.conv_transpose(
        x, kernel, strides, pads, rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(nd, data_format), transpose_kernel=True)


# ----------------------------------------------------------------------------- pooling

def _pool_args(inputs, pool_size, strides, padding, data_format):
    padding = _check_padding(padding)
    data_format = config.standardize_data_format(data_format)
    inputs = convert_to_tensor(inputs)
    nd = inputs.ndim - 2
    pool_size = _tuple(pool_size, nd, "pool_size")
    strides = pool_size if strides is None else _tuple(strides, nd, "strides")
    if data_format == "channels_last":
        window, step = (1,) + pool_size + (1,), (1,) + strides + (1,)
    else:
        window, step = (1, 1) + pool_size, (1, 1) + strides
    return inputs, window, step, padding.upper()


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, window, step, padding = _pool_args(inputs, pool_size, strides, padding, data_format)
    # A Python-scalar init value lets JAX recognise the max monoid, whose reduce_window is
    # differentiable (an array init falls back to a generic, non-differentiable reduction).
    if jnp.issubdtype(x.dtype, jnp.integer):
        init = int(jnp.iinfo(x.dtype).min)
    else:
        init = -float("inf")
    return lax.reduce_window(x, init, lax.max, window, step, padding)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    x, window, step, padding = _pool_args(inputs, pool_size, strides, padding, data_format)
    x = _float(x)
    total = lax.reduce_window(x, 0.0, lax.add, window, step, padding)
    if padding == "VALID":
        return total / math.prod(window)
    ones = jnp.ones([n if w != 1 else 1 for n, w in zip(x.shape, window)], x.dtype)
    count = lax.reduce_window(ones, 0.0, lax.add, window, step, padding)
    return total / count


def _adaptive_pool(x, output_size, data_format, reduce):
    data_format = config.standardize_data_format(data_format)
    nd = x.ndim - 2
    output_size = _tuple(output_size, nd, "output_size")
    first = 1 if data_format == "channels_last" else 2
    for i, out in enumerate(output_size):
        axis = first + i
        n = x.shape[axis]
        parts = [reduce(lax.slice_in_dim(x, (j * n) // out, -(-((j + 1) * n) // out), axis=axis),
                        axis=axis, keepdims=True) for j in range(out)]
        x = jnp.concatenate(parts, axis=axis)
    return x


def adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(_float(inputs), output_size, data_format, jnp.mean)


def adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive_pool(convert_to_tensor(inputs), output_size, data_format, jnp.max)


# ----------------------------------------------------------------------------- encodings

def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ArgumentError("`sparse=True` is not supported by the jax backend's one_hot.")
    x = convert_to_tensor(x)
    return jax.nn.one_hot(x, num_classes, axis=axis, dtype=to_jax_dtype(dtype or floatx()))


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if num_classes is None:
        raise ArgumentError("multi_hot needs `num_classes`. Received: num_classes=None")
    inputs = convert_to_tensor(inputs)
    hot = one_hot(inputs.astype("int32"), num_classes, axis=axis, dtype=dtype, sparse=sparse)
    return jnp.max(hot, axis=1 if inputs.ndim > 1 else 0)


# ----------------------------------------------------------------------------- losses

def _check_same_shape(target, output):
    if target.shape != output.shape:
        raise ShapeError(
            "`target` and `output` must have the same shape. Received: "
            f"target.shape={target.shape}, output.shape={output.shape}"
        )


def _clip_prob(p):
    eps = config.epsilon()
    return jnp.clip(p, eps, 1 - eps)


def binary_crossentropy(target, output, from_logits=False):
    target, output = convert_to_tensor(target), _float(output)
    _check_same_shape(target, output)
    target = target.astype(output.dtype)
    if from_logits:
        output = jax.nn.sigmoid(output)
    output = _clip_prob(output)
    return -(target * jnp.log(output) + (1 - target) * jnp.log(1 - output))


def _log_prob(output, from_logits, axis):
    if from_logits:
        return jax.nn.log_softmax(output, axis=axis)
    output = output / jnp.sum(output, axis=axis, keepdims=True)
    return jnp.log(_clip_prob(output))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = convert_to_tensor(target), _float(output)
    _check_same_shape(target, output)
    if output.ndim < 1:
        raise ShapeError(f"`output` must be at least rank 1. Received: shape={output.shape}")
    return -jnp.sum(target.astype(output.dtype) * _log_prob(output, from_logits, axis), axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = convert_to_tensor(target).astype("int32"), _float(output)
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = jnp.squeeze(target, axis=-1)
    if output.ndim < 1 or target.shape != output.shape[:-1]:
        raise ShapeError(
            "`target` must have the shape of `output` without its last axis. Received: "
            f"target.shape={target.shape}, output.shape={output.shape}"
        )
    hot = jax.nn.one_hot(target, output.shape[axis], axis=axis, dtype=output.dtype)
    return -jnp.sum(hot * _log_prob(output, from_logits, axis), axis=axis)


# ----------------------------------------------------------------------------- normalisation

def moments(x, axes, keepdims=False, synchronized=False):
    x = _float(x)
    dtype = x.dtype
    low = standardize_dtype(dtype) in ("float16", "bfloat16")
    if low:
        x = x.astype(jnp.float32)
    axes = _axes(axes)
    mean = jnp.mean(x, axis=axes, keepdims=True)
    variance = jnp.mean(jnp.square(x), axis=axes, keepdims=True) - jnp.square(mean)
    if not keepdims:
        mean, variance = jnp.squeeze(mean, axes), jnp.squeeze(variance, axes)
    if low:
        if dtype == jnp.float16:
            info = jnp.finfo(jnp.float16)
            mean = jnp.clip(mean, info.min, info.max)
            variance = jnp.clip(variance, info.min, info.max)
        mean, variance = mean.astype(dtype), variance.astype(dtype)
    return mean, variance


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=0.001):
    x = _float(x)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def _b(v):
        return jnp.reshape(convert_to_tensor(v).astype(x.dtype), shape)

    inv = lax.rsqrt(_b(variance) + epsilon)
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
    x = x.astype(to_jax_dtype(result_type(x.dtype, "float32")))
    epsilon = config.epsilon() if epsilon is None else epsilon
    axes = sorted(a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis))
    bshape = [1] * x.ndim
    for a in axes:
        bshape[a] = x.shape[a]

    def _b(v):
        return None if v is None else jnp.reshape(convert_to_tensor(v).astype(x.dtype), bshape)

    gamma, beta = _b(gamma), _b(beta)
    axes = tuple(axes)
    if rms_scaling:
        out = x * lax.rsqrt(jnp.var(x, axis=axes, keepdims=True) + epsilon)
        if gamma is not None:
            out = out * gamma
    else:
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x), axis=axes, keepdims=True) - jnp.square(mean)
        inv = lax.rsqrt(var + epsilon)
        if gamma is not None:
            inv = inv * gamma
        res = -mean * inv
        if beta is not None:
            res = res + beta
        out = x * inv + res
    return out.astype(original)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    x = _float(x)
    original = x.dtype
    x = x.astype(to_jax_dtype(result_type(x.dtype, "float32")))
    epsilon = config.epsilon() if epsilon is None else epsilon
    out = x * lax.rsqrt(jnp.mean(jnp.square(x), axis=_axes(axis), keepdims=True) + epsilon)
    if scale is not None:
        out = out * convert_to_tensor(scale).astype(x.dtype)
    return out.astype(original)


def normalize(x, axis=-1, order=2, epsilon=None):
    if not isinstance(order, int) or order < 1:
        raise ArgumentError(f"`order` must be an int >= 1. Received: order={order!r}")
    x = _float(x)
    if x.ndim == 0:
        x = x[None]
    epsilon = config.epsilon() if epsilon is None else epsilon
    axis = _axes(axis)
    if order == 2:
        sq = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
        return x * jnp.minimum(lax.rsqrt(sq), 1 / epsilon)
    norm = jnp.sum(jnp.abs(x) ** order, axis=axis, keepdims=True) ** (1 / order)
    return x / jnp.maximum(norm, epsilon)


# ----------------------------------------------------------------------------- misc

def psnr(x1, x2, max_val):
    x1, x2 = convert_to_tensor(x1), convert_to_tensor(x2)
    if x1.shape != x2.shape:
        raise ShapeError(f"psnr needs inputs of one shape. Received: {x1.shape} and {x2.shape}")
    d1 = "float32" if not jnp.issubdtype(x1.dtype, jnp.floating) else x1.dtype
    dt = to_jax_dtype(result_type(x1.dtype, x2.dtype, d1))
    x1, x2 = x1.astype(dt), x2.astype(dt)
    mse = jnp.mean(jnp.square(x1 - x2))
    return 20 * jnp.log10(jnp.asarray(max_val, dt)) - 10 * jnp.log10(mse)


def polar(abs_, angle):
    abs_, angle = _float(abs_), _float(angle)
    dt = to_jax_dtype(result_type(abs_.dtype, angle.dtype))
    abs_, angle = abs_.astype(dt), angle.astype(dt)
    return lax.complex(abs_ * jnp.cos(angle), abs_ * jnp.sin(angle))


def depth_to_space(x, block_size, data_format="channels_last"):
    x = convert_to_tensor(x)
    b = block_size
    if data_format == "channels_last":
        n, h, w, c = x.shape
        x = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(n, h * b, w * b, c // (b * b))
    n, c, h, w = x.shape
    x = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c // (b * b), h * b, w * b)


def space_to_depth(x, block_size, data_format="channels_last"):
    x = convert_to_tensor(x)
    b = block_size
    if data_format == "channels_last":
        n, h, w, c = x.shape
        x = x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
        return x.reshape(n, h // b, w // b, c * b * b)
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 1, 3, 5, 2, 4)
    return x.reshape(n, c * b * b, h // b, w // b)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    x = convert_to_tensor(x)
    k, d = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    p, s = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    n, c = x.shape[:2]
    # Output feature order is (C, kH, kW), as in torch's unfold.
    patches = lax.conv_general_dilated_patches(
        x, k, s, [(p[0], p[0]), (p[1], p[1])], rhs_dilation=d,
        dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=lax.Precision.HIGHEST)
    return patches.reshape(n, c * k[0] * k[1], -1)


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    x = convert_to_tensor(x)
    oh, ow = _tuple(output_size, 2, "output_size")
    (kh, kw), (dh, dw) = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    (ph, pw), (sh, sw) = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    n, ckk, _ = x.shape
    c = ckk // (kh * kw)
    nh = (oh + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    nw = (ow + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    x = x.reshape(n, c, kh, kw, nh, nw)
    out = jnp.zeros((n, c, oh + 2 * ph, ow + 2 * pw), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out = out.at[:, :, i * dh:i * dh + sh * (nh - 1) + 1:sh,
                         j * dw:j * dw + sw * (nw - 1) + 1:sw].add(x[:, :, i, j])
    return out[:, :, ph:ph + oh, pw:pw + ow]


# ----------------------------------------------------------------------------- attention

def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    if flash_attention:
        raise ArgumentError("flash_attention=True is not supported by kbridge's jax backend.")
    query, key, value = (convert_to_tensor(t) for t in (query, key, value))
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ShapeError(
            "dot_product_attention expects 4D query/key/value [B, T, N, H]. Received: "
            f"query.shape={query.shape}, key.shape={key.shape}, value.shape={value.shape}"
        )
    dt = to_jax_dtype(result_type(query.dtype, key.dtype, value.dtype))
    heads, kv_heads = query.shape[2], key.shape[2]
    if heads != kv_heads:
        if heads % kv_heads:
            raise ShapeError(
                f"The number of query heads ({heads}) must be a multiple of the number of "
                f"key/value heads ({kv_heads})."
            )
        key = jnp.repeat(key, heads // kv_heads, axis=2)
        value = jnp.repeat(value, heads // kv_heads, axis=2)
    scale = 1 / math.sqrt(key.shape[-1]) if scale is None else scale
    logit_dt = jnp.promote_types(dt, jnp.float32)
    logits = jnp.einsum("btnh,bsnh->bnts", query.astype(logit_dt), key.astype(logit_dt),
                        precision=lax.Precision.HIGHEST)
    logits = logits * scale
    if attn_logits_soft_cap is not None:
        logits = jnp.tanh(logits / attn_logits_soft_cap) * attn_logits_soft_cap
    if bias is not None:
        logits = logits + convert_to_tensor(bias).astype(logit_dt)
    if mask is not None or is_causal:
        keep = jnp.ones(logits.shape, bool)
        if mask is not None:
            keep = keep & convert_to_tensor(mask).astype(bool)
        if is_causal:
            t, s = logits.shape[2], logits.shape[3]
            keep = keep & jnp.tril(jnp.ones((t, s), bool))
        logits = jnp.where(keep, logits, jnp.asarray(-0.7 * 3.38953e38, logit_dt))
    probs = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("bnts,bsnh->btnh", probs, value.astype(logit_dt),
                     precision=lax.Precision.HIGHEST)
    return out.astype(dt)


# ----------------------------------------------------------------------------- CTC

def ctc_loss(target, output, target_length, output_length, mask_index=0):
    target = convert_to_tensor(target).astype(jnp.int32)
    output = _float(output)
    dt = to_jax_dtype(result_type(output.dtype, "float32"))
    output = output.astype(dt)
    target_length = convert_to_tensor(target_length).astype(jnp.int32)
    output_length = convert_to_tensor(output_length).astype(jnp.int32)
    batch, max_t, _ = output.shape
    max_l = target.shape[1]
    s_len = 2 * max_l + 1
    logp = jax.nn.log_softmax(output, axis=-1)
    neg = jnp.asarray(-1e30, dt)
    ext = jnp.full((batch, s_len), mask_index, jnp.int32).at[:, 1::2].set(target)
    skip = jnp.zeros((batch, s_len), bool).at[:, 3::2].set(target[:, 1:] != target[:, :-1])
    emit = jnp.take_along_axis(logp, jnp.broadcast_to(ext[:, None, :], (batch, max_t, s_len)),
                               axis=2)
    alpha0 = jnp.full((batch, s_len), neg).at[:, 0].set(emit[:, 0, 0]).at[:, 1].set(
        emit[:, 0, 1])

    def step(alpha, inputs):
        e, t = inputs
        prev1 = jnp.concatenate([jnp.full((batch, 1), neg), alpha[:, :-1]], axis=1)
        prev2 = jnp.concatenate([jnp.full((batch, 2), neg), alpha[:, :-2]], axis=1)
        prev2 = jnp.where(skip, prev2, neg)
        new = jnp.logaddexp(jnp.logaddexp(alpha, prev1), prev2) + e
        return jnp.where((t < output_length)[:, None], new, alpha), None

    alpha, _ = lax.scan(step, alpha0, (jnp.swapaxes(emit, 0, 1)[1:], jnp.arange(1, max_t)))
    last = 2 * target_length
    a_last = jnp.take_along_axis(alpha, last[:, None], axis=1)[:, 0]
    a_prev = jnp.take_along_axis(alpha, jnp.maximum(last - 1, 0)[:, None], axis=1)[:, 0]
    a_prev = jnp.where(target_length > 0, a_prev, neg)
    return -jnp.logaddexp(a_last, a_prev)


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    inputs = _float(inputs)
    dt = to_jax_dtype(result_type(inputs.dtype, "float32"))
    inputs = inputs.astype(dt)
    lengths = convert_to_tensor(sequence_lengths).astype(jnp.int32)
    batch, max_t, num_classes = inputs.shape
    if mask_index is None:
        mask_index = num_classes - 1
    if strategy == "beam_search":
        # Prefix beam search is data-dependent control flow: run the reference on host.
        from kbridge.backend.numpy.nn import _ctc_beam_search

        paths, scores = _ctc_beam_search(np.asarray(inputs), np.asarray(lengths), beam_width,
                                         top_paths, mask_index)
        return jnp.asarray(paths), jnp.asarray(scores)
    if strategy != "greedy":
        raise ArgumentError(
            f"`strategy` must be 'greedy' or 'beam_search'. Received: strategy={strategy!r}")
    idx = jnp.argmax(inputs, axis=-1).astype(jnp.int32)
    scores = jnp.max(inputs, axis=-1)
    pad = jnp.arange(max_t)[None, :] >= lengths[:, None]
    idx = jnp.where(pad, mask_index, idx)
    scores = jnp.where(pad, 0, scores)
    if merge_repeated:
        rep = jnp.concatenate([jnp.zeros((batch, 1), bool), idx[:, 1:] == idx[:, :-1]], 1)
        idx = jnp.where(rep, mask_index, idx)
    blank = idx == mask_index
    order = jnp.argsort(jnp.where(blank, max_t, jnp.arange(max_t)[None, :]), axis=-1,
                        stable=True)
    idx = jnp.take_along_axis(jnp.where(blank, -1, idx), order, axis=-1)
    return idx[None], -jnp.sum(scores, axis=1, keepdims=True)


def linear(x, kernel, bias=None):
    """Dense's ``x @ kernel + bias``; the backend's compiler fuses it where it can."""
    from kbridge.backend.jax import numpy as backend_numpy

    out = backend_numpy.matmul(x, kernel)
    return out if bias is None else backend_numpy.add(out, bias)
