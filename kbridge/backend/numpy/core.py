"""numpy backend: tensors, Variables, conversion and dtype helpers."""

import numpy as np

from kbridge.backend.common import variables
from kbridge.backend.common.convert import dtype_of, to_numpy_array
from kbridge.backend.common.dtypes import numpy_dtype, result_type, standardize_dtype

NAME = "numpy"
IS_DIFFERENTIABLE = False


class Variable(variables.Variable):
    backend_name = "numpy"

    def _to_native(self, value, dtype):
        return convert_to_tensor(value, dtype)

    def _initialize(self, native):
        self._value = np.array(native, copy=True)

    def _direct_assign(self, native):
        self._value = np.array(native, copy=True)

    def numpy(self):
        return self._value


def is_tensor(x):
    return isinstance(x, np.ndarray)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if isinstance(x, variables.Variable):
        x = x.numpy() if x.backend_name != "numpy" else x.value
    if isinstance(x, np.ndarray) and dtype is None:
        return x
    return to_numpy_array(x, dtype)


def convert_to_numpy(x):
    if isinstance(x, variables.Variable):
        return np.asarray(x.numpy())
    return np.asarray(x)


def cast(x, dtype):
    dt = numpy_dtype(dtype)
    x = convert_to_tensor(x)
    return x if x.dtype == dt else x.astype(dt)


def promote(*xs):
    """``xs`` as arrays of their common dtype (kbridge's table; Python scalars are weak)."""
    dt = numpy_dtype(result_type(*[dtype_of(x) for x in xs]))
    return [np.asarray(x, dtype=dt) if not (isinstance(x, np.ndarray) and x.dtype == dt) else x
            for x in xs]


def shape(x):
    return tuple(np.shape(x))


def dtype(x):
    return standardize_dtype(np.asarray(x).dtype)