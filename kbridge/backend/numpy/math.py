"""numpy backend: math ops (special functions, segment reductions, FFTs, STFT)."""

import math

import numpy as np

from kbridge.backend.common.dtypes import floatx, numpy_dtype, standardize_dtype
from kbridge.errors import ArgumentError, DTypeError, ShapeError

_COMPLEX_OF = {"float16": np.complex64, "bfloat16": np.complex64, "float32": np.complex64,
               "float64": np.complex128}
_REAL_OF = {"complex64": "float32", "complex128": "float64"}


def _as_float(x):
    """``x`` as a float array: floats keep their dtype, ints and bools become floatx."""
    x = np.asarray(x)
    if x.dtype.kind in "fc" or standardize_dtype(x.dtype) == "bfloat16":
        return x
    return x.astype(numpy_dtype(floatx()))


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


# ---------------------------------------------------------------- top-k

def top_k(x, k, sorted=True):
    x = np.asarray(x)
    # Stable descending order (ties keep the lower index first, as torch/TF do).
    key = x.astype(np.float64) if x.dtype.kind in "ub" else x
    order = np.argsort(-key, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, order, axis=-1), order.astype(np.int32)


def in_top_k(targets, predictions, k):
    predictions = np.asarray(predictions)
    targets = np.asarray(targets).astype(np.int64)
    target_values = np.take_along_axis(predictions, targets[:, None], axis=-1)
    kth = -np.sort(-predictions.astype(np.float64), axis=-1)[..., k - 1 : k]
    return np.logical_and(target_values >= kth, np.isfinite(target_values))[:, 0]


# ---------------------------------------------------------------- segment reductions

def _segment(data, segment_ids, num_segments, ufunc, fill):
    data = np.asarray(data)
    segment_ids = np.asarray(segment_ids).astype(np.int64)
    if num_segments is None:
        num_segments = int(segment_ids.max()) + 1 if segment_ids.size else 0
    keep = (segment_ids >= 0) & (segment_ids < num_segments)
    out = np.full((int(num_segments),) + data.shape[1:], fill(data.dtype), dtype=data.dtype)
    ufunc.at(out, segment_ids[keep], data[keep])
    return out


def _lowest(dtype):
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    if dtype.kind == "b":
        return False
    return -np.inf


def _highest(dtype):
    if dtype.kind in "iu":
        return np.iinfo(dtype).max
    if dtype.kind == "b":
        return True
    return np.inf


def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    return _segment(data, segment_ids, num_segments, np.add, lambda d: 0)


def segment_max(data, segment_ids, num_segments=None, sorted=False):
    return _segment(data, segment_ids, num_segments, np.maximum, _lowest)


def segment_min(data, segment_ids, num_segments=None, sorted=False):
    return _segment(data, segment_ids, num_segments, np.minimum, _highest)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    return _segment(data, segment_ids, num_segments, np.multiply, lambda d: 1)


# ---------------------------------------------------------------- sequences, distances, logdet

