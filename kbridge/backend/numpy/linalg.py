"""numpy backend: linear algebra ops (batched over leading dimensions)."""

import numpy as np

from kbridge.backend.common.dtypes import floatx, numpy_dtype
from kbridge.errors import ArgumentError, ShapeError


def as_float(x):
    """``x`` as a float (or complex) array: ints and bools become floatx."""
    x = np.asarray(x)
    if x.dtype.kind in "fc":
        return x
    return x.astype(numpy_dtype(floatx()))


def check_square(x, name="x"):
    shape = tuple(x.shape)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(
            f"`{name}` must be a (batch of) square matrices, shape (..., n, n). "
            f"Received: {name}.shape={shape}"
        )


def check_matrix(x, name="x"):
    if len(x.shape) < 2:
        raise ShapeError(
            f"`{name}` must have rank >= 2 (a batch of matrices). "
            f"Received: {name}.shape={tuple(x.shape)}"
        )


def cholesky(x, upper=False):
    x = as_float(x)
    check_square(x)
    lower = np.linalg.cholesky(x)
    return np.swapaxes(lower, -1, -2).conj() if upper else lower


def cholesky_inverse(x, upper=False):
    x = as_float(x)
    check_square(x)
    eye = np.broadcast_to(np.eye(x.shape[-1], dtype=x.dtype), x.shape)
    inv_factor = solve_triangular(x, eye, lower=not upper)
    t = np.swapaxes(inv_factor, -1, -2)
    # A = L L^T -> A^-1 = L^-T L^-1 ;  A = U^T U -> A^-1 = U^-1 U^-T
    return (inv_factor @ t) if upper else (t @ inv_factor)


def det(x):
    x = as_float(x)
    check_square(x)
    return np.linalg.det(x).astype(x.dtype)


def eig(x):
    x = as_float(x)
    check_square(x)
    w, v = np.linalg.eig(x)
    ctype = np.result_type(x.dtype, np.complex64)
    return w.astype(ctype), v.astype(ctype)


def eigh(x):
    x = as_float(x)
    check_square(x)
    # Symmetrised, so every backend reads (and differentiates) both triangles alike.
    return tuple(np.linalg.eigh((x + np.swapaxes(x, -1, -2).conj()) / 2))


def inv(x):
    x = as_float(x)
    check_square(x)
    return np.linalg.inv(x)


def lu_factor(x):
    """Partial-pivoting LU in the packed LAPACK layout: ``(lu, pivots)`` with 0-based, int32
    pivots (row ``i`` was swapped with row ``pivots[i]``), as ``scipy.linalg.lu_factor``."""
    x = as_float(x)
    check_matrix(x)
    lu = np.array(x, copy=True)
    m, n = lu.shape[-2:]
    k = min(m, n)
    batch = lu.shape[:-2]
    lu = lu.reshape((-1, m, n))
    rows = np.arange(lu.shape[0])
    pivots = np.zeros((lu.shape[0], k), np.int32)
    for j in range(k):
        p = j + np.argmax(np.abs(lu[:, j:, j]), axis=-1)
        pivots[:, j] = p
        row_j = lu[rows, j].copy()
        lu[rows, j] = lu[rows, p]
        lu[rows, p] = row_j
        pivot = lu[:, j, j]
        safe = np.where(pivot == 0, 1, pivot)
        lu[:, j + 1 :, j] = np.where(pivot[:, None] == 0, 0, lu[:, j + 1 :, j] / safe[:, None])
        lu[:, j + 1 :, j + 1 :] -= lu[:, j + 1 :, j, None] * lu[:, j, None, j + 1 :]
    return lu.reshape(batch + (m, n)), pivots.reshape(batch + (k,))


_NORM_ORDS = {None, "fro", "nuc", np.inf, -np.inf, 1, -1, 2, -2}


def norm(x, ord=None, axis=None, keepdims=False):
    x = as_float(x)
    if isinstance(axis, list):
        axis = tuple(axis)
    if isinstance(axis, tuple) and len(axis) == 2 and ord not in _NORM_ORDS:
        raise ArgumentError(
            f"Invalid `ord` for a matrix norm. Expected one of {sorted(map(str, _NORM_ORDS))}. "
            f"Received: ord={ord!r}"
        )
    out = np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    real = x.real.dtype if x.dtype.kind == "c" else x.dtype
    return np.asarray(out).astype(real)


def qr(x, mode="reduced"):
    if mode not in ("reduced", "complete"):
        raise ArgumentError(f"`mode` must be 'reduced' or 'complete'. Received: mode={mode!r}")
    x = as_float(x)
    check_matrix(x)
    return tuple(np.linalg.qr(x, mode=mode))


def solve(a, b):
    a, b = as_float(a), as_float(b)
    check_square(a, "a")
    dtype = np.result_type(a.dtype, b.dtype)
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    if b.ndim == a.ndim - 1:  # a batch of vectors
        return np.linalg.solve(a, b[..., None])[..., 0]
    return np.linalg.solve(a, b)


def solve_triangular(a, b, lower=False):
    a, b = as_float(a), as_float(b)
    check_square(a, "a")
    a = np.tril(a) if lower else np.triu(a)
    return solve(a, b)


def svd(x, full_matrices=True, compute_uv=True):
    x = as_float(x)
    check_matrix(x)
    if not compute_uv:
        return np.linalg.svd(x, compute_uv=False)
    return tuple(np.linalg.svd(x, full_matrices=full_matrices))


def lstsq(a, b, rcond=None):
    a, b = as_float(a), as_float(b)
    check_matrix(a, "a")
    if a.ndim != 2:
        raise ShapeError(f"`lstsq` expects a 2D `a`. Received: a.shape={a.shape}")
    dtype = np.result_type(a.dtype, b.dtype)
    return np.linalg.lstsq(a.astype(dtype), b.astype(dtype), rcond=rcond)[0]


def _default_rtol(x):
    return max(x.shape[-2:]) * np.finfo(x.dtype).eps


def matrix_rank(x, tol=None):
    x = as_float(x)
    check_matrix(x)
    s = np.linalg.svd(x, compute_uv=False)
    smax = np.max(s, axis=-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,))
    threshold = smax * _default_rtol(x) if tol is None else tol
    return np.sum(s > threshold, axis=-1).astype(np.int32)


def pinv(x, rcond=None):
    x = as_float(x)
    check_matrix(x)
    if rcond is None:
        rcond = _default_rtol(x)
    return np.linalg.pinv(x, rcond=rcond)
