"""JAX backend: tensors, Variables, conversion and dtype helpers."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from kbridge.backend.common import variables
from kbridge.backend.common.convert import to_numpy_array
from kbridge.backend.common.dtypes import numpy_dtype, promotion_key, standardize_dtype
from kbridge.backend.common.shared import include

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
        self._value = _distributed(self, native)

    def _direct_assign(self, native):
        # jax arrays are immutable: assignment rebinds, which also works under tracing.
        self._value = _distributed(self, native)

    def numpy(self):
        return np.asarray(self._value)

    def __jax_array__(self):
        return self._value


# Set by kbridge.backend.jax.distribution_lib: places a Variable's value as the current
# kbridge.distribution lays it out (a no-op without one).
_distribution_hook = None


def _distributed(variable, native):
    if _distribution_hook is None:
        return native
    variable._value = native  # the layout lookup reads the shape
    return _distribution_hook(variable, native)


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


# --- control flow: lax primitives, so every op also works inside jax.jit --------------------
from jax import lax  # noqa: E402

include("core", globals(), tensor_types=jax.Array, native_dtype=to_jax_dtype,
        to_dtype=jnp.asarray, promotion_key_of=promotion_key, loop_scope=contextlib.nullcontext)


def cond(pred, true_fn, false_fn):
    return lax.cond(pred, true_fn, false_fn)


def switch(index, branches, *operands):
    # lax.switch clamps the index into range, as the other backends do by hand.
    return lax.switch(index, branches, *operands)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    is_sequence = isinstance(loop_vars, (list, tuple))
    loop_vars = tuple(loop_vars) if is_sequence else (loop_vars,)

    def step(state):
        out = body(*state)
        return tuple(out) if isinstance(out, (list, tuple)) else (out,)

    if maximum_iterations is None:
        out = lax.while_loop(lambda state: cond(*state), step, loop_vars)
    else:
        out, _ = lax.while_loop(
            lambda s: jnp.logical_and(s[1] < maximum_iterations, cond(*s[0])),
            lambda s: (step(s[0]), s[1] + 1),
            (loop_vars, jnp.asarray(0, "int32")),
        )
    return out if is_sequence else out[0]


def fori_loop(lower, upper, body_fun, init_val):
    return lax.fori_loop(lower, upper, body_fun, init_val)


def _traced(*trees):
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(trees))


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    if not _traced(init, xs):
        # Eagerly, lax.scan compiles the body anew on every call (about a second for an
        # RNN step); running the body's ops in a Python loop is much faster. Under jit the
        # carry/inputs are tracers and lax.scan compiles the loop once.
        return loop_scan(f, init, xs, length, reverse)
    return lax.scan(f, init, xs=xs, length=length, reverse=reverse, unroll=unroll)


def associative_scan(f, elems, reverse=False, axis=0):
    if axis < 0:  # lax wants a non-negative axis
        axis += jnp.ndim(jax.tree_util.tree_leaves(elems)[0])
    return lax.associative_scan(f, elems, reverse=reverse, axis=axis)


def map(f, xs):  # noqa: A001 - the Keras op name
    return lax.map(f, xs)


def vectorized_map(function, elements):
    return jax.vmap(function)(elements)


def stop_gradient(variable):
    return lax.stop_gradient(variable)


def _custom_gradient(f, args, kwargs):
    @jax.custom_gradient
    def inner(*a):
        output, grad_fn = f(*a, **kwargs)

        def vjp(upstream):
            # Several outputs: one upstream gradient per output, positionally (as tf).
            if isinstance(output, (tuple, list)):
                grads = grad_fn(*upstream)
            else:
                grads = grad_fn(upstream)
            return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)

        return output, vjp

    return inner(*args)


# --- slices and scatters -------------------------------------------------------------------
def slice(inputs, start_indices, shape):  # noqa: A001 - the Keras op name
    return lax.dynamic_slice(convert_to_tensor(inputs), start_indices, tuple(shape))


def slice_update(inputs, start_indices, updates):
    inputs = convert_to_tensor(inputs)
    updates = convert_to_tensor(updates, inputs.dtype)
    return lax.dynamic_update_slice(inputs, updates, start_indices)


def _index_rows(indices):
    indices = convert_to_tensor(indices)
    depth = indices.shape[-1]
    return tuple(indices.reshape(-1, depth).T), depth


_SCATTER_METHODS = {None: "set", "add": "add", "mul": "multiply", "max": "max", "min": "min"}


def scatter_update(inputs, indices, updates, reduction=None):
    inputs = convert_to_tensor(inputs)
    rows, depth = _index_rows(indices)
    method = _SCATTER_METHODS.get(reduction)
    if method is None:
        raise ValueError(
            "`reduction` must be None, 'add', 'mul', 'max' or 'min'. "
            f"Received: reduction={reduction!r}"
        )
    updates = convert_to_tensor(updates, inputs.dtype).reshape((-1,) + inputs.shape[depth:])
    return getattr(inputs.at[rows], method)(updates)


def unstack(x, num=None, axis=0):
    x = convert_to_tensor(x)
    return [lax.index_in_dim(x, i, axis, keepdims=False) for i in range(x.shape[axis])]


def saturate_cast(x, dtype):  # the limits of the dtype jax narrows ``dtype`` to
    x = convert_to_tensor(x)
    limits = saturate_limits(standardize_dtype(x.dtype), to_jax_dtype(dtype))
    if limits is not None:
        x = jnp.clip(x, *limits)
    return cast(x, dtype)
