"""numpy-like linear-algebra ops, the same over ``numpy`` and ``jax.numpy``.

Bindings: ``xp`` (numpy or jax.numpy). Included after the shared ``linalg`` module, whose
checks these use.
"""

from kbridge.backend.common.shared import bound
from kbridge.errors import ShapeError

xp = bound("xp")
_solve = xp.linalg.solve


def cholesky(x, upper=False):
    lower = xp.linalg.cholesky(_square(x))
    return xp.swapaxes(lower, -1, -2).conj() if upper else lower


def det(x):
    x = _square(x)
    return xp.linalg.det(x).astype(x.dtype)


def eig(x):
    x = _square(x)
    ctype = xp.result_type(x.dtype, xp.complex64)
    return tuple(v.astype(ctype) for v in xp.linalg.eig(x))


def eigh(x):
    x = _square(x)
    # Symmetrised, so every backend reads (and differentiates) both triangles alike.
    return tuple(xp.linalg.eigh((x + xp.swapaxes(x, -1, -2).conj()) / 2))


inv = _on_square(xp.linalg.inv)


def norm(x, ord=None, axis=None, keepdims=False):
    x = _as_float(x)
    axis = check_norm_args(ord, axis)
    out = xp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    return xp.asarray(out).astype(xp.real(x).dtype)


def qr(x, mode="reduced"):
    check_qr_mode(mode)
    return tuple(xp.linalg.qr(_matrix(x), mode=mode))


def svd(x, full_matrices=True, compute_uv=True):
    x = _matrix(x)
    if not compute_uv:
        return xp.linalg.svd(x, compute_uv=False)
    return tuple(xp.linalg.svd(x, full_matrices=full_matrices))


def lstsq(a, b, rcond=None):  # a fused least-squares kernel
    a, b = _pair(a, b)
    if a.ndim != 2:
        raise ShapeError(f"`lstsq` expects a 2D `a`. Received: a.shape={a.shape}")
    return xp.linalg.lstsq(a, b, rcond=_default_rtol(a) if rcond is None else rcond)[0]


def pinv(x, rcond=None):
    x = _matrix(x)
    return xp.linalg.pinv(x, _default_rtol(x) if rcond is None else rcond)
