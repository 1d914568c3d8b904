"""JAX backend: tensors, Variables, conversion and dtype helpers."""

import jax
import jax.numpy as jnp
import numpy as np

from kbridge.backend.common import variables
from kbridge.backend.common.convert import dtype_of, to_numpy_array
from kbridge.backend.common.dtypes import numpy_dtype, result_type, standardize_dtype

NAME = "jax"
IS_DIFFERENTIABLE = True

_NARROW = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}


def x64_enabled():
    return bool(jax.config.read("jax_enable_x64"))


def to_jax_dtype(dtype):
    """numpy dtype JAX will actually use for ``dtype`` (64-bit only with jax_enable_x64)."""
    name = standardize_dtype(dtype)
    if not x64_enabled():
        name = _NARROW.get(name, name)
    return numpy_dtype(name)


class Variable(variables.Variable):
    backend_name = "jax"

    def _to_native(self, value, dtype):
        return convert_to_tensor(value, dtype)

    def _initialize(self, native):
        self._value = native

    def _direct_assign(self, native):
        # jax arrays are immutable: assignment rebinds, which also works under tracing.
        self._value = native

    def numpy(self):
        return np.asarray(self._value)

    def __jax_array__(self):
        return self._value


def is_tensor(x):
    return isinstance(x, jax.Array)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if isinstance(x, variables.Variable):
        x = x.value if x.backend_name == "jax" else x.numpy()
    if isinstance(x, jax.Array):
        if dtype is None:
            return x
        dt = to_jax_dtype(dtype)
        return x if x.dtype == dt else x.astype(dt)
    arr = to_numpy_array(x, dtype)
    return jnp.asarray(arr, dtype=to_jax_dtype(arr.dtype))


def convert_to_numpy(x):
    if isinstance(x, variables.Variable):
        return x.numpy()
    return np.asarray(x)


def cast(x, dtype):
    return convert_to_tensor(x, dtype)


def promote(*xs):
    """``xs`` as arrays of their common dtype (kbridge's table; Python scalars are weak)."""
    dt = to_jax_dtype(result_type(*[dtype_of(x) for x in xs]))
    return [x if isinstance(x, jax.Array) and x.dtype == dt else jnp.asarray(x, dtype=dt)
            for x in xs]


def shape(x):
    return tuple(x.shape)


def dtype(x):
    return standardize_dtype(x.dtype)