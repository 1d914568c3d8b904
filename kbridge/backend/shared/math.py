"""Math ops composed of other ops, shared by every backend: STFT/ISTFT framing and
overlap-add, ``cdist``, ``in_top_k``, the segment-reduction entry points and the complex-pair
checks, and :func:`_on_float` for the special functions a framework has as kernels.

Bindings: none beyond ``ops``. The includer defines ``_as_float(x)`` (ints and bools become
floatx), ``_to_complex(pair)`` (``(complex tensor, real dtype)``), ``_irfft(z, n)`` (real
frames, not cast back), ``_overlap_add(frames, stride)``, ``_segment(kind, data, segment_ids,
num_segments, sorted)`` with ``kind`` in ``sum/max/min/prod``, ``extract_sequences``, ``rfft``
and ``top_k``.
"""

import numpy as np

from kbridge.backend.common.dtypes import standardize_dtype
from kbridge.errors import ArgumentError, DTypeError, ShapeError

_FLOATS = ("float16", "bfloat16", "float32", "float64")


def complex_pair(x, name="x"):
    """Validate an ``(real, imag)`` pair; returns the two tensors."""
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
        if standardize_dtype(part.dtype) not in _FLOATS:
            raise DTypeError(
                f"The parts of `{name}` must be float tensors. Received dtype "
                f"{standardize_dtype(part.dtype)}"
            )
    return real, imag


def _on_float(kernel):
    """The unary op ``kernel(x)`` on ``x`` as a float tensor (``erf``, ``rsqrt``, ...)."""
    def op(x):
        return kernel(_as_float(x))
    return op


def check_last_dim_2(x):
    """Raise unless ``x`` (``view_as_complex``'s input) ends in a dimension of size 2."""
    if tuple(x.shape[-1:]) != (2,):
        raise ShapeError(f"`view_as_complex` expects a last dimension of size 2. "
                         f"Received: x.shape={tuple(x.shape)}")


def view_as_real(x):
    x = ops.convert_to_tensor(x)
    if not ops.dtype(x).startswith("complex"):
        raise ArgumentError(f"`view_as_real` expects a complex tensor. Received dtype {x.dtype}")
    return ops.stack([ops.real(x), ops.imag(x)], axis=-1)


def in_top_k(targets, predictions, k):
    predictions = ops.convert_to_tensor(predictions)
    targets = ops.cast(targets, "int32")
    target_values = ops.take_along_axis(predictions, targets[:, None], axis=-1)[:, 0]
    kth = top_k(predictions, k)[0][:, k - 1]
    return ops.logical_and(target_values >= kth, ops.isfinite(target_values))


# ---------------------------------------------------------------- segment reductions

def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    return _segment("sum", data, segment_ids, num_segments, sorted)


def segment_max(data, segment_ids, num_segments=None, sorted=False):
    return _segment("max", data, segment_ids, num_segments, sorted)


def segment_min(data, segment_ids, num_segments=None, sorted=False):
    return _segment("min", data, segment_ids, num_segments, sorted)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    return _segment("prod", data, segment_ids, num_segments, sorted)


def logdet(x):
    return ops.slogdet(_as_float(x))[1]


def cdist(x, y):
    x, y = _as_float(x), _as_float(y)
    if len(x.shape) < 2 or len(y.shape) < 2 or x.shape[-1] != y.shape[-1]:
        raise ShapeError(
            "`cdist` expects inputs of rank >= 2 with the same last dimension. "
            f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    x, y = ops.promote(x, y)
    diff = x[..., :, None, :] - y[..., None, :, :]
    return ops.sqrt(ops.sum(diff * diff, axis=-1))


# ---------------------------------------------------------------- STFT

def stft_window(window, sequence_length, fft_length):
    """The analysis window as a float64 numpy array of length ``fft_length`` (zero-padded in the
    middle), or ``None`` for no window."""
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
        win = np.asarray(ops.convert_to_numpy(window), dtype=np.float64)
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


def _windowed(frames, win):
    if win is None:
        return frames
    return frames * ops.convert_to_tensor(win, ops.dtype(frames))


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    check_stft_args(sequence_length, fft_length)
    x = _as_float(x)
    if center:
        half = fft_length // 2
        x = ops.pad(x, [(0, 0)] * (len(x.shape) - 1) + [(half, half)], mode="reflect")
    frames = extract_sequences(x, fft_length, sequence_stride)
    frames = _windowed(frames, stft_window(window, sequence_length, fft_length))
    return rfft(frames, fft_length)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    check_stft_args(sequence_length, fft_length)
    z, dtype = _to_complex(x)
    win = stft_window(window, sequence_length, fft_length)
    frames = _windowed(_irfft(z, fft_length), win)
    num_frames = frames.shape[-2]
    total = fft_length + sequence_stride * (num_frames - 1)
    norm = overlap_add_count(num_frames, fft_length, sequence_stride, win)
    if win is None:
        norm = norm * (sequence_stride / fft_length)
    out = _overlap_add(frames, sequence_stride) / ops.convert_to_tensor(norm, ops.dtype(frames))
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    elif center:
        end = total - fft_length // 2
    else:
        end = total
    return ops.cast(out[..., start:end], dtype)
