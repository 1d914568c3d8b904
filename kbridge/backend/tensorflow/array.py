"""tensorflow backend: array ops (shape, indexing, reductions, sorting, statistics, contractions).

TensorFlow lacks several numpy-style ops (quantiles, advanced indexing, edge/wrap padding, ...);
they are built here from gathers, sorts and masks so that results match the numpy backend. The
composite ops are the shared ones (``kbridge/backend/shared/array_composite.py``).
"""

import builtins

import numpy as np
import tensorflow as tf

from kbridge.backend.common.dtypes import result_type, standardize_dtype
from kbridge.backend.common.shared import include
from kbridge.backend.tensorflow.core import convert_to_tensor, promote, to_tf_dtype

include("array_composite", globals())

_FLOAT_COMPUTE = {"float16": "float32", "bfloat16": "float32"}
# Unsigned sums accumulate in int64: TensorFlow has no uint32 reduce kernels.
_SUM_COMPUTE = {"uint8": "int64", "uint16": "int64"}


def _t(x):
    return x if isinstance(x, (tf.Tensor, tf.Variable)) else convert_to_tensor(x)


def _name(x):
    return standardize_dtype(x.dtype)


def _axis(axis):
    return list(axis) if isinstance(axis, (list, tuple)) else axis


def _float_out(x):
    out = _float_dtype(x.dtype)
    return _FLOAT_COMPUTE.get(out, out), out


def _static_shape(x):
    return x.shape.as_list()


def _norm(axis, ndim):
    return axis % ndim if ndim else 0


def _dims(x, axis):
    if axis is None:
        return list(builtins.range(x.shape.rank))
    if isinstance(axis, int):
        return [_norm(axis, x.shape.rank)]
    return [_norm(a, x.shape.rank) for a in axis]


# --- reductions ---------------------------------------------------------------------------

def sum(x, axis=None, keepdims=False):
    x = _t(x)
    name = _name(x)
    out = SUM_DTYPES.get(name, name)
    x = tf.cast(x, _SUM_COMPUTE.get(name, out)) if out != name else x
    return tf.cast(tf.reduce_sum(x, axis=_axis(axis), keepdims=keepdims), out)


def prod(x, axis=None, keepdims=False, dtype=None):
    x = _t(x)
    name = _name(x)
    out = standardize_dtype(dtype) if dtype is not None else SUM_DTYPES.get(name, name)
    x = tf.cast(x, _SUM_COMPUTE.get(name, out) if dtype is None else out)
    return tf.cast(tf.reduce_prod(x, axis=_axis(axis), keepdims=keepdims), out)


def _float_reduce(fn, x, axis, keepdims):
    x = _t(x)
    compute, out = _float_out(x)
    return tf.cast(fn(tf.cast(x, compute), axis=_axis(axis), keepdims=keepdims), out)


def mean(x, axis=None, keepdims=False):
    return _float_reduce(tf.reduce_mean, x, axis, keepdims)


def std(x, axis=None, keepdims=False):
    return _float_reduce(tf.math.reduce_std, x, axis, keepdims)


def var(x, axis=None, keepdims=False):
    return _float_reduce(tf.math.reduce_variance, x, axis, keepdims)


def _extreme(numeric, boolean):
    """``max`` or ``min`` from a ``(reduce, combine)`` pair of TF functions (``boolean`` for bool
    tensors); ``combine`` applies numpy's ``initial``."""

    def op(x, axis=None, keepdims=False, initial=None):
        x = _t(x)
        reduce, combine = boolean if x.dtype == tf.bool else numeric
        out = reduce(x, axis=_axis(axis), keepdims=keepdims)
        return out if initial is None else combine(out, tf.cast(initial, out.dtype))

    return op


max = _extreme((tf.reduce_max, tf.maximum), (tf.reduce_any, tf.logical_or))
min = _extreme((tf.reduce_min, tf.minimum), (tf.reduce_all, tf.logical_and))


def _bool(x):
    x = _t(x)
    return x if x.dtype == tf.bool else tf.not_equal(x, tf.zeros((), x.dtype))


