"""TensorFlow backend: tensors, Variables (``tf.Variable``), conversion and dtype helpers."""

import contextlib

import numpy as np
import tensorflow as tf

from kbridge.backend.common import variables
from kbridge.backend.common.convert import to_numpy_array
from kbridge.backend.common.dtypes import promotion_key, standardize_dtype
from kbridge.backend.common.shared import include

NAME = "tensorflow"
IS_DIFFERENTIABLE = True


def to_tf_dtype(dtype):
    if isinstance(dtype, tf.dtypes.DType):
        return dtype
    return tf.as_dtype(standardize_dtype(dtype))


class Variable(variables.Variable):
    backend_name = "tensorflow"
    # ``tf.GradientTape.gradient(loss, layer.trainable_weights)`` (Keras's TF idiom) differentiates
    # with respect to the wrapped tf.Variable through its resource handle.
    _should_act_as_resource_variable = True

    @property
    def handle(self):
        return self._value.handle

    def _to_native(self, value, dtype):
        return convert_to_tensor(value, dtype)

    def _initialize(self, native):
        # tf.Variable.trainable is fixed here; kbridge's optimizers read ``self.trainable``.
        self._value = tf.Variable(native, trainable=self.trainable, name=self.name)

    def _direct_assign(self, native):
        self._value.assign(native)

    def numpy(self):
        return self._value.numpy()


def _variable_to_tensor(var, dtype=None, name=None, as_ref=False):
    return tf.convert_to_tensor(var.value, dtype=dtype, name=name)


# Lets TF ops take a kbridge Variable wherever they take a tensor.
tf.register_tensor_conversion_function(Variable, _variable_to_tensor)


def is_tensor(x):
    return tf.is_tensor(x)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if isinstance(x, variables.Variable):
        x = x.value if x.backend_name == "tensorflow" else x.numpy()
    if isinstance(x, tf.IndexedSlices):  # an Embedding's gradient: densified
        x = tf.convert_to_tensor(x)
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


# --- control flow: tf.cond / tf.while_loop, so every op also works inside tf.function -------
include("core", globals(), tensor_types=(tf.Tensor, tf.Variable), native_dtype=to_tf_dtype,
        to_dtype=convert_to_tensor, promotion_key_of=promotion_key,
        loop_scope=contextlib.nullcontext)


# Unknown static dimensions are read from the running graph.
def shape(x):
    static = x.shape
    if static.rank is not None and None not in static.as_list():
        return tuple(static.as_list())
    dynamic = tf.shape(x)
    return tuple(d if d is not None else dynamic[i] for i, d in enumerate(static.as_list()))


def cond(pred, true_fn, false_fn):
    return tf.cond(pred, true_fn, false_fn)


def switch(index, branches, *operands):
    index = tf.clip_by_value(tf.convert_to_tensor(index, tf.int32), 0, len(branches) - 1)
    return tf.switch_case(index, [lambda b=b: b(*operands) for b in branches])


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    is_sequence = isinstance(loop_vars, (list, tuple))
    loop_vars = tuple(loop_vars) if is_sequence else (loop_vars,)

    def step(*state):
        out = body(*state)
        return tuple(out) if isinstance(out, (list, tuple)) else (out,)

    out = tf.while_loop(cond, step, loop_vars, maximum_iterations=maximum_iterations)
    return tuple(out) if is_sequence else out[0]


def fori_loop(lower, upper, body_fun, init_val):
    _, val = tf.while_loop(
        lambda i, _: i < upper,
        lambda i, val: (i + 1, body_fun(i, val)),
        (tf.convert_to_tensor(lower), init_val),
    )
    return val


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    if xs is None:
        if length is None:
            raise ValueError("`scan` needs `xs` or `length`. Received: xs=None, length=None")
        x_leaves = []
        n = length
    else:
        x_leaves = [tf.convert_to_tensor(leaf) for leaf in tf.nest.flatten(xs)]
        n = x_leaves[0].shape[0]
        if n is None:
            n = tf.shape(x_leaves[0])[0]

    def slice_at(i):
        if xs is None:
            return None
        return tf.nest.pack_sequence_as(xs, [leaf[i] for leaf in x_leaves])

    # The first step runs outside the loop to learn the structure and dtypes of ``y``.
    first = n - 1 if reverse else 0
    init = tf.nest.map_structure(tf.convert_to_tensor, init)
    carry, y = f(init, slice_at(first))
    carry = tf.nest.map_structure(
        lambda c, c0: tf.cast(tf.convert_to_tensor(c), c0.dtype), carry, init)
    y_leaves = [tf.convert_to_tensor(leaf) for leaf in tf.nest.flatten(y)]
    arrays = [tf.TensorArray(leaf.dtype, size=n, element_shape=leaf.shape).write(first, leaf)
              for leaf in y_leaves]

    def body(step, carry, arrays):
        i = n - 1 - step if reverse else step
        carry, y = f(carry, slice_at(i))
        arrays = [a.write(i, leaf) for a, leaf in zip(arrays, tf.nest.flatten(y))]
        return step + 1, carry, arrays

    _, carry, arrays = tf.while_loop(
        lambda step, *_: step < n, body, (tf.constant(1), carry, arrays),
        parallel_iterations=1, maximum_iterations=n,
    )
    return carry, tf.nest.pack_sequence_as(y, [a.stack() for a in arrays])


