"""JAX backend: math ops (special functions, segment reductions, FFTs, STFT)."""

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np

from kbridge.backend.common.dtypes import floatx, standardize_dtype
from kbridge.backend.jax.core import convert_to_tensor, to_jax_dtype
from kbridge.backend.numpy.math import check_stft_args, complex_pair, overlap_add_count, stft_window
from kbridge.errors import ArgumentError, ShapeError

_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _as_float(x):
    x = convert_to_tensor(x)
    if standardize_dtype(x.dtype) in _FLOATS or jnp.iscomplexobj(x):
        return x
    return x.astype(to_jax_dtype(floatx()))


def erf(x):
    return jss.erf(_as_float(x))


def erfc(x):
    return jss.erfc(_as_float(x))


def erfinv(x):
    return jss.erfinv(_as_float(x))


def rsqrt(x):
    return jax.lax.rsqrt(_as_float(x))


def logsumexp(x, axis=None, keepdims=False):
    if isinstance(axis, list):
        axis = tuple(axis)
    return jss.logsumexp(_as_float(x), axis=axis, keepdims=keepdims)


def top_k(x, k, sorted=True):
    values, indices = jax.lax.top_k(convert_to_tensor(x), k)
    return values, indices.astype("int32")


def in_top_k(targets, predictions, k):
    predictions = convert_to_tensor(predictions)
    targets = convert_to_tensor(targets).astype("int32")
    target_values = jnp.take_along_axis(predictions, targets[:, None], axis=-1)[:, 0]
    kth = jax.lax.top_k(predictions, k)[0][:, k - 1]
    return jnp.logical_and(target_values >= kth, jnp.isfinite(target_values))


def _segment(fn, data, segment_ids, num_segments, sorted):
    data = convert_to_tensor(data)
    segment_ids = convert_to_tensor(segment_ids)
    if num_segments is None:
        num_segments = int(jnp.max(segment_ids)) + 1 if segment_ids.size else 0
    return fn(data, segment_ids, num_segments=int(num_segments), indices_are_sorted=bool(sorted))


def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    return _segment(jax.ops.segment_sum, data, segment_ids, num_segments, sorted)


def segment_max(data, segment_ids, num_segments=None, sorted=False):
    return _segment(jax.ops.segment_max, data, segment_ids, num_segments, sorted)


def segment_min(data, segment_ids, num_segments=None, sorted=False):
    return _segment(jax.ops.segment_min, data, segment_ids, num_segments, sorted)


def _dense_segment_prod(data, segment_ids, num_segments, indices_are_sorted):
    # jax.ops.segment_prod has no gradient for repeated ids; a masked dense product does.
    onehot = segment_ids[None, :] == jnp.arange(num_segments)[:, None]
    onehot = onehot.reshape(onehot.shape + (1,) * (data.ndim - 1))
    return jnp.prod(jnp.where(onehot, data[None], jnp.ones((), data.dtype)), axis=1)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    return _segment(_dense_segment_prod, data, segment_ids, num_segments, sorted)


def extract_sequences(x, sequence_length, sequence_stride):
    x = convert_to_tensor(x)
    frames = max((x.shape[-1] - sequence_length) // sequence_stride + 1, 0)
    index = (np.arange(frames)[:, None] * sequence_stride + np.arange(sequence_length)[None, :])
    return x[..., index]


def cdist(x, y):
    x, y = _as_float(x), _as_float(y)
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1]:
        raise ShapeError(
            "`cdist` expects inputs of rank >= 2 with the same last dimension. "
            f"Received: x.shape={x.shape}, y.shape={y.shape}"
        )
    dtype = jnp.result_type(x.dtype, y.dtype)
    diff = x[..., :, None, :].astype(dtype) - y[..., None, :, :].astype(dtype)
    return jnp.sqrt(jnp.sum(diff * diff, axis=-1))


def logdet(x):
    return jnp.linalg.slogdet(_as_float(x))[1]


def _to_complex(x):
    real, imag = complex_pair(x)
    real, imag = convert_to_tensor(real), convert_to_tensor(imag)
    return jax.lax.complex(real, imag.astype(real.dtype)), real.dtype


def _split(z, dtype):
    return jnp.real(z).astype(dtype), jnp.imag(z).astype(dtype)


def fft(x):
    z, dtype = _to_complex(x)
    return _split(jnp.fft.fft(z, axis=-1), dtype)


def fft2(x):
    z, dtype = _to_complex(x)
    return _split(jnp.fft.fft2(z, axes=(-2, -1)), dtype)


def ifft2(x):
    z, dtype = _to_complex(x)
    return _split(jnp.fft.ifft2(z, axes=(-2, -1)), dtype)


def rfft(x, fft_length=None):
    x = _as_float(x)
    return _split(jnp.fft.rfft(x, n=fft_length, axis=-1), x.dtype)


def irfft(x, fft_length=None):
    z, dtype = _to_complex(x)
    return jnp.fft.irfft(z, n=fft_length, axis=-1).astype(dtype)


def view_as_complex(x):
    x = _as_float(x)
    if x.shape[-1:] != (2,):
        raise ShapeError(f"`view_as_complex` expects a last dimension of size 2. "
                         f"Received: x.shape={x.shape}")
    if x.dtype not in (jnp.float32, jnp.float64):
        x = x.astype("float32")
    return jax.lax.complex(x[..., 0], x[..., 1])


def view_as_real(x):
    x = convert_to_tensor(x)
    if not jnp.iscomplexobj(x):
        raise ArgumentError(f"`view_as_real` expects a complex tensor. Received dtype {x.dtype}")
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    check_stft_args(sequence_length, fft_length)
    x = _as_float(x)
    dtype = x.dtype
    if center:
        pad = [(0, 0)] * (x.ndim - 1) + [(fft_length // 2, fft_length // 2)]
        x = jnp.pad(x, pad, mode="reflect")
    frames = extract_sequences(x, fft_length, sequence_stride)
    win = stft_window(window, sequence_length, fft_length, dtype)
    if win is not None:
        frames = frames * jnp.asarray(win, dtype)
    return _split(jnp.fft.rfft(frames, n=fft_length, axis=-1), dtype)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    check_stft_args(sequence_length, fft_length)
    z, dtype = _to_complex(x)
    frames = jnp.fft.irfft(z, n=fft_length, axis=-1)
    win = stft_window(window, sequence_length, fft_length, dtype)
    if win is not None:
        frames = frames * jnp.asarray(win, frames.dtype)
    num_frames = frames.shape[-2]
    total = fft_length + sequence_stride * (num_frames - 1)
    index = (np.arange(num_frames)[:, None] * sequence_stride + np.arange(fft_length)[None, :])
    out = jnp.zeros(frames.shape[:-2] + (total,), frames.dtype)
    out = out.at[..., index.reshape(-1)].add(frames.reshape(frames.shape[:-2] + (-1,)))
    norm = overlap_add_count(num_frames, fft_length, sequence_stride, win)
    if win is None:
        norm = norm * (sequence_stride / fft_length)
    out = out / jnp.asarray(norm, out.dtype)
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    elif center:
        end = total - fft_length // 2
    else:
        end = total
    return out[..., start:end].astype(dtype)
