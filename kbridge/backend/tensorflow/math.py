"""TensorFlow backend: math ops (special functions, segment reductions, FFTs, STFT)."""

import numpy as np
import tensorflow as tf

from kbridge.backend.common.dtypes import floatx
from kbridge.backend.numpy.math import (
    check_stft_args, complex_pair, overlap_add_count, stft_window)
from kbridge.backend.tensorflow.core import convert_to_tensor, to_tf_dtype
from kbridge.errors import ArgumentError, ShapeError


def _as_float(x):
    x = convert_to_tensor(x)
    if x.dtype.is_floating or x.dtype.is_complex:
        return x
    return tf.cast(x, to_tf_dtype(floatx()))


def erf(x):
    return tf.math.erf(_as_float(x))


def erfc(x):
    return tf.math.erfc(_as_float(x))


def erfinv(x):
    return tf.math.erfinv(_as_float(x))


def rsqrt(x):
    return tf.math.rsqrt(_as_float(x))


def logsumexp(x, axis=None, keepdims=False):
    if isinstance(axis, tuple):
        axis = list(axis)
    return tf.reduce_logsumexp(_as_float(x), axis=axis, keepdims=keepdims)


def top_k(x, k, sorted=True):
    values, indices = tf.math.top_k(convert_to_tensor(x), k, sorted=True)
    return values, indices


def in_top_k(targets, predictions, k):
    predictions = convert_to_tensor(predictions)
    targets = tf.cast(convert_to_tensor(targets), tf.int32)
    target_values = tf.gather(predictions, targets, batch_dims=1)
    kth = tf.math.top_k(predictions, k).values[:, k - 1]
    return tf.logical_and(target_values >= kth, tf.math.is_finite(target_values))


_SEGMENT = {"sum": tf.math.unsorted_segment_sum, "max": tf.math.unsorted_segment_max,
            "min": tf.math.unsorted_segment_min, "prod": tf.math.unsorted_segment_prod}


def _segment(kind, data, segment_ids, num_segments):
    data = convert_to_tensor(data)
    segment_ids = tf.cast(convert_to_tensor(segment_ids), tf.int32)
    if num_segments is None:
        num_segments = int(tf.reduce_max(segment_ids)) + 1 if segment_ids.shape[0] else 0
    keep = (segment_ids >= 0) & (segment_ids < num_segments)
    data, segment_ids = tf.boolean_mask(data, keep), tf.boolean_mask(segment_ids, keep)
    out = _SEGMENT[kind](data, segment_ids, num_segments)
    if kind in ("max", "min") and data.dtype.is_floating:
        # TF fills empty segments with the finite lowest/highest value; kbridge uses -inf/inf.
        count = tf.math.unsorted_segment_sum(tf.ones_like(segment_ids), segment_ids, num_segments)
        count = tf.reshape(count, [-1] + [1] * (len(data.shape) - 1))
        fill = tf.constant(-np.inf if kind == "max" else np.inf, data.dtype)
        out = tf.where(count > 0, out, fill)
    return out


def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    return _segment("sum", data, segment_ids, num_segments)


def segment_max(data, segment_ids, num_segments=None, sorted=False):
    return _segment("max", data, segment_ids, num_segments)


def segment_min(data, segment_ids, num_segments=None, sorted=False):
    return _segment("min", data, segment_ids, num_segments)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    return _segment("prod", data, segment_ids, num_segments)


def extract_sequences(x, sequence_length, sequence_stride):
    x = convert_to_tensor(x)
    return tf.signal.frame(x, sequence_length, sequence_stride, pad_end=False, axis=-1)