def any(x, axis=None, keepdims=False):
    return tf.reduce_any(_bool(x), axis=_axis(axis), keepdims=keepdims)


def all(x, axis=None, keepdims=False):
    return tf.reduce_all(_bool(x), axis=_axis(axis), keepdims=keepdims)


def _arg(fn, x, axis, keepdims):
    x = _t(x)
    if x.dtype == tf.bool:
        x = tf.cast(x, tf.int32)
    if axis is None:
        out = fn(tf.reshape(x, [-1]), axis=0, output_type=tf.int32)
        return tf.reshape(out, [1] * x.shape.rank) if keepdims else out
    out = fn(x, axis=axis, output_type=tf.int32)
    return tf.expand_dims(out, axis) if keepdims else out


def argmax(x, axis=None, keepdims=False):
    return _arg(tf.argmax, x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _arg(tf.argmin, x, axis, keepdims)


def count_nonzero(x, axis=None):
    return tf.math.count_nonzero(_t(x), axis=_axis(axis), dtype=tf.int32)


def _cum(fn, x, axis, dtype):
    x = _t(x)
    dt = standardize_dtype(dtype) if dtype is not None else _name(x)
    x, axis = _along(tf.cast(x, "int32" if dt == "bool" else dt), axis)
    return fn(x, axis=axis)


def cumsum(x, axis=None, dtype=None):
    return _cum(tf.math.cumsum, x, axis, dtype)


def cumprod(x, axis=None, dtype=None):
    return _cum(tf.math.cumprod, x, axis, dtype)


def _to_last(x, dims):
    """``x`` with ``dims`` moved to the end and merged; also the kept-dims shape."""
    rank = x.shape.rank
    keep = [d for d in builtins.range(rank) if d not in dims]
    x = tf.transpose(x, keep + sorted(dims))
    shape = tf.shape(x)
    return tf.reshape(x, tf.concat([shape[:len(keep)], [-1]], 0))


def _quantile(x, q, axis, method, keepdims, ignore_nan):
    _check_choice("method", method, QUANTILE_METHODS)
    x = _t(x)
    compute, out_dt = _float_out(x)
    x = tf.cast(x, compute)
    q = tf.cast(q, compute)
    dims = _dims(x, axis)
    flat = _to_last(x, dims)
    nan = tf.math.is_nan(flat)
    n = tf.shape(flat)[-1]
    if ignore_nan:
        count = tf.reduce_sum(tf.cast(tf.logical_not(nan), compute), axis=-1, keepdims=True)
    else:
        count = tf.fill(tf.concat([tf.shape(flat)[:-1], [1]], 0), tf.cast(n, compute))
    ordered = tf.sort(tf.where(nan, tf.cast(np.inf, compute), flat), axis=-1)
    pos = tf.reshape(q, [-1]) * (count - 1)  # (..., k)
    if method == "nearest":
        pos = tf.round(pos)
    lo_pos = tf.floor(pos)
    last = tf.cast(n - 1, compute)
    lo = tf.cast(tf.clip_by_value(lo_pos, 0, last), tf.int32)
    hi = tf.cast(tf.clip_by_value(tf.math.ceil(pos), 0, last), tf.int32)
    batch = flat.shape.rank - 1
    lo_v = tf.gather(ordered, lo, batch_dims=batch)
    hi_v = tf.gather(ordered, hi, batch_dims=batch)
    if method in ("linear",):
        out = lo_v + (hi_v - lo_v) * (pos - lo_pos)
    elif method == "midpoint":
        out = (lo_v + hi_v) / 2
    elif method == "higher":
        out = hi_v
    else:  # lower, nearest
        out = lo_v
    bad = tf.equal(count, 0) if ignore_nan else tf.reduce_any(nan, axis=-1, keepdims=True)
    out = tf.where(bad, tf.cast(np.nan, compute), out)
    out = tf.transpose(out, [out.shape.rank - 1] + list(builtins.range(out.shape.rank - 1)))
    kept = [s for d, s in enumerate(_static_shape(x)) if d not in dims]
    if keepdims:
        kept = [1 if d in dims else s for d, s in enumerate(_static_shape(x))]
    out = tf.reshape(out, list(q.shape) + kept)
    return tf.cast(out, out_dt)


# --- shape manipulation -------------------------------------------------------------------

def reshape(x, newshape):
    return tf.reshape(_t(x), [newshape] if isinstance(newshape, int) else newshape)


def ravel(x):
    return tf.reshape(_t(x), [-1])


def transpose(x, axes=None):
    return tf.transpose(_t(x), axes)


def expand_dims(x, axis):
    x = _t(x)
    for a in _expanded_axes(x.shape.rank, axis):
        x = tf.expand_dims(x, a)
    return x


def squeeze(x, axis=None):
    x = _t(x)
    return tf.squeeze(x) if axis is None else tf.squeeze(x, _squeeze_axes(x.shape, axis))


def moveaxis(x, source, destination):
    x = _t(x)
    rank = x.shape.rank
    source = [_norm(a, rank) for a in ([source] if isinstance(source, int) else source)]
    destination = [_norm(a, rank) for a in
                   ([destination] if isinstance(destination, int) else destination)]
    perm = [d for d in builtins.range(rank) if d not in source]
    for dest, src in sorted(zip(destination, source)):
        perm.insert(dest, src)
    return tf.transpose(x, perm)


def swapaxes(x, axis1, axis2):
    x = _t(x)
    perm = list(builtins.range(x.shape.rank))
    a, b = _norm(axis1, len(perm)), _norm(axis2, len(perm))
    perm[a], perm[b] = perm[b], perm[a]
    return tf.transpose(x, perm)


def broadcast_to(x, shape):
    return tf.broadcast_to(_t(x), [shape] if isinstance(shape, int) else shape)


def concatenate(xs, axis=0):
    xs = promote(*xs)
    if axis is None:
        return tf.concat([tf.reshape(x, [-1]) for x in xs], 0)
    return tf.concat(xs, axis)


def stack(x, axis=0):
    return tf.stack(promote(*x), axis=axis)


def _atleast(x, n):
    rank = x.shape.rank
    if rank >= n:
        return x
    if n == 2:
        return tf.reshape(x, [1, -1])
    if rank == 2:  # n == 3
        return x[:, :, None]
    return tf.reshape(x, [1, -1, 1])


def hstack(xs):
    xs = promote(*xs)
    return tf.concat(xs, 0 if xs[0].shape.rank == 1 else 1)


def vstack(xs):
    return tf.concat([_atleast(x, 2) for x in promote(*xs)], 0)


def dstack(xs):
    return tf.concat([_atleast(x, 3) for x in promote(*xs)], 2)


def _sizes(n, indices_or_sections):
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        return [n // k + 1] * (n % k) + [n // k] * (k - n % k)
    bounds = [0] + [builtins.min(builtins.max(int(i), 0), n) for i in indices_or_sections] + [n]
    return [builtins.max(b - a, 0) for a, b in zip(bounds[:-1], bounds[1:])]


def array_split(x, indices_or_sections, axis=0):
    x = _t(x)
    axis = _norm(axis, x.shape.rank)
    return tf.split(x, _sizes(x.shape[axis], indices_or_sections), axis=axis)


def tile(x, repeats):
    x = _t(x)
    reps = [repeats] if isinstance(repeats, int) else list(repeats)
    rank = x.shape.rank
    if len(reps) > rank:
        x = tf.reshape(x, [1] * (len(reps) - rank) + _static_shape(x))
    reps = [1] * (x.shape.rank - len(reps)) + reps
    return tf.tile(x, reps)


def repeat(x, repeats, axis=None):
    return tf.repeat(_t(x), repeats, axis=axis)


def flip(x, axis=None):
    x = _t(x)
    return tf.reverse(x, _dims(x, axis))


def roll(x, shift, axis=None):
    x = _t(x)
    if axis is None:
        return tf.reshape(tf.roll(tf.reshape(x, [-1]), shift, 0), tf.shape(x))
    return tf.roll(x, shift, axis)


def pad(x, pad_width, mode="constant", constant_values=None):
    check_pad(mode, constant_values)
    x = _t(x)
    widths = pad_widths(pad_width, x.shape.rank)
    if mode == "constant":
        value = 0 if constant_values is None else constant_values
        return tf.pad(x, widths, constant_values=tf.cast(value, x.dtype))
    # The padded axis is a few contiguous (forward or reversed) runs of source indices; slicing
    # them works for any pad width (tf.pad's reflect/symmetric need pads smaller than the axis
    # and it has no edge/wrap) and, unlike a gather, gives dense gradients.
    for axis, (before, after) in enumerate(widths):
        if before or after:
            head = (slice(None),) * axis
            parts = [x[head + (sl,)] for sl in _index_runs(
                pad_index(x.shape[axis], before, after, mode))]
            x = tf.concat(parts, axis)
    return x


def _index_runs(index):
    """Slices whose concatenation takes ``index`` (a numpy int array) from an axis."""
    runs, start = [], 0
    for i in builtins.range(1, len(index) + 1):
        if i < len(index):
            step = index[i] - index[i - 1]
            run_step = index[start + 1] - index[start] if i - start > 1 else step
            if step in (1, -1) and step == run_step:
                continue
        a, b = int(index[start]), int(index[i - 1])
        runs.append(slice(a, b + 1) if b >= a else slice(a, b - 1 if b > 0 else None, -1))
        start = i
    return runs


def diag(x, k=0):
    x = _t(x)
    if x.shape.rank == 1:
        return tf.linalg.diag(x, k=k)
    if x.shape.rank == 2:
        return tf.linalg.diag_part(x, k=k)
    raise ShapeError(f"`diag` expects a 1D or 2D input. Received: x.shape={x.shape}")


def diagflat(x, k=0):
    return tf.linalg.diag(tf.reshape(_t(x), [-1]), k=k)


def diagonal(x, offset=0, axis1=0, axis2=1):
    x = _t(x)
    rank = x.shape.rank
    a1, a2 = _norm(axis1, rank), _norm(axis2, rank)
    rest = [d for d in builtins.range(rank) if d not in (a1, a2)]
    return tf.linalg.diag_part(tf.transpose(x, rest + [a1, a2]), k=offset)


def diff(a, n=1, axis=-1):
    x = _t(a)
    axis = _norm(axis, x.shape.rank)
    head = [slice(None)] * axis
    for _ in builtins.range(n):
        upper, lower = x[tuple(head + [slice(1, None)])], x[tuple(head + [slice(None, -1)])]
        x = tf.not_equal(upper, lower) if x.dtype == tf.bool else upper - lower
    return x


def meshgrid(*x, indexing="xy"):
    _check_choice("indexing", indexing, ("xy", "ij"))
    return list(tf.meshgrid(*[_t(v) for v in x], indexing=indexing))


def ndim(x):
    return _t(x).shape.rank


def size(x):
    x = _t(x)
    shape = _static_shape(x)
    if None in shape:
        return tf.size(x, out_type=tf.int32)
    return int(np.prod(shape, dtype="int64"))


def view(x, dtype=None):
    x = _t(x)
    if dtype is None:
        return x
    dt = to_tf_dtype(dtype)
    old, new = x.dtype.size, dt.size
    if old == new:
        return tf.bitcast(x, dt)
    if old > new:  # each element splits into a new last dim, merged into the last axis
        out = tf.bitcast(x, dt)
        return tf.reshape(out, _static_shape(x)[:-1] + [-1])
    ratio = new // old
    shape = _static_shape(x)
    if shape[-1] % ratio:
        raise ShapeError(f"Cannot view a last axis of {shape[-1]} {x.dtype.name} elements as "
                         f"{dt.name}: its byte size is not a multiple of {new}.")
    return tf.bitcast(tf.reshape(x, shape[:-1] + [shape[-1] // ratio, ratio]), dt)


# --- indexing -----------------------------------------------------------------------------

def _is_advanced(k):
    if isinstance(k, (list, np.ndarray)):
        return True
    return isinstance(k, (tf.Tensor, tf.Variable)) and (k.shape.rank or 0) > 0 or (
        isinstance(k, (tf.Tensor, tf.Variable)) and k.dtype == tf.bool)


def get_item(x, key):
    x = _t(x)
    items = key if isinstance(key, tuple) else (key,)
    if not builtins.any(_is_advanced(k) for k in items):
        return x[key]
    return _advanced_get_item(x, items)


def _advanced_get_item(x, items):
    """numpy advanced indexing (int/bool index tensors mixed with basic indices) on ``x``."""
    # Expand Ellipsis and bool masks (a k-dim mask is k int index vectors of its nonzeros).
    n_used = builtins.sum(
        (_t(k).shape.rank if _is_advanced(k) and _t(k).dtype == tf.bool else 1)
        for k in items if k is not None and k is not Ellipsis)
    expanded = []
    for k in items:
        if k is Ellipsis:
            expanded.extend([slice(None)] * (x.shape.rank - n_used))
        elif _is_advanced(k):
            k = _t(k)
            if k.dtype == tf.bool:
                coords = tf.cast(tf.where(k), tf.int32)
                expanded.extend(coords[:, i] for i in builtins.range(k.shape.rank))
            else:
                expanded.append(k)
        else:
            expanded.append(k)
    if not builtins.any(k is Ellipsis for k in items):
        expanded.extend([slice(None)] * (x.shape.rank - builtins.sum(
            1 for k in expanded if k is not None)))
    # Basic indexing first, keeping advanced axes whole; record where they end up.
    basic, adv_axes, adv_index, out_axis = [], [], [], 0
    for k in expanded:
        if isinstance(k, (tf.Tensor, tf.Variable)) and k.shape.rank is not None and \
                (k.shape.rank > 0 or k.dtype != tf.bool):
            if k.shape.rank == 0:
                basic.append(k)
                continue
            basic.append(slice(None))
            adv_axes.append(out_axis)
            adv_index.append(k)
            out_axis += 1
        elif k is None:
            basic.append(None)
            out_axis += 1
        elif isinstance(k, slice):
            basic.append(k)
            out_axis += 1
        else:
            basic.append(k)
    x = x[tuple(basic)]
    shape = tf.shape(x)
    index = [tf.cast(i, tf.int32) for i in adv_index]
    index = [tf.where(i < 0, i + shape[a], i) for i, a in zip(index, adv_axes)]
    bshape = tf.shape(index[0])
    for i in index[1:]:
        bshape = tf.broadcast_dynamic_shape(bshape, tf.shape(i))
    index = [tf.broadcast_to(i, bshape) for i in index]
    rest = [d for d in builtins.range(x.shape.rank) if d not in adv_axes]
    moved = tf.transpose(x, adv_axes + rest)
    out = tf.gather_nd(moved, tf.stack(index, axis=-1))
    adjacent = adv_axes == list(builtins.range(adv_axes[0], adv_axes[0] + len(adv_axes)))
    if adjacent and adv_axes[0] > 0:  # numpy keeps adjacent advanced dims in place
        nb = index[0].shape.rank
        start = adv_axes[0]
        perm = list(builtins.range(nb, nb + start)) + list(builtins.range(nb)) + \
            list(builtins.range(nb + start, out.shape.rank))
        out = tf.transpose(out, perm)
    return out


def _wrap(index, n):
    index = _t(index)
    if index.dtype not in (tf.int32, tf.int64):
        index = tf.cast(index, tf.int32)
    return tf.where(index < 0, index + tf.cast(n, index.dtype), index)


def take(x, indices, axis=None):
    x, axis = _along(x, axis)
    axis = _norm(axis, x.shape.rank)
    return tf.gather(x, _wrap(indices, tf.shape(x)[axis]), axis=axis)


def take_along_axis(x, indices, axis=None):
    x, indices = _t(x), _t(indices)
    if axis is None:
        x, indices, axis = tf.reshape(x, [-1]), tf.reshape(indices, [-1]), 0
    rank = x.shape.rank
    axis = _norm(axis, rank)
    # Shapes by value, so dimensions unknown while a tf.function traces broadcast too.
    shape_x, shape_i = tf.shape(x), tf.shape(indices)
    common = tf.broadcast_dynamic_shape(tf.tensor_scatter_nd_update(shape_x, [[axis]], [1]),
                                        tf.tensor_scatter_nd_update(shape_i, [[axis]], [1]))
    x = tf.broadcast_to(x, tf.tensor_scatter_nd_update(common, [[axis]], [shape_x[axis]]))
    indices = tf.broadcast_to(indices,
                              tf.tensor_scatter_nd_update(common, [[axis]], [shape_i[axis]]))
    perm = [d for d in builtins.range(rank) if d != axis] + [axis]
    inverse = np.argsort(perm).tolist()
    xt, it = tf.transpose(x, perm), tf.transpose(indices, perm)
    out = tf.gather(xt, _wrap(it, shape_x[axis]), batch_dims=rank - 1)
    return tf.transpose(out, inverse)


def where(condition, x1=None, x2=None):
    if x1 is None or x2 is None:
        _check_where(x1, x2)
        return nonzero(condition)
    x1, x2 = promote(x1, x2)
    return tf.where(_bool(condition), x1, x2)


def nonzero(x):
    x = _t(x)
    coords = tf.cast(tf.where(_bool(x)), tf.int32)
    return tuple(coords[:, i] for i in builtins.range(x.shape.rank))


def select(condlist, choicelist, default=0):
    choices = promote(*choicelist, default)
    conds = [_bool(c) for c in condlist]
    shape = tf.shape(choices[-1])
    for t in choices[:-1] + conds:
        shape = tf.broadcast_dynamic_shape(shape, tf.shape(t))
    out = tf.broadcast_to(choices[-1], shape)
    for cond, choice in zip(reversed(conds), reversed(choices[:-1])):
        out = tf.where(cond, choice, out)
    return out


def searchsorted(sorted_sequence, values, side="left"):
    _check_choice("side", side, ("left", "right"))
    seq, values = promote(sorted_sequence, values)
    if seq.shape.rank != 1:
        raise ShapeError(f"`sorted_sequence` must be 1D. Received: shape={_static_shape(seq)}")
    out = tf.searchsorted(seq[None], tf.reshape(values, [1, -1]), side=side, out_type=tf.int32)
    return tf.reshape(out, tf.shape(values))


def unravel_index(indices, shape):
    indices = _t(indices)
    if not indices.dtype.is_integer:
        indices = tf.cast(indices, tf.int32)
    coords = []
    for dim in reversed(shape):
        coords.append(indices % dim)
        indices = indices // dim
    return tuple(reversed(coords))


def isin(x1, x2, assume_unique=False, invert=False):
    x1, x2 = promote(x1, x2)
    found = tf.reduce_any(tf.equal(x1[..., None], tf.reshape(x2, [-1])), axis=-1)
    return tf.logical_not(found) if invert else found


def bincount(x, weights=None, minlength=0, sparse=False):
    _check_dense(sparse)
    x = tf.cast(_t(x), tf.int32)
    weights = None if weights is None else _t(weights)
    dt = _bincount_dtype(weights)
    compute = dt if weights is None or weights.dtype.is_floating else "float64"
    if weights is not None:
        weights = tf.cast(weights, compute)
    axis = -1 if x.shape.rank == 2 else None
    out = tf.math.bincount(x, weights, minlength=minlength, dtype=compute, axis=axis)
    return tf.cast(out, dt)


def _lexsort_rows(rows):
    """Stable order of the rows of a 2D tensor, compared lexicographically."""
    order = tf.range(tf.shape(rows)[0])
    for c in reversed(builtins.range(rows.shape[1])):
        order = tf.gather(order, tf.argsort(tf.gather(rows[:, c], order), stable=True))
    return order


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,
           axis=None, size=None, fill_value=None):
    x = _t(x)
    if axis is None:
        flat = tf.reshape(x, [-1])
        values, inverse = tf.unique(flat, out_idx=tf.int32)
        ax = 0
    else:
        ax = _norm(axis, x.shape.rank)
        values, inverse = tf.raw_ops.UniqueV2(x=x, axis=[ax], out_idx=tf.int32)
    n = tf.shape(values)[ax]
    positions = tf.range(tf.shape(inverse)[0])
    index = tf.math.unsorted_segment_min(positions, inverse, n)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(inverse), inverse, n)
    if sorted:  # tf.unique keeps first-appearance order
        if axis is None:
            order = tf.argsort(values, stable=True) if values.dtype != tf.bool else \
                tf.argsort(tf.cast(values, tf.int32), stable=True)
        else:
            rows = tf.reshape(tf.transpose(values, [ax] + [d for d in builtins.range(
                x.shape.rank) if d != ax]), [n, -1])
            order = _lexsort_rows(rows)
        rank = tf.scatter_nd(order[:, None], tf.range(n), [n])
        values = tf.gather(values, order, axis=ax)
        index, counts, inverse = tf.gather(index, order), tf.gather(counts, order), \
            tf.gather(rank, inverse)
    return _unique_outputs(x, values, index, inverse, counts, axis, size, fill_value,
                           (return_index, return_inverse, return_counts))


def histogram(x, bins=10, range=None):
    # TensorFlow's own: the range stays a tensor, so it also runs inside a tf.function graph.
    x = _t(x)
    _check_1d("histogram", x)
    compute = x.dtype if x.dtype.is_floating else tf.float64
    xc = tf.cast(x, compute)
    if range is None:
        lo, hi = tf.reduce_min(xc), tf.reduce_max(xc)
    else:
        lo, hi = tf.constant(range[0], compute), tf.constant(range[1], compute)
    same = tf.equal(lo, hi)
    lo, hi = tf.where(same, lo - 0.5, lo), tf.where(same, hi + 0.5, hi)
    edges = tf.cast(tf.linspace(tf.cast(lo, tf.float64), tf.cast(hi, tf.float64), bins + 1),
                    compute)
    inside = tf.boolean_mask(xc, (xc >= edges[0]) & (xc <= edges[-1]))
    index = tf.clip_by_value(tf.cast((inside - edges[0]) * (bins / (edges[-1] - edges[0])),
                                     tf.int32), 0, bins - 1)
    # Correct the float rounding of the division against the exact edges.
    index -= tf.cast(inside < tf.gather(edges, index), tf.int32)
    index += tf.cast((inside >= tf.gather(edges, index + 1)) & (index != bins - 1), tf.int32)
    counts = tf.math.bincount(index, minlength=bins, maxlength=bins, dtype=tf.int32)
    return counts, tf.cast(edges, _float_dtype(x.dtype))


# --- sorting ------------------------------------------------------------------------------

def sort(x, axis=-1):
    x, axis = _along(x, axis)
    if x.dtype == tf.bool:
        return tf.cast(tf.sort(tf.cast(x, tf.int32), axis=axis), tf.bool)
    return tf.sort(x, axis=axis)


def argsort(x, axis=-1):
    x, axis = _along(x, axis)
    if x.dtype == tf.bool:
        x = tf.cast(x, tf.int32)
    return tf.argsort(x, axis=axis, stable=True)


# --- contractions -------------------------------------------------------------------------

def dot(x1, x2):
    x1, x2 = promote(x1, x2)
    r1, r2 = x1.shape.rank, x2.shape.rank
    if r1 == 0 or r2 == 0:
        return x1 * x2
    if r2 == 1:
        return tf.tensordot(x1, x2, [[r1 - 1], [0]])
    return tf.tensordot(x1, x2, [[r1 - 1], [r2 - 2]])


def tensordot(x1, x2, axes=2):
    x1, x2 = promote(x1, x2)
    if not isinstance(axes, int):
        a, b = ([x] if isinstance(x, int) else list(x) for x in axes)
        axes = [[_norm(i, x1.shape.rank) for i in a], [_norm(i, x2.shape.rank) for i in b]]
    return tf.tensordot(x1, x2, axes)


def inner(x1, x2):
    x1, x2 = promote(x1, x2)
    r1, r2 = x1.shape.rank, x2.shape.rank
    if r1 == 0 or r2 == 0:
        return x1 * x2
    return tf.tensordot(x1, x2, [[r1 - 1], [r2 - 1]])


def outer(x1, x2):
    x1, x2 = promote(x1, x2)
    return tf.reshape(x1, [-1, 1]) * tf.reshape(x2, [1, -1])


def kron(x1, x2):
    x1, x2 = promote(x1, x2)
    s1, s2 = _static_shape(x1), _static_shape(x2)
    rank = builtins.max(len(s1), len(s2))
    s1, s2 = [1] * (rank - len(s1)) + s1, [1] * (rank - len(s2)) + s2
    a = tf.reshape(x1, [d for s in s1 for d in (s, 1)])
    b = tf.reshape(x2, [d for s in s2 for d in (1, s)])
    return tf.reshape(a * b, [p * q for p, q in zip(s1, s2)])


def einsum(subscripts, *operands, **kwargs):
    return tf.einsum(subscripts, *_einsum_operands(operands))


def _full_correlation(x1, x2):
    """The full correlation of vectors ``x1`` and ``x2``, for the shared ``correlate``."""
    n = x2.shape[0]
    padded = tf.pad(x1, [[n - 1, n - 1]])
    return tf.reshape(tf.nn.conv1d(tf.reshape(padded, [1, -1, 1]), tf.reshape(x2, [n, 1, 1]), 1,
                                   "VALID"), [-1])


def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _t(y)
    if x is None:
        compute, out_dt = _float_out(y)
    else:
        x = _t(x)
        out_dt = result_type(y.dtype, x.dtype, "float*")
        compute = _FLOAT_COMPUTE.get(out_dt, out_dt)
    y = tf.cast(y, compute)
    rank = y.shape.rank
    axis = _norm(axis, rank)
    head = [slice(None)] * axis
    upper, lower = y[tuple(head + [slice(1, None)])], y[tuple(head + [slice(None, -1)])]
    if x is None:
        d = tf.cast(dx, compute)
    else:
        d = diff(tf.cast(x, compute), axis=-1 if x.shape.rank == 1 else axis)
        if x.shape.rank == 1:
            shape = [1] * rank
            shape[axis] = -1
            d = tf.reshape(d, shape)
    return tf.cast(tf.reduce_sum(d * (upper + lower) / 2, axis=axis), out_dt)


def corrcoef(x):
    x = _t(x)
    compute, out_dt = _float_out(x)
    x = tf.cast(x, compute)
    rows = x if x.shape.rank == 2 else tf.reshape(x, [1, -1])
    centred = rows - tf.reduce_mean(rows, axis=1, keepdims=True)
    cov = tf.matmul(centred, centred, transpose_b=True)
    d = tf.sqrt(tf.linalg.diag_part(cov))
    out = tf.clip_by_value(cov / d[:, None] / d[None, :], -1, 1)
    if x.shape.rank != 2:
        out = tf.reshape(out, [])
    return tf.cast(out, out_dt)


def slogdet(x):
    x = _t(x)
    _, out_dt = _float_out(x)
    sign, logdet = tf.linalg.slogdet(tf.cast(x, out_dt))
    return sign, logdet


def _vmap(fn):
    return lambda *ts: tf.vectorized_map(lambda elems: fn(*elems), ts)


def vectorize(pyfunc, *, excluded=None, signature=None):
    return vectorize_with(_vmap, pyfunc, excluded, signature)

