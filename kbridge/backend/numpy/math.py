"""numpy backend: math ops (special functions, segment reductions, FFTs, STFT)."""

import math

import numpy as np

from kbridge.backend.common.dtypes import floatx, numpy_dtype, standardize_dtype
from kbridge.backend.common.shared import include

_COMPLEX_OF = {"float16": np.complex64, "bfloat16": np.complex64, "float32": np.complex64,
               "float64": np.complex128}


def _as_float(x):
    """``x`` as a float array: floats keep their dtype, ints and bools become floatx."""
    x = np.asarray(x)
    if x.dtype.kind in "fc" or standardize_dtype(x.dtype) == "bfloat16":
        return x
    return x.astype(numpy_dtype(floatx()))


include("math", globals())
include("math_fft", globals(), fft_module=np.fft)

# ---------------------------------------------------------------- special functions

_erf_scalar = np.frompyfunc(math.erf, 1, 1)
_erfc_scalar = np.frompyfunc(math.erfc, 1, 1)


def _erf64(x):
    return _erf_scalar(np.asarray(x, np.float64)).astype(np.float64)


def erf(x):
    x = _as_float(x)
    return _erf64(x).astype(x.dtype)


def erfc(x):
    x = _as_float(x)
    return _erfc_scalar(np.asarray(x, np.float64)).astype(np.float64).astype(x.dtype)


def _erfinv64(y):
    """Inverse error function in float64: Giles' single-precision start, then Newton steps."""
    y = np.asarray(y, np.float64)
    with np.errstate(all="ignore"):
        w = -np.log((1.0 - y) * (1.0 + y))
        small = w < 5.0
        ws = w - 2.5
        p_small = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
            p_small = c + p_small * ws
        wl = np.sqrt(np.maximum(w, 0.0)) - 3.0
        p_large = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                  -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
            p_large = c + p_large * wl
        x = np.where(small, p_small, p_large) * y
        two_over_sqrt_pi = 2.0 / math.sqrt(math.pi)
        for _ in range(3):  # Newton on erf(x) - y; quadratic convergence
            err = _erf64(x) - y
            x = x - err / (two_over_sqrt_pi * np.exp(-x * x))
        x = np.where(y == 1.0, np.inf, np.where(y == -1.0, -np.inf, x))
        return np.where(np.abs(y) > 1.0, np.nan, x)


def erfinv(x):
    x = _as_float(x)
    return _erfinv64(x).astype(x.dtype)


def rsqrt(x):
    x = _as_float(x)
    with np.errstate(divide="ignore"):
        return (1.0 / np.sqrt(x)).astype(x.dtype)


def logsumexp(x, axis=None, keepdims=False):
    x = _as_float(x)
    if isinstance(axis, list):
        axis = tuple(axis)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return np.asarray(out, x.dtype)


def top_k(x, k, sorted=True):
    x = np.asarray(x)
    # Stable descending order (ties keep the lower index first, as torch/TF do).
    key = x.astype(np.float64) if x.dtype.kind in "ub" else x
    order = np.argsort(-key, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, axis=-1), order.astype(np.int32)


# ---------------------------------------------------------------- segment reductions

def _fill(kind, dtype):
    """The identity of reduction ``kind`` in ``dtype`` (an empty segment's value)."""
    if kind in ("sum", "prod"):
        return int(kind == "prod")
    if dtype.kind == "b":
        return kind == "min"
    if dtype.kind in "iu":
        return np.iinfo(dtype).min if kind == "max" else np.iinfo(dtype).max
    return -np.inf if kind == "max" else np.inf


_UFUNCS = {"sum": np.add, "max": np.maximum, "min": np.minimum, "prod": np.multiply}


def _segment(kind, data, segment_ids, num_segments, sorted):
    data = np.asarray(data)
    segment_ids = np.asarray(segment_ids).astype(np.int64)
    if num_segments is None:
        num_segments = int(segment_ids.max()) + 1 if segment_ids.size else 0
    keep = (segment_ids >= 0) & (segment_ids < num_segments)
    out = np.full((int(num_segments),) + data.shape[1:], _fill(kind, data.dtype), data.dtype)
    _UFUNCS[kind].at(out, segment_ids[keep], data[keep])
    return out


# ---------------------------------------------------------------- sequences, complex, STFT

def extract_sequences(x, sequence_length, sequence_stride):
    x = np.asarray(x)
    n = x.shape[-1]
    frames = (n - sequence_length) // sequence_stride + 1
    if frames < 1:
        return np.zeros(x.shape[:-1] + (0, sequence_length), x.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(x, sequence_length, axis=-1)
    return np.ascontiguousarray(windows[..., ::sequence_stride, :][..., :frames, :])


def _to_complex(x):
    real, imag = complex_pair(x)
    real, imag = np.asarray(real), np.asarray(imag)
    return real + 1j * imag.astype(_COMPLEX_OF[standardize_dtype(real.dtype)]), real.dtype


def view_as_complex(x):
    x = _as_float(x)
    check_last_dim_2(x)
    dtype = _COMPLEX_OF[standardize_dtype(x.dtype)]
    return (x[..., 0] + 1j * x[..., 1]).astype(dtype)


def _overlap_add(frames, stride):
    num_frames, n = frames.shape[-2:]
    out = np.zeros(frames.shape[:-2] + (n + stride * (num_frames - 1),), frames.dtype)
    for i in range(num_frames):
        out[..., i * stride : i * stride + n] += frames[..., i, :]
    return out
