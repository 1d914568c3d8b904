"""Array ops built from other ops, argument checks and index helpers: the same on every backend.

Every backend's ``array`` module includes this first; the ``array_xp`` and numpy-like ``array``
shared modules and each framework then override what has a kernel there. The functions call the
includer's own ops by name (``convert_to_tensor``, ``promote``, ``where``, ``sum``, ``split``,
``reshape``...), so each runs on the including backend's implementations.

Bindings: none (``ops`` is always bound). An includer that uses ``correlate`` defines
``_full_correlation(x1, x2)``, the full correlation of two vectors.
"""

import builtins
import re

import numpy as np

from kbridge.backend.common.dtypes import is_float, result_type, standardize_dtype
from kbridge.errors import ArgumentError, ShapeError

# Integer sums accumulate in at least 32 bits (the JAX rule Keras follows).
SUM_DTYPES = {"bool": "int32", "int8": "int32", "int16": "int32", "uint8": "uint32",
              "uint16": "uint32"}
PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")
QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


# --- argument checks and dtype rules ------------------------------------------------------

def _check_choice(name, value, choices):
    if value not in choices:
        raise ArgumentError(f"`{name}` must be one of {choices}. Received: {name}={value!r}")


def _check_dense(sparse):
    if sparse:
        raise ArgumentError("`bincount(sparse=True)` is not supported by kbridge.")


def _check_where(x1, x2):
    """Raises unless ``where``'s ``x1`` and ``x2`` are both None (the ``nonzero`` form)."""
    if x1 is not None or x2 is not None:
        raise ArgumentError("`where` takes both `x1` and `x2`, or neither. "
                            f"Received: x1={x1!r}, x2={x2!r}")


def _check_sections(x, n, axis):
    if isinstance(n, int) and x.shape[axis] % n:
        raise ShapeError(f"`indices_or_sections`={n} does not divide axis {axis} of size "
                         f"{x.shape[axis]} evenly; use array_split for unequal parts.")


def _squeeze_axes(shape, axis):
    """``squeeze``'s ``axis`` (an int or a sequence) as a list, each axis checked to be of size 1
    (or unknown)."""
    axes = [axis] if isinstance(axis, int) else list(axis)
    for ax in axes:
        if shape[ax] not in (1, None):
            raise ShapeError(f"Cannot squeeze axis {ax} of size {shape[ax]}: only size-1 "
                             f"axes can be squeezed. Received: x.shape={tuple(shape)}")
    return axes


def _expanded_axes(ndim, axis):
    """``expand_dims``'s new axes (an int or a sequence) for an ``ndim``-dimensional input, as
    ascending positions in the result (each unit axis can be inserted in turn)."""
    axes = [axis] if isinstance(axis, int) else list(axis)
    return sorted(a % (ndim + len(axes)) for a in axes)


def _along(x, axis):
    """``x`` as a tensor and the axis to work along: axis 0 of flattened ``x`` for ``axis=None``."""
    x = convert_to_tensor(x)
    return (reshape(x, (-1,)), 0) if axis is None else (x, axis)


def _check_1d(name, x):
    if len(x.shape) != 1:
        raise ShapeError(f"`{name}` expects a 1D input. Received: x.shape={tuple(x.shape)}")


def _float_dtype(dtype):
    """dtype of float-valued results: float inputs keep theirs, others get floatx."""
    return result_type(standardize_dtype(dtype), "float*")


def _einsum_operands(operands):
    """``einsum``'s operands, promoted to one dtype; int8 ones as int32, in which their
    contraction accumulates (and which it returns)."""
    int8 = {standardize_dtype(convert_to_tensor(o).dtype) for o in operands} == {"int8"}
    operands = promote(*operands)
    return [ops.cast(o, "int32") for o in operands] if int8 else operands


def _bincount_dtype(weights):
    if weights is None:
        return "int32"
    return SUM_DTYPES.get(standardize_dtype(weights.dtype), standardize_dtype(weights.dtype))


# --- padding and correlation windows -------------------------------------------------------

