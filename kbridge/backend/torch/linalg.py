"""torch backend: linear algebra ops."""

import torch

from kbridge.backend.common.shared import include
from kbridge.backend.torch.math import _as_float  # noqa: F401 - read by the shared modules
from kbridge.errors import ArgumentError

include("linalg", globals())
_solve = torch.linalg.solve


def _solve_triangular(a, b, lower):
    return torch.linalg.solve_triangular(a, b, upper=not lower)


def cholesky(x, upper=False):
    return torch.linalg.cholesky(_square(x), upper=upper)


def cholesky_inverse(x, upper=False):  # torch has a fused kernel: torch.cholesky_inverse
    x = _square(x)
    # Only the factor's triangle is read: masking keeps the other triangle's gradient zero.
    return torch.cholesky_inverse(torch.triu(x) if upper else torch.tril(x), upper=upper)


det, inv = map(_on_square, (torch.linalg.det, torch.linalg.inv))


def eig(x):
    return tuple(torch.linalg.eig(_square(x)))


def eigh(x):
    x = _square(x)
    # Symmetrised, so every backend reads (and differentiates) both triangles alike.
    return tuple(torch.linalg.eigh((x + x.mH) / 2))


def lu_factor(x):
    lu, pivots = torch.linalg.lu_factor(_matrix(x))
    return lu, (pivots - 1).to(torch.int32)  # LAPACK's 1-based pivots -> 0-based


def norm(x, ord=None, axis=None, keepdims=False):
    x = _as_float(x)
    axis = check_norm_args(ord, axis)
    if axis is None and ord is not None and x.ndim > 2:
        raise ArgumentError(f"`ord` needs `axis` for inputs of rank > 2. Received: ord={ord!r}")
    return torch.linalg.norm(x, ord=ord, dim=axis, keepdim=keepdims)


def qr(x, mode="reduced"):
    check_qr_mode(mode)
    return tuple(torch.linalg.qr(_matrix(x), mode=mode))


def svd(x, full_matrices=True, compute_uv=True):
    x = _matrix(x)
    if not compute_uv:
        return torch.linalg.svdvals(x)
    return tuple(torch.linalg.svd(x, full_matrices=full_matrices))


def pinv(x, rcond=None):
    x = _matrix(x)
    return torch.linalg.pinv(x, rtol=_default_rtol(x) if rcond is None else rcond)


def jvp(fun, primals, tangents, has_aux=False):
    return torch.func.jvp(fun, tuple(primals), tuple(tangents), has_aux=has_aux)