def _output_signature(f, xs):
    first = tf.nest.map_structure(lambda x: x[0], xs)
    return tf.nest.map_structure(
        lambda y: tf.TensorSpec.from_tensor(tf.convert_to_tensor(y)), f(first))


def map(f, xs):  # noqa: A001 - the Keras op name
    xs = tf.nest.map_structure(tf.convert_to_tensor, xs)
    return tf.map_fn(f, xs, fn_output_signature=_output_signature(f, xs))


def vectorized_map(function, elements):
    return tf.vectorized_map(function, elements)


def stop_gradient(variable):
    return tf.stop_gradient(variable)


def _custom_gradient(f, args, kwargs):
    # tf.custom_gradient passes the upstream gradients positionally, as kbridge does.
    fn = (lambda *a: f(*a, **kwargs)) if kwargs else f
    return tf.custom_gradient(fn)(*[convert_to_tensor(a) for a in args])


# --- slices and scatters -------------------------------------------------------------------
def slice(inputs, start_indices, shape):  # noqa: A001 - the Keras op name
    return tf.slice(convert_to_tensor(inputs), start_indices, shape)


def slice_update(inputs, start_indices, updates):
    inputs = convert_to_tensor(inputs)
    updates = convert_to_tensor(updates, inputs.dtype)
    # Index every element of the block, then one tensor_scatter_nd_update (also for
    # start indices that are graph tensors).
    starts = tf.cast(tf.convert_to_tensor(start_indices), tf.int32)
    ranges = [tf.range(n) + starts[i] for i, n in enumerate(updates.shape)]
    grid = tf.stack(tf.meshgrid(*ranges, indexing="ij"), axis=-1)
    return tf.tensor_scatter_nd_update(inputs, grid, updates)


def scatter(indices, values, shape):  # tf has a fused kernel: tf.scatter_nd
    values = convert_to_tensor(values)
    return tf.scatter_nd(convert_to_tensor(indices), values, shape)


_SCATTER_FNS = {None: tf.tensor_scatter_nd_update, "add": tf.tensor_scatter_nd_add,
                "max": tf.tensor_scatter_nd_max, "min": tf.tensor_scatter_nd_min}


def scatter_update(inputs, indices, updates, reduction=None):
    inputs = convert_to_tensor(inputs)
    indices = convert_to_tensor(indices)
    updates = convert_to_tensor(updates, inputs.dtype)
    fn = _SCATTER_FNS.get(reduction)
    if fn is not None:
        return fn(inputs, indices, updates)
    if reduction != "mul":
        raise ValueError(
            "`reduction` must be None, 'add', 'mul', 'max' or 'min'. "
            f"Received: reduction={reduction!r}"
        )
    # No tensor_scatter_nd_mul: multiply the updates per target position (empty segments
    # give 1), then scale the indexed rows of a flattened view.
    depth = indices.shape[-1]
    lead = tf.shape(inputs)[:depth]
    strides = tf.math.cumprod(tf.cast(lead, tf.int64), exclusive=True, reverse=True)
    flat_index = tf.reduce_sum(tf.cast(tf.reshape(indices, [-1, depth]), tf.int64) * strides, -1)
    rows = tf.reduce_prod(lead)
    flat = tf.reshape(inputs, tf.concat([[rows], tf.shape(inputs)[depth:]], 0))
    flat_updates = tf.reshape(updates, tf.concat([[-1], tf.shape(inputs)[depth:]], 0))
    factors = tf.math.unsorted_segment_prod(flat_updates, flat_index, rows)
    return tf.reshape(flat * factors, tf.shape(inputs))


def unstack(x, num=None, axis=0):
    return tf.unstack(convert_to_tensor(x), num=num, axis=axis)