def pad_widths(pad_width, ndim):
    """``pad_width`` in any Keras form as a list of ``(before, after)`` int pairs, one per axis."""
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype="int64"), (ndim, 2))
    except ValueError:
        raise ShapeError(f"`pad_width` must be an int, a (before, after) pair or one pair per "
                         f"axis ({ndim} axes). Received: pad_width={pad_width!r}") from None
    return [(int(a), int(b)) for a, b in widths]


def pad_index(n, before, after, mode):
    """Source indices (numpy int array) of an axis of size ``n`` padded in ``mode``."""
    i = np.arange(-before, n + after)
    if mode == "edge":
        return np.clip(i, 0, n - 1)
    if mode == "wrap":
        return i % n
    if mode == "reflect":
        if n == 1:
            return np.zeros_like(i)
        j = i % (2 * n - 2)
        return np.where(j < n, j, 2 * n - 2 - j)
    j = i % (2 * n)  # symmetric
    return np.where(j < n, j, 2 * n - 1 - j)


def check_pad(mode, constant_values):
    _check_choice("mode", mode, PAD_MODES)
    if mode != "constant" and constant_values is not None:
        raise ArgumentError(f"`constant_values` can only be given with mode='constant'. "
                            f"Received: mode={mode!r}, constant_values={constant_values!r}")


