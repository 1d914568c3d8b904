"""numpy backend: linear algebra ops (batched over leading dimensions)."""

import numpy as np

from kbridge.backend.common.dtypes import floatx, numpy_dtype
from kbridge.backend.common.shared import include


def _as_float(x):
    """``x`` as a float (or complex) array: ints and bools become floatx."""
    x = np.asarray(x)
    if x.dtype.kind in "fc":
        return x
    return x.astype(numpy_dtype(floatx()))


include("linalg", globals())
include("linalg_xp", globals(), xp=np)


def _solve_triangular(a, b, lower):
    return np.linalg.solve(np.tril(a) if lower else np.triu(a), b)


def lu_factor(x):
    """Partial-pivoting LU in the packed LAPACK layout: ``(lu, pivots)`` with 0-based, int32
    pivots (row ``i`` was swapped with row ``pivots[i]``), as ``scipy.linalg.lu_factor``."""
    lu = np.array(_matrix(x), copy=True)
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
