"""Linear-algebra ops composed of other ops, shared by every backend: input checks, the
vector-or-matrix right-hand sides of ``solve``/``solve_triangular``, ``lstsq`` through
``pinv``, ``matrix_rank`` and ``cholesky_inverse`` through triangular solves, and
:func:`_on_square` for the matrix functions a framework has as kernels.

Bindings: none beyond ``ops``. The includer defines ``_as_float(x)`` (ints and bools become
floatx), ``_solve(a, b)`` and ``_solve_triangular(a, b, lower)`` on matrix right-hand sides,
``pinv`` and ``svd``.
"""

import numpy as np

from kbridge.errors import ArgumentError, ShapeError

NORM_ORDS = {None, "fro", "nuc", np.inf, -np.inf, 1, -1, 2, -2}  # valid matrix-norm orders


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


def _square(x, name="x"):
    """``x`` as floats, checked to be a (batch of) square matrices."""
    x = _as_float(x)
    check_square(x, name)
    return x


def _matrix(x, name="x"):
    """``x`` as floats, checked to be a (batch of) matrices."""
    x = _as_float(x)
    check_matrix(x, name)
    return x


def _on_square(kernel):
    """The op ``kernel(x)`` on ``x`` as floats, checked to be a (batch of) square matrices."""
    def op(x):
        return kernel(_square(x))
    return op


def _pair(a, b):
    """``a`` and ``b`` as floats of their common dtype."""
    return ops.promote(_as_float(a), _as_float(b))


def check_norm_args(ord, axis):
    """``axis`` as an int, tuple or None; raises on an invalid matrix-norm ``ord``."""
    if isinstance(axis, list):
        axis = tuple(axis)
    if isinstance(axis, tuple) and len(axis) == 2 and ord not in NORM_ORDS:
        raise ArgumentError(
            f"Invalid `ord` for a matrix norm. Expected one of {sorted(map(str, NORM_ORDS))}. "
            f"Received: ord={ord!r}"
        )
    return axis


def check_qr_mode(mode):
    if mode not in ("reduced", "complete"):
        raise ArgumentError(f"`mode` must be 'reduced' or 'complete'. Received: mode={mode!r}")


def _default_rtol(x):
    return max(x.shape[-2:]) * np.finfo(ops.dtype(x)).eps


def solve(a, b):
    a, b = _pair(a, b)
    check_square(a, "a")
    if len(b.shape) == len(a.shape) - 1:  # a batch of vectors
        return _solve(a, b[..., None])[..., 0]
    return _solve(a, b)


def solve_triangular(a, b, lower=False):
    a, b = _pair(a, b)
    check_square(a, "a")
    if len(b.shape) == len(a.shape) - 1:
        return _solve_triangular(a, b[..., None], lower)[..., 0]
    return _solve_triangular(a, b, lower)


def cholesky_inverse(x, upper=False):
    x = _square(x)
    eye = ops.broadcast_to(ops.eye(x.shape[-1], dtype=ops.dtype(x)), x.shape)
    inv_factor = solve_triangular(x, eye, lower=not upper)
    t = ops.swapaxes(inv_factor, -1, -2)
    # A = L L^T -> A^-1 = L^-T L^-1 ;  A = U^T U -> A^-1 = U^-1 U^-T
    return ops.matmul(inv_factor, t) if upper else ops.matmul(t, inv_factor)


def lstsq(a, b, rcond=None):
    a, b = _pair(a, b)
    if len(a.shape) != 2:
        raise ShapeError(f"`lstsq` expects a 2D `a`. Received: a.shape={tuple(a.shape)}")
    # pinv keeps numpy's rcond semantics (relative cut-off on singular values) and gradients
    return ops.matmul(pinv(a, rcond), b)


def matrix_rank(x, tol=None):
    x = _matrix(x)
    s = svd(x, compute_uv=False)
    threshold = ops.max(s, axis=-1, keepdims=True) * _default_rtol(x) if tol is None else tol
    return ops.cast(ops.count_nonzero(s > threshold, axis=-1), "int32")
