"""jax backend: nn ops (activations, convolution, pooling, normalisation, losses, attention).

The ops composed of other ops are in the shared module; here are the ones lax runs as kernels.
"""

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

from kbridge.backend.common.dtypes import floatx, result_type
from kbridge.backend.common.shared import include
from kbridge.backend.jax.core import convert_to_tensor, to_jax_dtype
from kbridge.backend.jax.math import _as_float as _float
from kbridge.errors import ArgumentError


include("nn", globals(), einsum=functools.partial(jnp.einsum, precision=lax.Precision.HIGHEST))


# ----------------------------------------------------------------------------- activations

def relu(x):
    return jax.nn.relu(convert_to_tensor(x))


def relu6(x):
    x = convert_to_tensor(x)
    return jnp.minimum(jnp.maximum(x, 0), 6).astype(x.dtype)


def sigmoid(x):
    return jax.nn.sigmoid(_float(x))


def softmax(x, axis=-1):
    return jax.nn.softmax(_float(x), axis=_axes(axis))


def log_softmax(x, axis=-1):
    return jax.nn.log_softmax(_float(x), axis=_axes(axis))


# ----------------------------------------------------------------------------- convolution

def _dimension_numbers(nd, data_format):
    spatial = "DHW"[-nd:]
    lhs = "N" + spatial + "C" if data_format == "channels_last" else "NC" + spatial
    return (lhs, spatial + "IO", lhs)


def _channels(x, data_format):
    return x.shape[-1] if data_format == "channels_last" else x.shape[1]


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    # jax has fused kernels for this and the convolutions below: lax.conv_general_dilated
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _conv_args(
        inputs, kernel, strides, dilation_rate, data_format)
    return lax.conv_general_dilated(
        x, kernel, strides, padding.upper(), rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(nd, data_format),
        feature_group_count=_groups(_channels(x, data_format), kernel))


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _conv_args(
        inputs, kernel, strides, dilation_rate, data_format)
    channels = _channels(x, data_format)
    _check_depthwise(kernel, channels)
    kernel = kernel.reshape(kernel.shape[:nd] + (1, channels * kernel.shape[-1]))
    return lax.conv_general_dilated(
        x, kernel, strides, padding.upper(), rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(nd, data_format), feature_group_count=channels)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    padding = _check_padding(padding)
    x, kernel, strides, dilation, data_format, nd = _conv_args(
        inputs, kernel, strides, dilation_rate, data_format)
    pads = _transpose_pads(kernel, _channels(x, data_format), strides, dilation, padding,
                           output_padding)
    return lax.conv_transpose(
        x, kernel, strides, pads, rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(nd, data_format), transpose_kernel=True)


# ----------------------------------------------------------------------------- pooling

def _pool_args(inputs, pool_size, strides, padding, data_format):
    inputs, pool_size, strides, padding, data_format = _pooling_args(
        inputs, pool_size, strides, padding, data_format)
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


# ----------------------------------------------------------------------------- encodings

# jax has a fused kernel: jax.nn.one_hot
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ArgumentError("`sparse=True` is not supported by the jax backend's one_hot.")
    x = convert_to_tensor(x)
    return jax.nn.one_hot(x, num_classes, axis=axis, dtype=to_jax_dtype(dtype or floatx()))


# ----------------------------------------------------------------------------- misc

def polar(abs_, angle):
    abs_, angle = _float(abs_), _float(angle)
    dt = to_jax_dtype(result_type(abs_.dtype, angle.dtype))
    abs_, angle = abs_.astype(dt), angle.astype(dt)
    return lax.complex(abs_ * jnp.cos(angle), abs_ * jnp.sin(angle))


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


def _add_at(out, index, value):
    # jax arrays are immutable: .at[].add
    return out.at[index].add(value)


# ----------------------------------------------------------------------------- CTC

def _ctc_scan(step, alpha, emit):
    # jax has a compiled loop: lax.scan
    steps = (jnp.swapaxes(emit, 0, 1)[1:], jnp.arange(1, emit.shape[1]))
    return lax.scan(lambda a, xs: (step(a, *xs), None), alpha, steps)[0]
