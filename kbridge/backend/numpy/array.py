"""numpy backend: array ops (shape, indexing, reductions, sorting, statistics, contractions).

The ops are the shared numpy-like ones (``kbridge/backend/shared/array.py``) over numpy; below
them, what only numpy does. This backend is the reference the others are tested against.
"""

import numpy as np

from kbridge.backend.common.dtypes import numpy_dtype
from kbridge.backend.common.shared import include
from kbridge.backend.numpy.core import convert_to_tensor, promote

include("array_composite", globals())
include("array_xp", globals(), xp=np, tensor_type=np.ndarray, convert_to_tensor=convert_to_tensor,
        promote=promote)
include("array", globals(), xp=np, result=np.asarray, to_dtype=numpy_dtype)


def diagonal(x, offset=0, axis1=0, axis2=1):
    # np.diagonal returns a read-only view
    return np.diagonal(_a(x), offset, axis1, axis2).copy()


def argpartition(x, kth, axis=-1):
    # numpy has a real partition kernel
    return np.argpartition(_a(x), kth, axis=axis).astype("int32")


def bincount(x, weights=None, minlength=0, sparse=False):
    _check_dense(sparse)
    x = _a(x)
    weights = None if weights is None else _a(weights)
    dt = _bincount_dtype(weights)
    if x.ndim == 2:
        return np.stack([np.bincount(r, None if weights is None else w, minlength)
                         for r, w in zip(x, x if weights is None else weights)]).astype(dt)
    return np.bincount(x, weights, minlength).astype(dt)


def view(x, dtype=None):
    x = _a(x)
    if dtype is None:
        return x
    dt = numpy_dtype(dtype)
    return (x if x.dtype.itemsize == dt.itemsize else np.ascontiguousarray(x)).view(dt)
