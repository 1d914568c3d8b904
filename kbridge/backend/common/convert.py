"""Python data -> numpy with kbridge's dtype rules; numpy is the lingua franca of backends."""

import numpy as np

from kbridge.backend.common.dtypes import DEFAULT_INT, floatx, numpy_dtype, standardize_dtype


def _python_dtype(x):
    """kbridge dtype of nested Python scalars/lists: bool, int32, floatx, complex64."""
    kinds = set()

    def walk(v):
        if isinstance(v, (list, tuple)):
            for e in v:
                walk(e)
        else:
            kinds.add(type(v))

    walk(x)
    if not kinds:
        return floatx()
    if kinds <= {bool}:
        return "bool"
    if kinds <= {bool, int}:
        return DEFAULT_INT
    if complex in kinds:
        return "complex64"
    if kinds <= {bool, int, float}:
        return floatx()
    return None  # mixed with arrays/tensors: let numpy decide


def to_numpy_array(x, dtype=None):
    """``x`` (Python data, numpy, or any tensor with ``__array__``) as a numpy array.

    Python scalars and lists follow kbridge's defaults (float -> floatx, int -> int32), not
    numpy's (float64, int64); numpy arrays keep their dtype unless ``dtype`` is given.
    """
    if dtype is not None:
        dt = numpy_dtype(dtype)
        if isinstance(x, (int, float, bool, complex, list, tuple)):
            return np.asarray(x, dtype=dt)
        return np.asarray(x).astype(dt, copy=False)
    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(x)
    if isinstance(x, (int, float, bool, complex, list, tuple)):
        inferred = _python_dtype(x)
        if inferred is not None:
            return np.asarray(x, dtype=numpy_dtype(inferred))
    return np.asarray(x)


def dtype_of(x):
    """kbridge dtype of a tensor, a weak dtype for Python scalars ("int*", "float*")."""
    cls = x.__class__
    if cls is float:
        return "float*"
    if cls is int:
        return "int*"
    if cls is bool:
        return "bool"
    if cls is complex:
        return "complex*"
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return standardize_dtype(_python_dtype(x) or np.asarray(x).dtype)
    return standardize_dtype(dtype)
