"""linalg ops: decompositions, solvers and norms, batched over leading dimensions."""

from kbridge.backend.common.dispatch import op_decorator
from kbridge.backend.common.keras_tensor import KerasTensor

op = op_decorator("linalg")


def _float_dtype(dtype):
    from kbridge.backend.common.dtypes import floatx, is_complex, is_float

    return dtype if is_float(dtype) or is_complex(dtype) else floatx()


def _same_spec(x, *args, **kwargs):
    return KerasTensor(x.shape, _float_dtype(x.dtype))


def _solve_spec(a, b):
    from kbridge.backend.common.dtypes import result_type

    return KerasTensor(b.shape, result_type(_float_dtype(a.dtype), _float_dtype(b.dtype)))


@op(spec=_same_spec)
def cholesky(x, upper=False):
    """Cholesky factor of (a batch of) positive-definite matrices: lower ``L`` with
    ``x = L L^T``, or upper ``U = L^T`` when ``upper``."""


@op
def cholesky_inverse(x, upper=False):
    """Inverse of ``A`` given its Cholesky factor ``x`` (lower, or upper when ``upper``).

    Example:
        >>> L = kbridge.ops.cholesky(a)
        >>> kbridge.ops.cholesky_inverse(L)          # == kbridge.ops.inv(a)
    """


@op
def det(x):
    """Determinant of (a batch of) square matrices."""


@op
def eig(x):
    """Eigenvalues and right eigenvectors of (a batch of) square matrices, both complex."""


@op
def eigh(x):
    """Eigenvalues (ascending) and eigenvectors of (a batch of) symmetric matrices."""


@op(spec=_same_spec)
def inv(x):
    """Inverse of (a batch of) square matrices."""


@op
def lu_factor(x):
    """LU factorisation with partial pivoting: ``(lu, pivots)`` in LAPACK's packed layout,
    0-based int32 pivots (row ``i`` was swapped with row ``pivots[i]``)."""


@op
def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norm (``axis`` int or None on a vector) or matrix norm (``axis`` a pair).

    Example:
        >>> kbridge.ops.norm(np.array([[3., 4.]]), axis=-1)            # [5.]
        >>> kbridge.ops.norm(np.eye(3), ord="nuc", axis=(0, 1))       # 3.
    """


@op
def qr(x, mode="reduced"):
    """QR decomposition ``(q, r)``; ``mode`` is 'reduced' or 'complete'."""


@op(spec=_solve_spec)
def solve(a, b):
    """Solution ``x`` of ``a @ x = b`` for square ``a``."""


@op
def solve_triangular(a, b, lower=False):
    """Solution ``x`` of ``a @ x = b`` reading only the lower (or upper) triangle of ``a``."""


@op
def svd(x, full_matrices=True, compute_uv=True):
    """Singular value decomposition ``(u, s, vh)``, or only ``s`` when not ``compute_uv``."""


@op
def lstsq(a, b, rcond=None):
    """Least-squares solution of ``a @ x = b`` (singular values below ``rcond`` ignored)."""


@op
def matrix_rank(x, tol=None):
    """Number of singular values above ``tol`` (default: ``max(s) * max(m, n) * eps``), int32."""


@op
def pinv(x, rcond=None):
    """Moore-Penrose pseudo-inverse of (a batch of) matrices."""


@op
def jvp(fun, primals, tangents, has_aux=False):
    """Forward-mode derivative: ``(fun(*primals), J @ tangents)`` (and ``aux`` if
    ``has_aux``); ``primals`` and ``tangents`` are matching tuples.

    Example:
        >>> out, tangent = kbridge.ops.jvp(lambda x: x * x, (x,), (ones,))  # tangent == 2 * x
    """
