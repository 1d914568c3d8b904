"""Core ops shared by every backend: dtype promotion, nested-structure helpers, control flow
as Python loops (the numpy and torch backends run it eagerly; jax and tensorflow override it
with their graph primitives), the custom-gradient entry point, saturating casts and
``scatter`` (into zeros, by the includer's ``scatter_update``).

Bindings: ``tensor_types`` (the framework's tensor class, or a tuple of them),
``native_dtype`` (a dtype name to the framework's dtype), ``to_dtype(x, dtype)`` (``x`` as a
tensor of that framework dtype), ``promotion_key_of`` (usually
:func:`~kbridge.backend.common.dtypes.promotion_key`) and ``loop_scope`` (a context-manager
factory entered around user functions run by the Python control flow). The includer defines
``NAME``, ``convert_to_tensor``, ``scatter_update`` and ``_custom_gradient(f, args, kwargs)``
(``f``'s forward output with its gradient attached).
"""

import builtins

import numpy as np

from kbridge.backend.common import dispatch
from kbridge.backend.common.dtypes import (
    floatx,
    numpy_dtype,
    result_type_of_keys,
    standardize_dtype,
)
from kbridge.backend.common.shared import bound

tensor_types = bound("tensor_types")
native_dtype = bound("native_dtype")
to_dtype = bound("to_dtype")
promotion_key_of = bound("promotion_key_of")
loop_scope = bound("loop_scope")

_PROMOTED = {}  # (promotion keys..., floatx) -> target dtype


def cast(x, dtype):
    return convert_to_tensor(x, dtype)


def shape(x):
    return tuple(x.shape)


def dtype(x):
    return standardize_dtype(x.dtype)


def promote(*xs):
    """``xs`` as tensors of their common dtype (kbridge's table; Python scalars are weak).

    Hot path of every elementwise op: same-dtype tensors return at once, otherwise the
    target dtype is cached per combination of input dtypes.
    """
    if len(xs) == 2:
        a, b = xs
        if isinstance(a, tensor_types) and isinstance(b, tensor_types) and a.dtype == b.dtype:
            return xs
    keys = tuple([promotion_key_of(x) for x in xs]) + (floatx(),)
    dt = _PROMOTED.get(keys)
    if dt is None:
        dt = _PROMOTED[keys] = native_dtype(result_type_of_keys(keys[:-1]))
    return [x if isinstance(x, tensor_types) and x.dtype == dt else to_dtype(x, dt) for x in xs]


# --- nested structures (lists, tuples, namedtuples, dicts) ---------------------------------
# A small pytree for the Python control flow below. ``None`` is an empty node, as in
# jax.tree_util.
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


def _stacked(trees):
    """One tree of the same structure as each of ``trees``, its leaves stacked."""
    treedef = tree_flatten(trees[0])[1]
    columns = zip(*[tree_flatten(t)[0] for t in trees])
    return tree_unflatten(treedef, [ops.stack(list(c)) for c in columns])


# --- control flow as Python loops ----------------------------------------------------------
def cond(pred, true_fn, false_fn):
    with loop_scope():
        return true_fn() if pred else false_fn()


def switch(index, branches, *operands):
    index = min(max(int(index), 0), len(branches) - 1)
    with loop_scope():
        return branches[index](*operands)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    is_sequence = isinstance(loop_vars, (list, tuple))
    loop_vars = tuple(loop_vars) if is_sequence else (loop_vars,)
    count = 0
    with loop_scope():
        while (maximum_iterations is None or count < maximum_iterations) and cond(*loop_vars):
            loop_vars = body(*loop_vars)
            loop_vars = tuple(loop_vars) if isinstance(loop_vars, (list, tuple)) else (loop_vars,)
            count += 1
    return loop_vars if is_sequence else loop_vars[0]


def fori_loop(lower, upper, body_fun, init_val):
    val = init_val
    with loop_scope():
        for i in range(int(lower), int(upper)):
            val = body_fun(i, val)
    return val