def extract_sequences(x, sequence_length, sequence_stride):
    x = np.asarray(x)
    n = x.shape[-1]
    frames = (n - sequence_length) // sequence_stride + 1
    if frames < 1:
        return np.zeros(x.shape[:-1] + (0, sequence_length), x.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(x, sequence_length, axis=-1)
    return np.ascontiguousarray(windows[..., ::sequence_stride, :][..., :frames, :])


def cdist(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1]:
        raise ShapeError(
            "`cdist` expects inputs of rank >= 2 with the same last dimension. "
            f"Received: x.shape={x.shape}, y.shape={y.shape}"
        )
    dtype = np.result_type(_as_float(x).dtype, _as_float(y).dtype)
    diff = x[..., :, None, :].astype(dtype) - y[..., None, :, :].astype(dtype)
    return np.sqrt(np.sum(diff * diff, axis=-1))


def logdet(x):
    x = _as_float(x)
    return np.linalg.slogdet(x)[1].astype(x.dtype)


# ---------------------------------------------------------------- complex helpers and FFTs

def complex_pair(x, name="x"):
    """Validate an ``(real, imag)`` pair; returns the two arrays (shared by the backends)."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ArgumentError(
            f"`{name}` must be a tuple (real, imag) of two float tensors. "
            f"Received: {name} of type {type(x).__name__}"
        )
    real, imag = x
    if tuple(real.shape) != tuple(imag.shape):
        raise ShapeError(
            f"The real and imaginary parts of `{name}` must have the same shape. "
            f"Received: {tuple(real.shape)} and {tuple(imag.shape)}"
        )
    for part in (real, imag):
        if standardize_dtype(part.dtype) not in ("float16", "bfloat16", "float32", "float64"):
            raise DTypeError(
                f"The parts of `{name}` must be float tensors. Received dtype "
                f"{standardize_dtype(part.dtype)}"
            )
    return real, imag


def _to_complex(x):
    real, imag = complex_pair(x)
    real, imag = np.asarray(real), np.asarray(imag)
    return real + 1j * imag.astype(_COMPLEX_OF[standardize_dtype(real.dtype)]), real.dtype


def _split(z, dtype):
    return np.real(z).astype(dtype), np.imag(z).astype(dtype)


def fft(x):
    z, dtype = _to_complex(x)
    return _split(np.fft.fft(z, axis=-1), dtype)


def fft2(x):
    z, dtype = _to_complex(x)
    return _split(np.fft.fft2(z, axes=(-2, -1)), dtype)


def ifft2(x):
    z, dtype = _to_complex(x)
    return _split(np.fft.ifft2(z, axes=(-2, -1)), dtype)


def rfft(x, fft_length=None):
    x = _as_float(x)
    return _split(np.fft.rfft(x, n=fft_length, axis=-1), x.dtype)


def irfft(x, fft_length=None):
    z, dtype = _to_complex(x)
    return np.fft.irfft(z, n=fft_length, axis=-1).astype(dtype)


def view_as_complex(x):
    x = np.asarray(x)
    if x.shape[-1:] != (2,):
        raise ShapeError(f"`view_as_complex` expects a last dimension of size 2. "
                         f"Received: x.shape={x.shape}")
    x = _as_float(x)
    dtype = _COMPLEX_OF[standardize_dtype(x.dtype)]
    return (x[..., 0] + 1j * x[..., 1]).astype(dtype)


def view_as_real(x):
    x = np.asarray(x)
    if x.dtype.kind != "c":
        raise ArgumentError(f"`view_as_real` expects a complex tensor. Received dtype {x.dtype}")
    return np.stack([np.real(x), np.imag(x)], axis=-1)


# ---------------------------------------------------------------- STFT

def stft_window(window, sequence_length, fft_length, dtype):
    """The analysis window as a float64 numpy array of length ``fft_length`` (zero-padded in the
    middle), or ``None`` for no window; shared by every backend."""
    if window is None:
        return None
    if isinstance(window, str):
        n = np.arange(sequence_length, dtype=np.float64)
        phase = np.cos(2.0 * np.pi * n / sequence_length)  # periodic window
        if window == "hann":
            win = 0.5 - 0.5 * phase
        elif window == "hamming":
            win = 0.54 - 0.46 * phase
        else:
            raise ArgumentError(
                f"`window` must be 'hann', 'hamming', a 1D tensor or None. Received: window={window!r}"
            )
    else:
        win = np.asarray(window, dtype=np.float64)
        if win.shape != (sequence_length,):
            raise ShapeError(
                f"`window` must have shape ({sequence_length},). Received: shape={win.shape}"
            )
    left = (fft_length - sequence_length) // 2
    return np.pad(win, (left, fft_length - sequence_length - left))


def check_stft_args(sequence_length, fft_length):
    if fft_length < sequence_length:
        raise ArgumentError(
            "`fft_length` must be >= `sequence_length`. "
            f"Received: sequence_length={sequence_length}, fft_length={fft_length}"
        )


def overlap_add_count(num_frames, fft_length, sequence_stride, win):
    """OLA of ``win ** 2`` (the istft normaliser), float64 numpy; 1 where it vanishes."""
    total = fft_length + sequence_stride * (num_frames - 1)
    norm = np.zeros(total)
    sq = np.ones(fft_length) if win is None else win * win
    for i in range(num_frames):
        norm[i * sequence_stride : i * sequence_stride + fft_length] += sq
    return np.where(norm > 1e-10, norm, 1.0)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    check_stft_args(sequence_length, fft_length)
    x = _as_float(x)
    dtype = x.dtype
    if center:
        pad = [(0, 0)] * (x.ndim - 1) + [(fft_length // 2, fft_length // 2)]
        x = np.pad(x, pad, mode="reflect")
    frames = extract_sequences(x, fft_length, sequence_stride)
    win = stft_window(window, sequence_length, fft_length, dtype)
    if win is not None:
        frames = frames * win.astype(dtype)
    return _split(np.fft.rfft(frames, n=fft_length, axis=-1), dtype)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    check_stft_args(sequence_length, fft_length)
    z, dtype = _to_complex(x)
    frames = np.fft.irfft(z, n=fft_length, axis=-1)
    win = stft_window(window, sequence_length, fft_length, dtype)
    if win is not None:
        frames = frames * win
    num_frames = frames.shape[-2]
    total = fft_length + sequence_stride * (num_frames - 1)
    out = np.zeros(frames.shape[:-2] + (total,), frames.dtype)
    for i in range(num_frames):
        out[..., i * sequence_stride : i * sequence_stride + fft_length] += frames[..., i, :]
    out = out / overlap_add_count(num_frames, fft_length, sequence_stride, win)
    if win is None:
        out = out * (fft_length / sequence_stride)
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    elif center:
        end = total - fft_length // 2
    else:
        end = total
    return out[..., start:end].astype(dtype)
