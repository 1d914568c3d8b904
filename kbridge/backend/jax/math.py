"""JAX backend: math ops (special functions, segment reductions, FFTs, STFT)."""

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np

from kbridge.backend.common.dtypes import floatx
from kbridge.backend.common.shared import include
from kbridge.backend.jax.core import convert_to_tensor, to_jax_dtype


def _as_float(x):
    """``x`` as a float (or complex) array: ints and bools become floatx."""
    x = convert_to_tensor(x)
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return x
    return x.astype(to_jax_dtype(floatx()))


include("math", globals())
include("math_fft", globals(), fft_module=jnp.fft)


erf, erfc, erfinv, rsqrt = map(_on_float, (jss.erf, jss.erfc, jss.erfinv, jax.lax.rsqrt))


def logsumexp(x, axis=None, keepdims=False):
    if isinstance(axis, list):
        axis = tuple(axis)
    return jss.logsumexp(_as_float(x), axis=axis, keepdims=keepdims)


def top_k(x, k, sorted=True):
    values, indices = jax.lax.top_k(convert_to_tensor(x), k)
    return values, indices.astype("int32")


def _dense_segment_prod(data, segment_ids, num_segments, indices_are_sorted):
    # jax.ops.segment_prod has no gradient for repeated ids; a masked dense product does.
    onehot = segment_ids[None, :] == jnp.arange(num_segments)[:, None]
    onehot = onehot.reshape(onehot.shape + (1,) * (data.ndim - 1))
    return jnp.prod(jnp.where(onehot, data[None], jnp.ones((), data.dtype)), axis=1)


_SEGMENT = {"sum": jax.ops.segment_sum, "max": jax.ops.segment_max,
            "min": jax.ops.segment_min, "prod": _dense_segment_prod}


def _segment(kind, data, segment_ids, num_segments, sorted):
    data = convert_to_tensor(data)
    segment_ids = convert_to_tensor(segment_ids)
    if num_segments is None:
        num_segments = int(jnp.max(segment_ids)) + 1 if segment_ids.size else 0
    return _SEGMENT[kind](data, segment_ids, num_segments=int(num_segments),
                          indices_are_sorted=bool(sorted))


def _frame_index(num_frames, length, stride):
    """``(num_frames, length)`` positions of each frame's samples in the signal."""
    return np.arange(num_frames)[:, None] * stride + np.arange(length)[None, :]


def extract_sequences(x, sequence_length, sequence_stride):
    x = convert_to_tensor(x)
    frames = max((x.shape[-1] - sequence_length) // sequence_stride + 1, 0)
    return x[..., _frame_index(frames, sequence_length, sequence_stride)]


def _to_complex(x):
    real, imag = complex_pair(x)
    real, imag = convert_to_tensor(real), convert_to_tensor(imag)
    return jax.lax.complex(real, imag.astype(real.dtype)), real.dtype


def view_as_complex(x):
    x = _as_float(x)
    check_last_dim_2(x)
    if x.dtype not in (jnp.float32, jnp.float64):
        x = x.astype("float32")
    return jax.lax.complex(x[..., 0], x[..., 1])


def _overlap_add(frames, stride):
    num_frames, n = frames.shape[-2:]
    index = _frame_index(num_frames, n, stride).reshape(-1)
    out = jnp.zeros(frames.shape[:-2] + (n + stride * (num_frames - 1),), frames.dtype)
    return out.at[..., index].add(frames.reshape(frames.shape[:-2] + (-1,)))
