"""torch backend: linear algebra ops."""

import torch

from kbridge.backend.common.dtypes import floatx
from kbridge.backend.numpy.linalg import _NORM_ORDS, check_matrix, check_square
from kbridge.backend.torch.core import convert_to_tensor, to_torch_dtype
from kbridge.errors import ArgumentError, ShapeError


def _as_float(x):
    x = convert_to_tensor(x)
    if x.is_floating_point() or x.is_complex():
        return x
    return x.to(to_torch_dtype(floatx()))


def _pair(a, b):
    a, b = _as_float(a), _as_float(b)
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def cholesky(x, upper=False):
    x = _as_float(x)
    check_square(x)
    return torch.linalg.cholesky(x, upper=upper)


def cholesky_inverse(x, upper=False):
    x = _as_float(x)
    check_square(x)
    # Only the factor's triangle is read: masking keeps the other triangle's gradient zero.
    return torch.cholesky_inverse(torch.triu(x) if upper else torch.tril(x), upper=upper)


def det(x):
    x = _as_float(x)
    check_square(x)
    return torch.linalg.det(x)


def eig(x):
    x = _as_float(x)
    check_square(x)
    return tuple(torch.linalg.eig(x))


def eigh(x):
    x = _as_float(x)
    check_square(x)
    # Symmetrised, so every backend reads (and differentiates) both triangles alike.
    return tuple(torch.linalg.eigh((x + x.mH) / 2))


def inv(x):
    x = _as_float(x)
    check_square(x)
    return torch.linalg.inv(x)


def lu_factor(x):
    x = _as_float(x)
    check_matrix(x)
    lu, pivots = torch.linalg.lu_factor(x)
    return lu, (pivots - 1).to(torch.int32)  # LAPACK's 1-based pivots -> 0-based


def norm(x, ord=None, axis=None, keepdims=False):
    x = _as_float(x)
    if isinstance(axis, list):
        axis = tuple(axis)
    if isinstance(axis, tuple) and len(axis) == 2 and ord not in _NORM_ORDS:
        raise ArgumentError(f"Invalid `ord` for a matrix norm. Received: ord={ord!r}")
    if axis is None and ord is not None and x.ndim > 2:
        raise ArgumentError(f"`ord` needs `axis` for inputs of rank > 2. Received: ord={ord!r}")
    return torch.linalg.norm(x, ord=ord, dim=axis, keepdim=keepdims)


def qr(x, mode="reduced"):
    if mode not in ("reduced", "complete"):
        raise ArgumentError(f"`mode` must be 'reduced' or 'complete'. Received: mode={mode!r}")
    x = _as_float(x)
    check_matrix(x)
    return tuple(torch.linalg.qr(x, mode=mode))


def solve(a, b):
    a, b = _pair(a, b)
    check_square(a, "a")
    if b.ndim == a.ndim - 1:
        return torch.linalg.solve(a, b[..., None])[..., 0]
    return torch.linalg.solve(a, b)


def solve_triangular(a, b, lower=False):
    a, b = _pair(a, b)
    check_square(a, "a")
    if b.ndim == a.ndim - 1:
        return torch.linalg.solve_triangular(a, b[..., None], upper=not lower)[..., 0]
    return torch.linalg.solve_triangular(a, b, upper=not lower)


def svd(x, full_matrices=True, compute_uv=True):
    x = _as_float(x)
    check_matrix(x)
    if not compute_uv:
        return torch.linalg.svdvals(x)
    return tuple(torch.linalg.svd(x, full_matrices=full_matrices))


def _default_rtol(x):
    return max(x.shape[-2:]) * torch.finfo(x.dtype).eps


def lstsq(a, b, rcond=None):
    a, b = _pair(a, b)
    if a.ndim != 2:
        raise ShapeError(f"`lstsq` expects a 2D `a`. Received: a.shape={tuple(a.shape)}")
    # pinv keeps numpy's rcond semantics (relative cut-off on singular values) and gradients
    p = torch.linalg.pinv(a, rtol=_default_rtol(a) if rcond is None else rcond)
    return p @ b


def matrix_rank(x, tol=None):
    x = _as_float(x)
    check_matrix(x)
    s = torch.linalg.svdvals(x)
    threshold = s.amax(dim=-1, keepdim=True) * _default_rtol(x) if tol is None else tol
    return torch.sum(s > threshold, dim=-1).to(torch.int32)


def pinv(x, rcond=None):
    x = _as_float(x)
    check_matrix(x)
    return torch.linalg.pinv(x, rtol=_default_rtol(x) if rcond is None else rcond)


def jvp(fun, primals, tangents, has_aux=False):
    return torch.func.jvp(fun, tuple(primals), tuple(tangents), has_aux=has_aux)
