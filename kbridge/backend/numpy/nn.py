"""numpy backend: nn ops (activations, convolution, pooling, normalisation, losses, attention).

This backend is the reference the other backends are tested against, so everything here is
written out in plain numpy (convolution by strided window views + einsum) rather than
borrowed from another framework. The ops composed of other ops are in the shared module.
"""

import math

import numpy as np

from kbridge.backend.common.dtypes import numpy_dtype, result_type
from kbridge.backend.common.shared import include
from kbridge.backend.numpy.core import convert_to_tensor  # noqa: F401 - read by the shared module
from kbridge.backend.numpy.math import _as_float as _float
from kbridge.errors import ShapeError


include("nn", globals(), einsum=np.einsum)


def _scalar(value, x):
    return np.asarray(value, dtype=x.dtype)


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



_LETTERS = "ABCDEFGHIJKL"


def _conv_cl(x, kernel, strides, pads, dilation):
    """Grouped N-D cross-correlation; x (N, *S, C), kernel (*K, C/groups, O)."""
    nd = x.ndim - 2
    k_spatial = kernel.shape[:nd]
    cin_g, out = kernel.shape[-2], kernel.shape[-1]
    groups = _groups(x.shape[-1], kernel)
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


# ----------------------------------------------------------------------------- convolution

def _dilate_cl(x, strides):
    if all(s == 1 for s in strides):
        return x
    shape = (x.shape[0],) + tuple((n - 1) * s + 1 for n, s in zip(x.shape[1:-1], strides))
    dilated = np.zeros(shape + (x.shape[-1],), x.dtype)
    dilated[(slice(None),) + tuple(slice(None, None, s) for s in strides)] = x
    return dilated


# ----------------------------------------------------------------------------- pooling

def _pool_prepare(inputs, pool_size, strides, padding, data_format):
    inputs, pool_size, strides, padding, data_format = _pooling_args(
        inputs, pool_size, strides, padding, data_format)
    x = _to_channels_last(inputs, data_format)
    pads = _resolve_pads(padding, x.shape[1:-1], pool_size, strides, (1,) * len(pool_size))
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


# ----------------------------------------------------------------------------- misc

def polar(abs_, angle):
    abs_, angle = _float(abs_), _float(angle)
    dt = numpy_dtype(result_type(abs_.dtype, angle.dtype))
    abs_, angle = abs_.astype(dt), angle.astype(dt)
    out = abs_ * np.cos(angle) + 1j * (abs_ * np.sin(angle))
    return out.astype(np.complex128 if dt == np.float64 else np.complex64)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    x = np.asarray(x)
    k, d = _tuple(kernel_size, 2, "kernel_size"), _tuple(dilation, 2, "dilation")
    p, s = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    n, c = x.shape[:2]
    w = _windows(np.moveaxis(x, 1, -1), k, s, d, [(p[0], p[0]), (p[1], p[1])])
    # (N, oH, oW, C, kH, kW) -> (N, C*kH*kW, oH*oW)
    w = w.reshape(n, -1, c * k[0] * k[1])
    return np.ascontiguousarray(np.swapaxes(w, 1, 2))