def correlate_window(m, n, mode):
    """(start, length) of numpy's ``mode`` output within the full correlation of sizes m, n."""
    _check_choice("mode", mode, ("valid", "same", "full"))
    if mode == "full":
        return 0, m + n - 1
    if mode == "valid":
        return builtins.min(m, n) - 1, abs(m - n) + 1
    return ((n - 1) // 2 if m >= n else m - 1 - (m - 1) // 2), builtins.max(m, n)


# --- reductions ---------------------------------------------------------------------------

def amax(x, axis=None, keepdims=False):
    return max(x, axis, keepdims)


def amin(x, axis=None, keepdims=False):
    return min(x, axis, keepdims)


def ptp(x, axis=None, keepdims=False):
    return max(x, axis, keepdims) - min(x, axis, keepdims)


def average(x, axis=None, weights=None):
    if weights is None:
        return mean(x, axis=axis)
    x, weights = convert_to_tensor(x), convert_to_tensor(weights)
    dt = result_type(x.dtype, weights.dtype, "float*")
    x, weights = ops.cast(x, dt), ops.cast(weights, dt)
    if len(weights.shape) == 1 and len(x.shape) > 1:  # 1D weights along `axis`
        shape = [1] * len(x.shape)
        shape[axis] = -1
        weights = reshape(weights, shape)
    return sum(x * weights, axis) / sum(weights, axis)


def _nan_to(x, value):
    """``x`` with its NaNs replaced by ``value`` (non-float tensors unchanged)."""
    x = convert_to_tensor(x)
    return where(ops.isnan(x), value, x) if is_float(x.dtype) else x


def _nan_extreme(reduce, fill, x, axis, keepdims):
    x = convert_to_tensor(x)
    if not is_float(x.dtype):
        return reduce(x, axis, keepdims)
    nan = ops.isnan(x)
    out = reduce(where(nan, fill, x), axis, keepdims)
    return where(all(nan, axis, keepdims), float("nan"), out)


def _nan_moments(x, axis, keepdims):
    """(mean, variance) of the non-NaN entries of ``x``, in its float dtype."""
    x = convert_to_tensor(x)
    dt = _float_dtype(x.dtype)
    x = ops.cast(x, {"float16": "float32", "bfloat16": "float32"}.get(dt, dt))
    valid = ops.logical_not(ops.isnan(x))
    count = ops.cast(sum(valid, axis, True), x.dtype)
    mean_ = sum(where(valid, x, 0), axis, True) / count
    centred = where(valid, x - mean_, 0)
    var_ = sum(centred * centred, axis, True) / count
    if not keepdims:
        mean_, var_ = squeeze(mean_, axis), squeeze(var_, axis)
    return ops.cast(mean_, dt), ops.cast(var_, dt)


def nanmean(x, axis=None, keepdims=False):
    return _nan_moments(x, axis, keepdims)[0]


def nanvar(x, axis=None, keepdims=False):
    return _nan_moments(x, axis, keepdims)[1]


def nansum(x, axis=None, keepdims=False):
    return sum(_nan_to(x, 0), axis, keepdims)


def nanprod(x, axis=None, keepdims=False):
    return prod(_nan_to(x, 1), axis, keepdims)


def nanstd(x, axis=None, keepdims=False):
    return ops.sqrt(nanvar(x, axis, keepdims))


def nanmax(x, axis=None, keepdims=False):
    return _nan_extreme(max, -float("inf"), x, axis, keepdims)


def nanmin(x, axis=None, keepdims=False):
    return _nan_extreme(min, float("inf"), x, axis, keepdims)


def nanargmax(x, axis=None, keepdims=False):
    return argmax(_nan_to(x, -float("inf")), axis, keepdims)


def nanargmin(x, axis=None, keepdims=False):
    return argmin(_nan_to(x, float("inf")), axis, keepdims)


def nancumsum(x, axis=None, dtype=None):
    return cumsum(_nan_to(x, 0), axis, dtype)


def nancumprod(x, axis=None, dtype=None):
    return cumprod(_nan_to(x, 1), axis, dtype)


def quantile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(x, q, axis, method, keepdims, False)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(x, q, axis, method, keepdims, True)


def percentile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(x, np.asarray(q, "float64") / 100.0, axis, method, keepdims, False)


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(x, np.asarray(q, "float64") / 100.0, axis, method, keepdims, True)


def median(x, axis=None, keepdims=False):
    return _quantile(x, 0.5, axis, "linear", keepdims, False)


def nanmedian(x, axis=None, keepdims=False):
    return _quantile(x, 0.5, axis, "linear", keepdims, True)


def digitize(x, bins):
    return searchsorted(bins, x, side="right")


def histogram(x, bins=10, range=None):
    x = convert_to_tensor(x)
    _check_1d("histogram", x)
    xc = ops.cast(x, standardize_dtype(x.dtype) if is_float(x.dtype) else "float64")
    if range is None:
        lo, hi = (float(min(xc)), float(max(xc))) if x.shape[0] else (0.0, 1.0)
    else:
        lo, hi = float(range[0]), float(range[1])
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = ops.linspace(lo, hi, bins + 1, dtype=standardize_dtype(xc.dtype))
    xc = get_item(xc, (xc >= edges[0]) & (xc <= edges[-1]))
    index = ops.cast((xc - edges[0]) * (bins / (edges[-1] - edges[0])), "int32")
    index = ops.clip(index, 0, bins - 1)
    # Correct the float rounding of the division against the exact edges.
    index = index - ops.cast(xc < take(edges, index), "int32")
    index = index + ops.cast((xc >= take(edges, index + 1)) & (index != bins - 1), "int32")
    return bincount(index, minlength=bins), ops.cast(edges, _float_dtype(x.dtype))


# --- shape manipulation -------------------------------------------------------------------

def split(x, indices_or_sections, axis=0):
    x = convert_to_tensor(x)
    _check_sections(x, indices_or_sections, axis)
    return array_split(x, indices_or_sections, axis)


def hsplit(x, indices_or_sections):
    x = convert_to_tensor(x)
    return split(x, indices_or_sections, axis=1 if len(x.shape) > 1 else 0)


def vsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=0)


def dsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=2)


def append(x1, x2, axis=None):
    return concatenate([x1, x2], axis=axis)


def fliplr(x):
    return flip(x, 1)


def flipud(x):
    return flip(x, 0)


def rot90(array, k=1, axes=(0, 1)):
    x, k = convert_to_tensor(array), k % 4
    if k == 2:
        return flip(x, axes)
    if k == 1:
        return swapaxes(flip(x, axes[1]), *axes)
    return flip(swapaxes(x, *axes), axes[1]) if k == 3 else x


def tril(x, k=0):
    x = convert_to_tensor(x)
    return where(ops.tri(x.shape[-2], x.shape[-1], k, "bool"), x, ops.zeros((), x.dtype))


