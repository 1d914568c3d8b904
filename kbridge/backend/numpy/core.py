"""numpy backend: tensors, Variables, conversion and dtype helpers."""

import numpy as np

from kbridge.backend.common import variables
from kbridge.backend.common.convert import to_numpy_array
from kbridge.backend.common.dtypes import (
    floatx,
    numpy_dtype,
    promotion_key,
    result_type_of_keys,
    standardize_dtype,
)

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


def cast(x, dtype):
    dt = numpy_dtype(dtype)
    if not isinstance(x, np.ndarray):
        # Python numbers go straight to the target dtype (not through floatx first).
        return convert_to_tensor(x, dt)
    return x if x.dtype == dt else x.astype(dt)


_PROMOTED = {}  # (promotion keys..., floatx) -> target dtype


def promote(*xs):
    """``xs`` as tensors of their common dtype (kbridge's table; Python scalars are weak).

    Hot path of every elementwise op: same-dtype tensors return at once, otherwise the
    target dtype is cached per combination of input dtypes.
    """
    if len(xs) == 2:
        a, b = xs
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype:
            return xs
    keys = tuple([promotion_key(x) for x in xs]) + (floatx(),)
    dt = _PROMOTED.get(keys)
    if dt is None:
        dt = _PROMOTED[keys] = numpy_dtype(result_type_of_keys(keys[:-1]))
    return [x if isinstance(x, np.ndarray) and x.dtype == dt else np.asarray(x, dtype=dt) for x in xs]


def shape(x):
    return tuple(np.shape(x))


def dtype(x):
    return standardize_dtype(np.asarray(x).dtype)

# --- nested structures (lists, tuples, namedtuples, dicts) ---------------------------------
builtins_slice = slice  # the builtin; this module defines the ``slice`` op below
# A small pytree for the backends whose control flow runs as Python loops (numpy, torch).
# ``None`` is an empty node, as in jax.tree_util.
_LEAF = object()


def tree_flatten(tree):
    """``(leaves, treedef)`` of a nested structure; dict keys in sorted order."""
    leaves = []

    def walk(t):
        if t is None:
            return None
        if isinstance(t, (list, tuple)):
            return (t.__class__, [walk(v) for v in t])
        if isinstance(t, dict):
            keys = sorted(t)
            return (dict, keys, [walk(t[k]) for k in keys])
        leaves.append(t)
        return _LEAF

    return leaves, walk(tree)


def tree_unflatten(treedef, leaves):
    """Inverse of :func:`tree_flatten`."""
    it = iter(leaves)

    def build(d):
        if d is _LEAF:
            return next(it)
        if d is None:
            return None
        if d[0] is dict:
            return {k: build(c) for k, c in zip(d[1], d[2])}
        cls, children = d
        values = [build(c) for c in children]
        return cls(*values) if hasattr(cls, "_fields") else cls(values)

    return build(treedef)


def saturate_limits(in_dtype, out_dtype):
    """``(low, high)`` in ``in_dtype`` to clip to before casting to ``out_dtype``; None: none.

    The limits are the intersection of both ranges, nudged towards zero when the bound of
    ``out_dtype`` is not exactly representable in ``in_dtype`` (e.g. 2**31 - 1 in float32).
    """
    import ml_dtypes

    in_dt, out_dt = numpy_dtype(in_dtype), numpy_dtype(out_dtype)
    if in_dt.kind in "bc" or out_dt.kind in "bc":
        return None
    in_info = np.iinfo(in_dt) if in_dt.kind in "iu" else ml_dtypes.finfo(in_dt)
    out_info = np.iinfo(out_dt) if out_dt.kind in "iu" else ml_dtypes.finfo(out_dt)
    low = np.array(max(float(in_info.min), float(out_info.min))
                   if in_dt.kind == "f" or out_dt.kind == "f"
                   else max(int(in_info.min), int(out_info.min))).astype(in_dt)
    high = np.array(min(float(in_info.max), float(out_info.max))
                    if in_dt.kind == "f" or out_dt.kind == "f"
                    else min(int(in_info.max), int(out_info.max))).astype(in_dt)
    if in_dt.kind == "f":
        if float(low) < float(out_info.min):
            low = np.nextafter(low, np.array(0, in_dt))
        if float(high) > float(out_info.max):
            high = np.nextafter(high, np.array(0, in_dt))
    return low.item(), high.item()


# --- control flow: plain Python, with the numpy backend active for the user functions -------
def _numpy_scope():
    from kbridge.backend.common import context

    return context.use("numpy")


def cond(pred, true_fn, false_fn):
    with _numpy_scope():
        return true_fn() if pred else false_fn()


def switch(index, branches, *operands):
    index = min(max(int(index), 0), len(branches) - 1)
    with _numpy_scope():
        return branches[index](*operands)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    is_sequence = isinstance(loop_vars, (list, tuple))
    loop_vars = tuple(loop_vars) if is_sequence else (loop_vars,)
    count = 0
    with _numpy_scope():
        while (maximum_iterations is None or count < maximum_iterations) and cond(*loop_vars):
            loop_vars = body(*loop_vars)
            loop_vars = tuple(loop_vars) if isinstance(loop_vars, (list, tuple)) else (loop_vars,)
            count += 1
    return loop_vars if is_sequence else loop_vars[0]