def loop_scan(f, init, xs, length, reverse):
    """``scan`` as a Python loop over the leading axis of ``xs``."""
    if xs is None:
        if length is None:
            raise ValueError("`scan` needs `xs` or `length`. Received: xs=None, length=None")
        n, x_leaves, x_def = int(length), None, None
    else:
        x_leaves, x_def = tree_flatten(xs)
        x_leaves = [ops.convert_to_tensor(leaf) for leaf in x_leaves]
        n = int(x_leaves[0].shape[0]) if x_leaves else int(length or 0)
        if length is not None and int(length) != n:
            raise ValueError(
                f"`length` must match the leading dimension of `xs`. Received: length={length}, "
                f"xs leading dimension {n}"
            )
    carry, ys = init, [None] * n
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        x = None if x_def is None else tree_unflatten(x_def, [leaf[i] for leaf in x_leaves])
        carry, ys[i] = f(carry, x)
    return carry, (_stacked(ys) if n else None)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    with loop_scope():
        return loop_scan(f, init, xs, length, reverse)


def _take(leaf, start, stop, axis):
    return leaf[(builtins.slice(None),) * axis + (builtins.slice(start, stop),)]


def associative_scan(f, elems, reverse=False, axis=0):
    """Inclusive scan in log2(n) rounds of ``f``, each combining all pairs ``d`` apart."""
    leaves, treedef = tree_flatten(elems)
    if not leaves:
        return elems
    leaves = [ops.convert_to_tensor(leaf) for leaf in leaves]
    axes = [axis % len(leaf.shape) for leaf in leaves]
    n = int(leaves[0].shape[axes[0]])
    if reverse:
        leaves = [ops.flip(leaf, a) for leaf, a in zip(leaves, axes)]
    d = 1
    with loop_scope():
        while d < n:
            earlier = tree_unflatten(treedef, [_take(l, 0, n - d, a) for l, a in zip(leaves, axes)])
            later = tree_unflatten(treedef, [_take(l, d, n, a) for l, a in zip(leaves, axes)])
            combined = tree_flatten(f(earlier, later))[0]
            leaves = [ops.concatenate([_take(l, 0, d, a), c], a)
                      for l, c, a in zip(leaves, combined, axes)]
            d *= 2
    if reverse:
        leaves = [ops.flip(leaf, a) for leaf, a in zip(leaves, axes)]
    return tree_unflatten(treedef, leaves)


def loop_map(f, xs):
    """``f`` on each leading-axis slice of ``xs``, results stacked."""
    leaves, treedef = tree_flatten(xs)
    n = int(leaves[0].shape[0])
    return _stacked([f(tree_unflatten(treedef, [leaf[i] for leaf in leaves])) for i in range(n)])


def map(f, xs):  # noqa: A001 - the Keras op name
    with loop_scope():
        return loop_map(f, xs)


def custom_gradient(f):
    def with_custom_gradient(*args, **kwargs):
        owner = dispatch.backend_of_values(*args)
        if owner != NAME:
            return dispatch.backend_module(owner, "core").custom_gradient(f)(*args, **kwargs)
        return _custom_gradient(f, args, kwargs)

    return with_custom_gradient


# --- slices, scatters and casts ------------------------------------------------------------
def slice(inputs, start_indices, shape):  # noqa: A001 - the Keras op name
    inputs = ops.convert_to_tensor(inputs)
    return inputs[tuple(builtins.slice(int(s), int(s) + int(n))
                        for s, n in zip(start_indices, shape))]


def scatter(indices, values, shape):
    values = ops.convert_to_tensor(values)
    zeros = ops.zeros(tuple(int(d) for d in shape), ops.dtype(values))
    return scatter_update(zeros, indices, values, reduction="add")


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
    as_number = float if in_dt.kind == "f" or out_dt.kind == "f" else int
    low = np.array(max(as_number(in_info.min), as_number(out_info.min))).astype(in_dt)
    high = np.array(min(as_number(in_info.max), as_number(out_info.max))).astype(in_dt)
    if in_dt.kind == "f":
        if float(low) < float(out_info.min):
            low = np.nextafter(low, np.array(0, in_dt))
        if float(high) > float(out_info.max):
            high = np.nextafter(high, np.array(0, in_dt))
    return low.item(), high.item()


def saturate_cast(x, dtype):
    x = ops.convert_to_tensor(x)
    limits = saturate_limits(ops.dtype(x), dtype)
    if limits is not None:
        x = ops.clip(x, *limits)
    return cast(x, dtype)
