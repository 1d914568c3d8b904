"""TensorFlow backend: math ops (special functions, segment reductions, FFTs, STFT)."""

import numpy as np
import tensorflow as tf

from kbridge.backend.common.dtypes import floatx
from kbridge.backend.common.shared import include
from kbridge.backend.tensorflow.core import convert_to_tensor, to_tf_dtype


def _as_float(x):
    """``x`` as a float (or complex) tensor: ints and bools become floatx."""
    x = convert_to_tensor(x)
    if x.dtype.is_floating or x.dtype.is_complex:
        return x
    return tf.cast(x, to_tf_dtype(floatx()))


include("math", globals())


erf, erfc, erfinv, rsqrt = map(_on_float, (tf.math.erf, tf.math.erfc, tf.math.erfinv,
                                            tf.math.rsqrt))


def logsumexp(x, axis=None, keepdims=False):
    if isinstance(axis, tuple):
        axis = list(axis)
    return tf.reduce_logsumexp(_as_float(x), axis=axis, keepdims=keepdims)


def top_k(x, k, sorted=True):
    values, indices = tf.math.top_k(convert_to_tensor(x), k, sorted=True)
    return values, indices


_SEGMENT = {"sum": tf.math.unsorted_segment_sum, "max": tf.math.unsorted_segment_max,
            "min": tf.math.unsorted_segment_min, "prod": tf.math.unsorted_segment_prod}


def _segment(kind, data, segment_ids, num_segments, sorted):
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


def extract_sequences(x, sequence_length, sequence_stride):
    x = convert_to_tensor(x)
    return tf.signal.frame(x, sequence_length, sequence_stride, pad_end=False, axis=-1)


def _to_complex(x):
    real, imag = complex_pair(x)
    real, imag = convert_to_tensor(real), convert_to_tensor(imag)
    dtype = real.dtype
    compute = dtype if dtype in (tf.float32, tf.float64) else tf.float32
    return tf.complex(tf.cast(real, compute), tf.cast(imag, compute)), dtype


def _split(z, dtype):
    return tf.cast(tf.math.real(z), dtype), tf.cast(tf.math.imag(z), dtype)


def _irfft(z, n):
    return tf.signal.irfft(z, fft_length=[2 * (z.shape[-1] - 1) if n is None else n])


def fft(x):
    z, dtype = _to_complex(x)
    return _split(tf.signal.fft(z), dtype)


def fft2(x):
    z, dtype = _to_complex(x)
    return _split(tf.signal.fft2d(z), dtype)


def ifft2(x):
    z, dtype = _to_complex(x)
    return _split(tf.signal.ifft2d(z), dtype)


def rfft(x, fft_length=None):
    x = _as_float(x)
    dtype = x.dtype
    if dtype not in (tf.float32, tf.float64):
        x = tf.cast(x, tf.float32)
    n, length = (x.shape[-1] if fft_length is None else fft_length), x.shape[-1]
    # Crop/pad explicitly: tf's rfft gradient breaks when it crops the input itself.
    if n < length:
        x = x[..., :n]
    elif n > length:
        x = tf.pad(x, [[0, 0]] * (len(x.shape) - 1) + [[0, n - length]])
    return _split(tf.signal.rfft(x, fft_length=[n]), dtype)


def irfft(x, fft_length=None):
    z, dtype = _to_complex(x)
    return tf.cast(_irfft(z, fft_length), dtype)


def view_as_complex(x):
    x = _as_float(x)
    check_last_dim_2(x)
    if x.dtype not in (tf.float32, tf.float64):
        x = tf.cast(x, tf.float32)
    return tf.complex(x[..., 0], x[..., 1])


def _overlap_add(frames, stride):
    return tf.signal.overlap_and_add(frames, stride)
