"""numpy backend: tensors, Variables, conversion and dtype helpers."""

import builtins

import numpy as np

from kbridge.backend.common import variables
from kbridge.backend.common.convert import to_numpy_array
from kbridge.backend.common.dtypes import numpy_dtype, promotion_key, standardize_dtype
from kbridge.backend.common.shared import include

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

    def _adopt(self, native):
        self._value = native if native.flags.writeable else np.array(native, copy=True)

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


# --- control flow: plain Python, with the numpy backend active for the user functions -------
def _numpy_scope():
    from kbridge.backend.common import context

    return context.use("numpy")


include("core", globals(), tensor_types=np.ndarray, native_dtype=numpy_dtype,
        to_dtype=np.asarray, promotion_key_of=promotion_key, loop_scope=_numpy_scope)


# numpy also takes Python numbers and lists here.
def cast(x, dtype):
    dt = numpy_dtype(dtype)
    if not isinstance(x, np.ndarray):
        # Python numbers go straight to the target dtype (not through floatx first).
        return convert_to_tensor(x, dt)
    return x if x.dtype == dt else x.astype(dt)


def shape(x):
    return tuple(np.shape(x))


def dtype(x):
    return standardize_dtype(np.asarray(x).dtype)


def vectorized_map(function, elements):
    with _numpy_scope():
        return loop_map(function, elements)


def stop_gradient(variable):
    return variable


def _custom_gradient(f, args, kwargs):
    return f(*args, **kwargs)[0]  # no gradients here: the forward output alone


# --- slices and scatters -------------------------------------------------------------------
def slice_update(inputs, start_indices, updates):
    out = np.array(convert_to_tensor(inputs), copy=True)
    updates = np.asarray(updates)
    out[tuple(builtins.slice(int(s), int(s) + n)
              for s, n in zip(start_indices, updates.shape))] = updates
    return out


def _index_rows(indices):
    indices = np.asarray(indices)
    depth = indices.shape[-1]
    return tuple(indices.reshape(-1, depth).T), depth


_SCATTER_UFUNCS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def scatter_update(inputs, indices, updates, reduction=None):
    out = np.array(convert_to_tensor(inputs), copy=True)
    rows, depth = _index_rows(indices)
    updates = np.asarray(updates, dtype=out.dtype).reshape((-1,) + out.shape[depth:])
    if reduction is None:
        out[rows] = updates
        return out
    ufunc = _SCATTER_UFUNCS.get(reduction)
    if ufunc is None:
        raise ValueError(
            "`reduction` must be None, 'add', 'mul', 'max' or 'min'. "
            f"Received: reduction={reduction!r}"
        )
    ufunc.at(out, rows, updates)
    return out


def unstack(x, num=None, axis=0):
    x = np.moveaxis(convert_to_tensor(x), axis, 0)
    return [x[i] for i in range(x.shape[0])]