def cdist(x, y):
    x, y = _as_float(x), _as_float(y)
    if len(x.shape) < 2 or len(y.shape) < 2 or x.shape[-1] != y.shape[-1]:
        raise ShapeError(
            "`cdist` expects inputs of rank >= 2 with the same last dimension. "
            f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    if x.dtype != y.dtype:
        dtype = tf.float64 if tf.float64 in (x.dtype, y.dtype) else tf.float32
        x, y = tf.cast(x, dtype), tf.cast(y, dtype)
    diff = x[..., :, None, :] - y[..., None, :, :]
    return tf.sqrt(tf.reduce_sum(diff * diff, axis=-1))


def logdet(x):
    return tf.linalg.slogdet(_as_float(x))[1]


def _to_complex(x):
    real, imag = complex_pair(x)
    real, imag = convert_to_tensor(real), convert_to_tensor(imag)
    dtype = real.dtype
    compute = dtype if dtype in (tf.float32, tf.float64) else tf.float32
    return tf.complex(tf.cast(real, compute), tf.cast(imag, compute)), dtype


def _split(z, dtype):
    return tf.cast(tf.math.real(z), dtype), tf.cast(tf.math.imag(z), dtype)


def fft(x):
    z, dtype = _to_complex(x)
    return _split(tf.signal.fft(z), dtype)


def fft2(x):
    z, dtype = _to_complex(x)
    return _split(tf.signal.fft2d(z), dtype)


def ifft2(x):
    z, dtype = _to_complex(x)
    return _split(tf.signal.ifft2d(z), dtype)


def _rfft(x, n):
    dtype = x.dtype
    if dtype not in (tf.float32, tf.float64):
        x = tf.cast(x, tf.float32)
    length = x.shape[-1]
    # Crop/pad explicitly: tf's rfft gradient breaks when it crops the input itself.
    if n < length:
        x = x[..., :n]
    elif n > length:
        x = tf.pad(x, [[0, 0]] * (len(x.shape) - 1) + [[0, n - length]])
    return tf.signal.rfft(x, fft_length=[n]), dtype


def rfft(x, fft_length=None):
    x = _as_float(x)
    z, dtype = _rfft(x, x.shape[-1] if fft_length is None else fft_length)
    return _split(z, dtype)


def irfft(x, fft_length=None):
    z, dtype = _to_complex(x)
    n = 2 * (z.shape[-1] - 1) if fft_length is None else fft_length
    return tf.cast(tf.signal.irfft(z, fft_length=[n]), dtype)


def view_as_complex(x):
    x = _as_float(x)
    if tuple(x.shape[-1:]) != (2,):
        raise ShapeError(f"`view_as_complex` expects a last dimension of size 2. "
                         f"Received: x.shape={tuple(x.shape)}")
    if x.dtype not in (tf.float32, tf.float64):
        x = tf.cast(x, tf.float32)
    return tf.complex(x[..., 0], x[..., 1])


def view_as_real(x):
    x = convert_to_tensor(x)
    if not x.dtype.is_complex:
        raise ArgumentError(f"`view_as_real` expects a complex tensor. Received dtype {x.dtype.name}")
    return tf.stack([tf.math.real(x), tf.math.imag(x)], axis=-1)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    check_stft_args(sequence_length, fft_length)
    x = _as_float(x)
    if center:
        pad = [[0, 0]] * (len(x.shape) - 1) + [[fft_length // 2, fft_length // 2]]
        x = tf.pad(x, pad, mode="REFLECT")
    frames = tf.signal.frame(x, fft_length, sequence_stride, axis=-1)
    win = stft_window(window, sequence_length, fft_length, None)
    if win is not None:
        frames = frames * tf.constant(win, x.dtype)
    z, dtype = _rfft(frames, fft_length)
    return _split(z, dtype)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    check_stft_args(sequence_length, fft_length)
    z, dtype = _to_complex(x)
    frames = tf.signal.irfft(z, fft_length=[fft_length])
    win = stft_window(window, sequence_length, fft_length, None)
    if win is not None:
        frames = frames * tf.constant(win, frames.dtype)
    num_frames = frames.shape[-2]
    total = fft_length + sequence_stride * (num_frames - 1)
    out = tf.signal.overlap_and_add(frames, sequence_stride)
    norm = overlap_add_count(num_frames, fft_length, sequence_stride, win)
    if win is None:
        norm = norm * (sequence_stride / fft_length)
    out = out / tf.constant(norm, out.dtype)
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    elif center:
        end = total - fft_length // 2
    else:
        end = total
    return tf.cast(out[..., start:end], dtype)
