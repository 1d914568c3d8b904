"""TensorFlow backend: tensors, Variables (``tf.Variable``), conversion and dtype helpers."""

import numpy as np
import tensorflow as tf

from kbridge.backend.common import variables
from kbridge.backend.common.convert import dtype_of, to_numpy_array
from kbridge.backend.common.dtypes import result_type, standardize_dtype

NAME = "tensorflow"
IS_DIFFERENTIABLE = True


def to_tf_dtype(dtype):
    if isinstance(dtype, tf.dtypes.DType):
        return dtype
    return tf.as_dtype(standardize_dtype(dtype))


class Variable(variables.Variable):
    backend_name = "tensorflow"

    def _to_native(self, value, dtype):
        return convert_to_tensor(value, dtype)

    def _initialize(self, native):
        self._value = tf.Variable(native, trainable=self._trainable, name=self.name)

    def _direct_assign(self, native):
        self._value.assign(native)

    def numpy(self):
        return self._value.numpy()

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        # tf.Variable.trainable is fixed at creation; kbridge's optimizers read this flag.
        self._trainable = bool(value)


def _variable_to_tensor(var, dtype=None, name=None, as_ref=False):
    return tf.convert_to_tensor(var.value, dtype=dtype, name=name)


# Lets TF ops take a kbridge Variable wherever they take a tensor.
tf.register_tensor_conversion_function(Variable, _variable_to_tensor)


def is_tensor(x):
    return tf.is_tensor(x)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if isinstance(x, variables.Variable):
        x = x.value if x.backend_name == "tensorflow" else x.numpy()
    if isinstance(x, (tf.Tensor, tf.Variable)):
        if dtype is None:
            return x
        dt = to_tf_dtype(dtype)
        return x if x.dtype == dt else tf.cast(x, dt)
    arr = to_numpy_array(x, dtype)
    return tf.convert_to_tensor(arr)


def convert_to_numpy(x):
    if isinstance(x, variables.Variable):
        return x.numpy()
    if isinstance(x, (tf.Tensor, tf.Variable)):
        return np.asarray(x.numpy())
    return np.asarray(x)


def cast(x, dtype):
    return convert_to_tensor(x, dtype)


def promote(*xs):
    """``xs`` as tensors of their common dtype (kbridge's table; Python scalars are weak)."""
    dt = to_tf_dtype(result_type(*[dtype_of(x) for x in xs]))
    return [x if isinstance(x, (tf.Tensor, tf.Variable)) and x.dtype == dt
            else convert_to_tensor(x, dt) for x in xs]


def shape(x):
    static = x.shape
    if static.rank is not None and None not in static.as_list():
        return tuple(static.as_list())
    dynamic = tf.shape(x)
    return tuple(d if d is not None else dynamic[i] for i, d in enumerate(static.as_list()))


def dtype(x):
    return standardize_dtype(x.dtype)