def fori_loop(lower, upper, body_fun, init_val):
    val = init_val
    with _numpy_scope():
        for i in range(int(lower), int(upper)):
            val = body_fun(i, val)
    return val


def loop_scan(f, init, xs, length, reverse, stack, index):
    """``scan`` as a Python loop; ``stack(list)`` and ``index(leaf, i)`` are the backend's."""
    if xs is None:
        if length is None:
            raise ValueError("`scan` needs `xs` or `length`. Received: xs=None, length=None")
        n, x_leaves, x_def = int(length), None, None
    else:
        x_leaves, x_def = tree_flatten(xs)
        n = int(x_leaves[0].shape[0]) if x_leaves else int(length or 0)
        if length is not None and int(length) != n:
            raise ValueError(
                f"`length` must match the leading dimension of `xs`. Received: length={length}, "
                f"xs leading dimension {n}"
            )
    carry, ys = init, [None] * n
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        x = None if x_def is None else tree_unflatten(x_def, [index(l, i) for l in x_leaves])
        carry, ys[i] = f(carry, x)
    if n == 0:
        return carry, None
    y_def = tree_flatten(ys[0])[1]
    columns = zip(*[tree_flatten(y)[0] for y in ys])
    return carry, tree_unflatten(y_def, [stack(list(c)) for c in columns])


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    with _numpy_scope():
        return loop_scan(f, init, xs, length, reverse, np.stack, lambda leaf, i: leaf[i])


def hillis_steele_scan(f, elems, reverse, axis, take, concat, flip):
    """Inclusive associative scan in log2(n) rounds of ``f`` (each round combines all pairs
    ``d`` apart). ``take(leaf, start, stop, axis)``, ``concat(list, axis)``, ``flip(leaf, axis)``
    are the backend's."""
    leaves, treedef = tree_flatten(elems)
    if not leaves:
        return elems
    axes = [axis % len(leaf.shape) for leaf in leaves]
    n = int(leaves[0].shape[axes[0]])
    if reverse:
        leaves = [flip(leaf, a) for leaf, a in zip(leaves, axes)]
    d = 1
    while d < n:
        earlier = tree_unflatten(treedef, [take(l, 0, n - d, a) for l, a in zip(leaves, axes)])
        later = tree_unflatten(treedef, [take(l, d, n, a) for l, a in zip(leaves, axes)])
        combined = tree_flatten(f(earlier, later))[0]
        leaves = [concat([take(l, 0, d, a), c], a) for l, c, a in zip(leaves, combined, axes)]
        d *= 2
    if reverse:
        leaves = [flip(leaf, a) for leaf, a in zip(leaves, axes)]
    return tree_unflatten(treedef, leaves)


def _np_take(leaf, start, stop, axis):
    return leaf[(builtins_slice(None),) * axis + (builtins_slice(start, stop),)]


def associative_scan(f, elems, reverse=False, axis=0):
    with _numpy_scope():
        return hillis_steele_scan(f, elems, reverse, axis, _np_take, np.concatenate, np.flip)


def loop_map(f, xs, stack):
    """``f`` on each leading-axis slice of ``xs``, results stacked with ``stack(list)``."""
    leaves, treedef = tree_flatten(xs)
    n = int(leaves[0].shape[0])
    outs = [f(tree_unflatten(treedef, [leaf[i] for leaf in leaves])) for i in range(n)]
    out_def = tree_flatten(outs[0])[1]
    columns = zip(*[tree_flatten(o)[0] for o in outs])
    return tree_unflatten(out_def, [stack(list(c)) for c in columns])


def map(f, xs):  # noqa: A001 - the Keras op name
    with _numpy_scope():
        return loop_map(f, xs, np.stack)


def vectorized_map(function, elements):
    with _numpy_scope():
        return loop_map(function, elements, np.stack)


def stop_gradient(variable):
    return variable


def custom_gradient(f):
    def forward_only(*args, **kwargs):
        from kbridge.backend.common.dispatch import backend_of_values, backend_module

        owner = backend_of_values(*args)
        if owner != NAME:
            return backend_module(owner, "core").custom_gradient(f)(*args, **kwargs)
        return f(*args, **kwargs)[0]

    return forward_only


# --- slices and scatters -------------------------------------------------------------------
def slice(inputs, start_indices, shape):  # noqa: A001 - the Keras op name
    inputs = convert_to_tensor(inputs)
    return inputs[tuple(builtins_slice(int(s), int(s) + int(n))
                        for s, n in zip(start_indices, shape))]


def slice_update(inputs, start_indices, updates):
    out = np.array(convert_to_tensor(inputs), copy=True)
    updates = np.asarray(updates)
    out[tuple(builtins_slice(int(s), int(s) + n)
              for s, n in zip(start_indices, updates.shape))] = updates
    return out


def _index_rows(indices):
    indices = np.asarray(indices)
    depth = indices.shape[-1]
    return tuple(indices.reshape(-1, depth).T), depth


def scatter(indices, values, shape):
    values = convert_to_tensor(values)
    rows, depth = _index_rows(indices)
    shape = tuple(int(d) for d in shape)
    out = np.zeros(shape, dtype=values.dtype)
    np.add.at(out, rows, values.reshape((-1,) + shape[depth:]))
    return out


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


def saturate_cast(x, dtype):
    x = convert_to_tensor(x)
    limits = saturate_limits(x.dtype, dtype)
    if limits is not None:
        x = np.clip(x, *limits)
    return cast(x, dtype)
