"""Core ops: conversion, casting, shapes, control flow, scatter/slice updates."""

from kbridge.backend.common.dispatch import op_decorator

op = op_decorator("core")


@op
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """``x`` as a tensor of the active backend (or of the backend ``x`` already belongs to).

    Python floats become ``floatx()``, Python ints ``int32``; numpy arrays keep their dtype.

    Example:
        >>> with kbridge.backend.use("torch"):
        ...     kbridge.ops.convert_to_tensor([1.0, 2.0])
        tensor([1., 2.])
    """


@op
def convert_to_numpy(x):
    """``x`` as a numpy array (a copy where the framework requires one)."""


@op
def cast(x, dtype):
    """``x`` converted to ``dtype``."""


@op(spec=lambda x: False)
def is_tensor(x):
    """Whether ``x`` is a native tensor of the backend it is dispatched to."""


@op(spec=lambda x: x.shape)
def shape(x):
    """The shape of ``x`` as a tuple (dynamic dims may be tensors on TensorFlow graphs)."""


@op(spec=lambda x: x.dtype)
def dtype(x):
    """The kbridge dtype name of ``x``, e.g. ``"float32"``."""


# --- symbolic specs for ops whose shape the numpy placeholder run cannot give ---------------
def _as_keras_tensors(value):
    """Replace tensors (or numpy arrays) in a nested structure by KerasTensors."""
    from kbridge.backend.common.keras_tensor import KerasTensor
    from kbridge.backend.common.dtypes import standardize_dtype

    if isinstance(value, KerasTensor) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return value.__class__(_as_keras_tensors(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_keras_tensors(v) for k, v in value.items()}
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return KerasTensor(tuple(value.shape), standardize_dtype(value.dtype))
    return value


def _cond_spec(pred, true_fn, false_fn):
    from kbridge.errors import ShapeError

    true_out = _as_keras_tensors(true_fn())
    false_out = _as_keras_tensors(false_fn())

    def signature(v):
        if isinstance(v, (list, tuple)):
            return [signature(e) for e in v]
        if isinstance(v, dict):
            return {k: signature(e) for k, e in v.items()}
        return (getattr(v, "shape", None), getattr(v, "dtype", None))

    if signature(true_out) != signature(false_out):
        raise ShapeError(
            "`true_fn` and `false_fn` of `cond` must return the same structure, shapes and "
            f"dtypes. Received: {signature(true_out)} and {signature(false_out)}"
        )
    return true_out


def _slice_spec(inputs, start_indices, shape):
    from kbridge.backend.common.keras_tensor import KerasTensor

    return KerasTensor(tuple(int(d) for d in shape), inputs.dtype)


def _unstack_spec(x, num=None, axis=0):
    from kbridge.backend.common.keras_tensor import KerasTensor
    from kbridge.errors import ShapeError

    axis = axis % len(x.shape)
    n = x.shape[axis]
    if n is None:
        if num is None:
            raise ShapeError(
                f"`unstack` needs a known size along axis {axis} or `num`. "
                f"Received: shape={x.shape}, num=None"
            )
        n = num
    out_shape = x.shape[:axis] + x.shape[axis + 1:]
    return [KerasTensor(out_shape, x.dtype) for _ in range(n)]


def _scatter_spec(indices, values, shape):
    from kbridge.backend.common.keras_tensor import KerasTensor

    return KerasTensor(tuple(int(d) for d in shape), values.dtype)


def _same_as_inputs(inputs, *args, **kwargs):
    from kbridge.backend.common.keras_tensor import KerasTensor

    return KerasTensor(inputs.shape, inputs.dtype)


def _saturate_cast_spec(x, dtype):
    from kbridge.backend.common.dtypes import standardize_dtype
    from kbridge.backend.common.keras_tensor import KerasTensor

    return KerasTensor(x.shape, standardize_dtype(dtype))


# --- control flow ----------------------------------------------------------------------------
@op(spec=_cond_spec)
def cond(pred, true_fn, false_fn):
    """``true_fn()`` if ``pred`` else ``false_fn()``; both must return the same structure.

    On JAX and TensorFlow graphs a tensor ``pred`` builds a real conditional (``lax.cond`` /
    ``tf.cond``), so it works inside ``jax.jit`` and ``tf.function``.

    Example:
        >>> kbridge.ops.cond(x > 0, lambda: x, lambda: -x)
    """


@op
def switch(index, branches, *operands):
    """``branches[index](*operands)``, with ``index`` clamped into ``[0, len(branches) - 1]``.

    Example:
        >>> kbridge.ops.switch(1, [lambda x: x + 1, lambda x: x * 2], 3.0)   # 6.0
    """


@op
def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Repeat ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` holds.

    ``loop_vars`` is a tuple/list (returned as a tuple) or a single tensor (returned as
    is). ``maximum_iterations`` caps the number of iterations.

    Example:
        >>> kbridge.ops.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s + i), (0, 0))
        (5, 10)
    """


@op
def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``; returns ``val``.

    Example:
        >>> kbridge.ops.fori_loop(0, 4, lambda i, s: s + i, 0)   # 6
    """


@op
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``; return ``(carry, ys)``.

    ``ys`` stacks the per-step ``y`` along a new leading axis. With ``xs=None``, ``f``
    receives ``None`` for ``length`` steps. ``reverse`` walks ``xs`` from the end (``ys`` keeps
    the order of ``xs``).

    Example:
        >>> carry, ys = kbridge.ops.scan(lambda c, x: (c + x, c + x), 0.0, np.arange(4.0))
        >>> ys   # cumulative sums [0., 1., 3., 6.]
    """


@op
def associative_scan(f, elems, reverse=False, axis=0):
    """Inclusive prefix combination of ``elems`` along ``axis`` with the associative ``f``.

    ``f(a, b)`` must accept batches of elements (arrays holding several positions along
    ``axis``) and combine them position by position.

    Example:
        >>> kbridge.ops.associative_scan(lambda a, b: a + b, np.arange(5.0))   # cumsum
    """


@op
def map(f, xs):
    """``f`` applied to each slice of ``xs`` along its leading axis, results stacked.

    ``xs`` may be a nested structure of tensors sharing the leading dimension.
    """


@op
def vectorized_map(function, elements):
    """Like :func:`map`, vectorised where the backend can (``jax.vmap``, ``torch.vmap``,
    ``tf.vectorized_map``)."""


@op(spec=lambda variable: _as_keras_tensors(variable))
def stop_gradient(variable):
    """``variable``'s value, treated as a constant by automatic differentiation."""


@op
def custom_gradient(f):
    """Decorator giving ``f`` a hand-written gradient.

    ``f(*args)`` returns ``(output, grad_fn)``; ``grad_fn(upstream)`` returns the gradient
    for each tensor in ``args`` (one tensor, or a tuple when ``f`` has several inputs).
    ``upstream`` is passed positionally on every backend, so the Keras-portable form
    ``def grad(*args, upstream=None)`` works unchanged. The decorated function follows the
    backend of the tensors it is called with.

    Example:
        >>> @kbridge.ops.custom_gradient
        ... def clipped_identity(x):
        ...     def grad(*args, upstream=None):
        ...         upstream = args[0] if upstream is None else upstream
        ...         return kbridge.ops.clip(upstream, -1.0, 1.0)
        ...     return x, grad
    """


# --- slices and scatters ---------------------------------------------------------------------
@op(spec=_slice_spec)
def slice(inputs, start_indices, shape):
    """The block of ``inputs`` starting at ``start_indices`` with size ``shape`` (all axes).

    Example:
        >>> kbridge.ops.slice(np.arange(10), (2,), (3,))   # [2, 3, 4]
    """


@op(spec=_same_as_inputs)
def slice_update(inputs, start_indices, updates):
    """A copy of ``inputs`` with the block at ``start_indices`` replaced by ``updates``.

    ``updates`` is cast to the dtype of ``inputs``.
    """


@op(spec=_scatter_spec)
def scatter(indices, values, shape):
    """A zero tensor of ``shape`` with ``values`` added at ``indices`` (duplicates summed).

    ``indices`` has shape ``(..., k)``; each row indexes the first ``k`` axes of the output.

    Example:
        >>> kbridge.ops.scatter([[0], [2], [0]], [1.0, 2.0, 3.0], (4,))   # [4., 0., 2., 0.]
    """


@op(spec=_same_as_inputs)
def scatter_update(inputs, indices, updates, reduction=None):
    """A copy of ``inputs`` with ``updates`` written at ``indices``.

    ``reduction`` combines each update with the existing value: ``None`` (replace), ``"add"``,
    ``"mul"``, ``"max"`` or ``"min"``. With ``None`` and duplicate indices, which update wins
    is unspecified.

    Example:
        >>> kbridge.ops.scatter_update(np.zeros(4), [[1], [3]], [5.0, 6.0])   # [0, 5, 0, 6]
    """


@op(spec=_unstack_spec)
def unstack(x, num=None, axis=0):
    """The slices of ``x`` along ``axis``, as a list of tensors."""


@op(spec=_saturate_cast_spec)
def saturate_cast(x, dtype):
    """Cast ``x`` to ``dtype`` after clipping it into the range ``dtype`` can represent.

    Example:
        >>> kbridge.ops.saturate_cast(np.array([-1.0, 300.0]), "uint8")   # [0, 255]
    """