def triu(x, k=0):
    x = convert_to_tensor(x)
    return where(ops.tri(x.shape[-2], x.shape[-1], k - 1, "bool"), ops.zeros((), x.dtype), x)


def trace(x, offset=0, axis1=0, axis2=1):
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def argpartition(x, kth, axis=-1):
    # A full stable sort is a valid partition for every kth, and the same on every backend.
    return argsort(x, axis=axis)


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    x1, x2 = promote(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(x1, axisa, -1), moveaxis(x2, axisb, -1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ShapeError(f"`cross` needs vectors of 2 or 3 elements. Received: {na} and {nb}")
    if na == 2 and nb == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    a, b = (pad(v, [(0, 0)] * (len(v.shape) - 1) + [(0, 3 - n)]) for v, n in ((a, na), (b, nb)))
    out = stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                 a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                 a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)
    return moveaxis(out, -1, axisc)


def correlate(x1, x2, mode="valid"):
    # The includer's full correlation (a convolution on torch and TensorFlow), cut to numpy's
    # window; numpy and jax have a kernel.
    x1, x2 = promote(x1, x2)
    dt = _float_dtype(x1.dtype)
    compute = "float32" if dt in ("float16", "bfloat16") else dt
    start, length = correlate_window(x1.shape[0], x2.shape[0], mode)
    full = _full_correlation(ops.cast(x1, compute), ops.cast(x2, compute))
    return ops.cast(full[start:start + length], dt)


def vdot(x1, x2):
    x1, x2 = promote(x1, x2)
    # Summed in the operands' dtype: integers wrap as they would accumulating in it.
    return ops.cast(sum(ravel(ops.conjugate(x1)) * ravel(x2)), x1.dtype)


def vander(x, N=None, increasing=False):
    # Powers as a running product: differentiable at 0 (unlike pow(x, 0)) and without the
    # in-place cumprod whose backward torch.vander lacks.
    x = convert_to_tensor(x)
    n = x.shape[0] if N is None else N
    if n == 0:
        return ops.zeros((x.shape[0], 0), x.dtype)
    column = x[:, None]
    powers = concatenate([ops.ones_like(column),
                          cumprod(broadcast_to(column, (x.shape[0], n - 1)), axis=1)], axis=1)
    return powers if increasing else flip(powers, 1)


def _unique_outputs(x, values, index, inverse, counts, axis, size, fill_value, wanted):
    """``unique``'s outputs from its parts in their final order: ``values`` cut or padded to
    ``size``, then the ``wanted`` ones of ``(index, inverse, counts)`` as int32."""
    ax = 0 if axis is None else axis
    if axis is None and wanted[1]:
        inverse = reshape(inverse, x.shape)
    if size is not None:
        n = values.shape[ax]
        if n >= size:
            values = values[(slice(None),) * ax + (slice(None, size),)]
            index, counts = index[:size], counts[:size]
        else:
            widths = [(0, 0)] * len(values.shape)
            widths[ax] = (0, size - n)
            values = pad(values, widths, constant_values=0 if fill_value is None else fill_value)
            index, counts = pad(index, (0, size - n)), pad(counts, (0, size - n))
    parts = [ops.cast(p, "int32") for p, w in zip((index, inverse, counts), wanted) if w]
    return tuple([values] + parts) if parts else values


# --- vectorize for backends without a native one (a vmap over the loop dims) --------------

def parse_signature(signature):
    """Core-dim counts of each input of a gufunc ``signature`` such as ``'(n),(n)->()'``."""
    inputs = signature.split("->")[0]
    return [len([d for d in group.split(",") if d.strip()])
            for group in re.findall(r"\(([^)]*)\)", inputs)]


def vectorize_with(vmap, pyfunc, excluded, signature):
    """``pyfunc`` mapped with ``vmap`` over the broadcast loop dims of its tensor arguments."""
    excluded = set(excluded or ())

    def wrapped(*args):
        mapped = [i for i in builtins.range(len(args)) if i not in excluded]
        tensors = [convert_to_tensor(args[i]) for i in mapped]
        core = parse_signature(signature) if signature else [0] * len(tensors)
        loops = [tuple(t.shape[:len(t.shape) - c]) for t, c in zip(tensors, core)]
        loop_shape = tuple(np.broadcast_shapes(*loops)) if loops else ()
        tensors = [broadcast_to(t, loop_shape + tuple(t.shape[len(t.shape) - c:]))
                   for t, c in zip(tensors, core)]

        def call(*ts):
            full = list(args)
            for i, t in zip(mapped, ts):
                full[i] = t
            return pyfunc(*full)

        fn = call
        for _ in loop_shape:
            fn = vmap(fn)
        return fn(*tensors)

    return wrapped


# --- einops -------------------------------------------------------------------------------

_TOKEN = re.compile(r"\.\.\.|\(|\)|[A-Za-z_][A-Za-z0-9_]*|\d+")


def _parse_side(side):
    """``"b (h w) ..."`` -> [["b"], ["h", "w"], ["..."]] (one list per output dim)."""
    groups, current = [], None
    if _TOKEN.sub("", side).strip():
        raise ArgumentError(f"Cannot parse rearrange pattern side {side!r}")
    for tok in _TOKEN.findall(side):
        if tok == "(":
            if current is not None:
                raise ArgumentError(f"Nested parentheses in rearrange pattern: {side!r}")
            current = []
        elif tok == ")":
            if current is None:
                raise ArgumentError(f"Unbalanced ')' in rearrange pattern: {side!r}")
            groups.append(current)
            current = None
        else:
            if tok.isdigit() and tok != "1":
                raise ArgumentError(f"Only the literal 1 is allowed in a rearrange pattern. "
                                    f"Received: {side!r}")
            item = [] if tok == "1" else [tok]
            if current is None:
                groups.append(item)
            else:
                current.extend(item)
    if current is not None:
        raise ArgumentError(f"Unbalanced '(' in rearrange pattern: {side!r}")
    return groups


def rearrange_plan(shape, pattern, axes_lengths):
    """(shape of elementary axes, permutation, output shape) for an einops ``pattern``."""
    if pattern.count("->") != 1:
        raise ArgumentError(f"A rearrange pattern needs one '->'. Received: {pattern!r}")
    left, right = (_parse_side(s) for s in pattern.split("->"))
    n_ell = len(shape) - (len(left) - 1) if ["..."] in left else 0
    if ["..."] in left:
        i = left.index(["..."])
        left = left[:i] + [[f"...{k}"] for k in builtins.range(n_ell)] + left[i + 1:]
    if ["..."] in right:
        i = right.index(["..."])
        right = right[:i] + [[f"...{k}"] for k in builtins.range(n_ell)] + right[i + 1:]
    if len(left) != len(shape):
        raise ShapeError(f"Rearrange pattern {pattern!r} expects {len(left)} dims. "
                         f"Received: shape={tuple(shape)}")
    sizes = dict(axes_lengths)
    for group, dim in zip(left, shape):
        unknown = [a for a in group if a not in sizes]
        known = int(np.prod([sizes[a] for a in group if a in sizes]))
        if len(unknown) > 1:
            raise ArgumentError(f"Cannot infer the sizes of {unknown} in {pattern!r}; pass them "
                                f"as keyword arguments.")
        if unknown:
            if dim % known:
                raise ShapeError(f"Dim of size {dim} is not divisible by {known} in {pattern!r}")
            sizes[unknown[0]] = dim // known
        elif known != dim:
            raise ShapeError(f"Dim of size {dim} does not match {group} in {pattern!r}")
    elementary = [a for group in left for a in group]
    out_axes = [a for group in right for a in group]
    if sorted(elementary) != sorted(out_axes):
        raise ArgumentError(f"Both sides of {pattern!r} must name the same axes.")
    perm = [elementary.index(a) for a in out_axes]
    out_shape = [int(np.prod([sizes[a] for a in group])) for group in right]
    return [sizes[a] for a in elementary], perm, out_shape


def rearrange(tensor, pattern, **axes_lengths):
    x = convert_to_tensor(tensor)
    mid, perm, out = rearrange_plan(tuple(x.shape), pattern, axes_lengths)
    return reshape(transpose(reshape(x, mid), perm), out)
