"""jax backend: array ops (shape, indexing, reductions, sorting, statistics, contractions).

The ops are the shared numpy-like ones (``kbridge/backend/shared/array.py``) over jax.numpy;
below them, what jax does differently.
"""

import builtins

import jax
import jax.numpy as jnp

from kbridge.backend.common.shared import include
from kbridge.backend.jax.core import convert_to_tensor, promote, to_jax_dtype


def _identity(x):
    """jax reductions already return arrays."""
    return x


include("array_composite", globals())
include("array_xp", globals(), xp=jnp, tensor_type=jax.Array, convert_to_tensor=convert_to_tensor,
        promote=promote)
include("array", globals(), xp=jnp, result=_identity, to_dtype=to_jax_dtype)


# The hot reductions call jnp directly, without the `result` step numpy needs.

def sum(x, axis=None, keepdims=False):
    x = _a(x)
    return jnp.sum(x, axis=_axis(axis), keepdims=keepdims,
                   dtype=SUM_DTYPES.get(x.dtype.name, x.dtype))


def max(x, axis=None, keepdims=False, initial=None):
    return jnp.max(_a(x), axis=_axis(axis), keepdims=keepdims, initial=initial)


def min(x, axis=None, keepdims=False, initial=None):
    return jnp.min(_a(x), axis=_axis(axis), keepdims=keepdims, initial=initial)


def _float_reduce(fn, x, axis, keepdims):
    x = _a(x)
    out_dt = _float_dtype(x.dtype)
    return fn(x.astype(_compute(out_dt)), axis=_axis(axis), keepdims=keepdims).astype(
        to_jax_dtype(out_dt))


def bincount(x, weights=None, minlength=0, sparse=False):
    # jnp.bincount needs a static length
    _check_dense(sparse)
    x = _a(x)
    weights = None if weights is None else _a(weights)
    dt = to_jax_dtype(_bincount_dtype(weights))
    length = builtins.max(int(jnp.max(x)) + 1 if x.size else 0, minlength)
    if x.ndim == 2:
        fn = jax.vmap(lambda r, w: jnp.bincount(r, w, length=length))
        return fn(x, jnp.ones_like(x) if weights is None else weights).astype(dt)
    return jnp.bincount(x, weights, length=length).astype(dt)


def view(x, dtype=None):
    x = _a(x)
    return x if dtype is None else x.view(to_jax_dtype(dtype))
