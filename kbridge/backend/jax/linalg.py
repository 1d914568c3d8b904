"""JAX backend: linear algebra ops."""

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from kbridge.backend.common.dtypes import floatx
from kbridge.backend.jax.core import convert_to_tensor, to_jax_dtype
from kbridge.backend.numpy.linalg import _NORM_ORDS, check_matrix, check_square
from kbridge.errors import ArgumentError, ShapeError


def _as_float(x):
    x = convert_to_tensor(x)
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return x
    return x.astype(to_jax_dtype(floatx()))


def _pair(a, b):
    a, b = _as_float(a), _as_float(b)
    dtype = jnp.result_type(a.dtype, b.dtype)
    return a.astype(dtype), b.astype(dtype)


def cholesky(x, upper=False):
    x = _as_float(x)
    check_square(x)
    lower = jnp.linalg.cholesky(x)
    return jnp.swapaxes(lower, -1, -2).conj() if upper else lower


def cholesky_inverse(x, upper=False):
    x = _as_float(x)
    check_square(x)
    eye = jnp.broadcast_to(jnp.eye(x.shape[-1], dtype=x.dtype), x.shape)
    inv_factor = jsl.solve_triangular(x, eye, lower=not upper)
    t = jnp.swapaxes(inv_factor, -1, -2)
    return (inv_factor @ t) if upper else (t @ inv_factor)


def det(x):
    x = _as_float(x)
    check_square(x)
    return jnp.linalg.det(x)


def eig(x):
    x = _as_float(x)
    check_square(x)
    return tuple(jnp.linalg.eig(x))


def eigh(x):
    x = _as_float(x)
    check_square(x)
    # Symmetrised, so every backend reads (and differentiates) both triangles alike.
    return tuple(jnp.linalg.eigh((x + jnp.swapaxes(x, -1, -2).conj()) / 2))


def inv(x):
    x = _as_float(x)
    check_square(x)
    return jnp.linalg.inv(x)


def lu_factor(x):
    x = _as_float(x)
    check_matrix(x)
    lu, pivots, _ = jax.lax.linalg.lu(x)
    return lu, pivots.astype("int32")


def norm(x, ord=None, axis=None, keepdims=False):
    x = _as_float(x)
    if isinstance(axis, list):
        axis = tuple(axis)
    if isinstance(axis, tuple) and len(axis) == 2 and ord not in _NORM_ORDS:
        raise ArgumentError(f"Invalid `ord` for a matrix norm. Received: ord={ord!r}")
    return jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def qr(x, mode="reduced"):
    if mode not in ("reduced", "complete"):
        raise ArgumentError(f"`mode` must be 'reduced' or 'complete'. Received: mode={mode!r}")
    x = _as_float(x)
    check_matrix(x)
    return tuple(jnp.linalg.qr(x, mode=mode))


def solve(a, b):
    a, b = _pair(a, b)
    check_square(a, "a")
    if b.ndim == a.ndim - 1:
        return jnp.linalg.solve(a, b[..., None])[..., 0]
    return jnp.linalg.solve(a, b)


def solve_triangular(a, b, lower=False):
    a, b = _pair(a, b)
    check_square(a, "a")
    if b.ndim == a.ndim - 1:
        return jsl.solve_triangular(a, b[..., None], lower=lower)[..., 0]
    return jsl.solve_triangular(a, b, lower=lower)


def svd(x, full_matrices=True, compute_uv=True):
    x = _as_float(x)
    check_matrix(x)
    if not compute_uv:
        return jnp.linalg.svd(x, compute_uv=False)
    return tuple(jnp.linalg.svd(x, full_matrices=full_matrices))


def lstsq(a, b, rcond=None):
    a, b = _pair(a, b)
    if a.ndim != 2:
        raise ShapeError(f"`lstsq` expects a 2D `a`. Received: a.shape={a.shape}")
    if rcond is None:
        rcond = max(a.shape) * jnp.finfo(a.dtype).eps
    return jnp.linalg.lstsq(a, b, rcond=rcond)[0]


def _default_rtol(x):
    return max(x.shape[-2:]) * jnp.finfo(x.dtype).eps


def matrix_rank(x, tol=None):
    x = _as_float(x)
    check_matrix(x)
    s = jnp.linalg.svd(x, compute_uv=False)
    threshold = jnp.max(s, axis=-1, keepdims=True) * _default_rtol(x) if tol is None else tol
    return jnp.sum(s > threshold, axis=-1).astype("int32")


def pinv(x, rcond=None):
    x = _as_float(x)
    check_matrix(x)
    return jnp.linalg.pinv(x, rtol=_default_rtol(x) if rcond is None else rcond)


def jvp(fun, primals, tangents, has_aux=False):
    return jax.jvp(fun, tuple(primals), tuple(tangents), has_aux=has_aux)
