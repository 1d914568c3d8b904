"""numpy backend: array ops (shape, indexing, reductions, sorting, statistics, contractions).

This backend is the reference the others are tested against, so it states every dtype rule
explicitly instead of relying on numpy's (int64 / float64) defaults.
"""

import builtins
import re

import numpy as np

from kbridge.backend.common.dtypes import result_type, standardize_dtype
from kbridge.backend.numpy.core import convert_to_tensor, promote
from kbridge.errors import ArgumentError, ShapeError

# Integer sums accumulate in at least 32 bits (the JAX rule Keras follows).
SUM_DTYPES = {"bool": "int32", "int8": "int32", "int16": "int32", "uint8": "uint32",
              "uint16": "uint32"}
PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")
QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")




def _a(x):
    return x if isinstance(x, np.ndarray) else convert_to_tensor(x)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _float_dtype(dtype):
    """dtype of float-valued results: float inputs keep theirs, others get floatx."""
    return result_type(standardize_dtype(dtype), "float*")


def _check_method(method):
    if method not in QUANTILE_METHODS:
        raise ArgumentError(
            f"`method` must be one of {QUANTILE_METHODS}. Received: method={method!r}")


# --- reductions ---------------------------------------------------------------------------

def sum(x, axis=None, keepdims=False):
    x = _a(x)
    dt = SUM_DTYPES.get(x.dtype.name, x.dtype)
    return np.asarray(np.sum(x, axis=_axis(axis), keepdims=keepdims, dtype=dt))


def prod(x, axis=None, keepdims=False, dtype=None):
    x = _a(x)
    dt = standardize_dtype(dtype) if dtype is not None else SUM_DTYPES.get(x.dtype.name, x.dtype)
    return np.asarray(np.prod(x, axis=_axis(axis), keepdims=keepdims, dtype=dt))


def _float_reduce(fn, x, axis, keepdims):
    x = _a(x)
    out_dt = _float_dtype(x.dtype)
    compute = "float32" if out_dt in ("float16", "bfloat16") else out_dt
    out = fn(x.astype(compute, copy=False), axis=_axis(axis), keepdims=keepdims)
    return np.asarray(out).astype(out_dt, copy=False)


def mean(x, axis=None, keepdims=False):
    return _float_reduce(np.mean, x, axis, keepdims)


def std(x, axis=None, keepdims=False):
    return _float_reduce(np.std, x, axis, keepdims)


def var(x, axis=None, keepdims=False):
    return _float_reduce(np.var, x, axis, keepdims)


def max(x, axis=None, keepdims=False, initial=None):
    x = _a(x)
    if initial is None:
        return np.asarray(np.max(x, axis=_axis(axis), keepdims=keepdims))
    return np.asarray(np.max(x, axis=_axis(axis), keepdims=keepdims, initial=initial))


def min(x, axis=None, keepdims=False, initial=None):
    x = _a(x)
    if initial is None:
        return np.asarray(np.min(x, axis=_axis(axis), keepdims=keepdims))
    return np.asarray(np.min(x, axis=_axis(axis), keepdims=keepdims, initial=initial))


def amax(x, axis=None, keepdims=False):
    return np.asarray(np.amax(_a(x), axis=_axis(axis), keepdims=keepdims))


def amin(x, axis=None, keepdims=False):
    return np.asarray(np.amin(_a(x), axis=_axis(axis), keepdims=keepdims))


def ptp(x, axis=None, keepdims=False):
    return np.asarray(np.ptp(_a(x), axis=_axis(axis), keepdims=keepdims))


def any(x, axis=None, keepdims=False):
    return np.asarray(np.any(_a(x), axis=_axis(axis), keepdims=keepdims))


def all(x, axis=None, keepdims=False):
    return np.asarray(np.all(_a(x), axis=_axis(axis), keepdims=keepdims))


def argmax(x, axis=None, keepdims=False):
    return np.asarray(np.argmax(_a(x), axis=axis, keepdims=keepdims)).astype("int32")


def argmin(x, axis=None, keepdims=False):
    return np.asarray(np.argmin(_a(x), axis=axis, keepdims=keepdims)).astype("int32")


def count_nonzero(x, axis=None):
    return np.asarray(np.count_nonzero(_a(x), axis=_axis(axis))).astype("int32")


def average(x, axis=None, weights=None):
    x = _a(x)
    if weights is None:
        return mean(x, axis=axis)
    weights = _a(weights)
    dt = result_type(x.dtype, weights.dtype, "float*")
    out = np.average(x.astype(dt), axis=_axis(axis), weights=weights.astype(dt))
    return np.asarray(out, dtype=dt)


def nansum(x, axis=None, keepdims=False):
    x = _a(x)
    dt = SUM_DTYPES.get(x.dtype.name, x.dtype)
    return np.asarray(np.nansum(x, axis=_axis(axis), keepdims=keepdims, dtype=dt))


def nanprod(x, axis=None, keepdims=False):
    x = _a(x)
    dt = SUM_DTYPES.get(x.dtype.name, x.dtype)
    return np.asarray(np.nanprod(x, axis=_axis(axis), keepdims=keepdims, dtype=dt))


def nanmean(x, axis=None, keepdims=False):
    return _float_reduce(np.nanmean, x, axis, keepdims)


def nanstd(x, axis=None, keepdims=False):
    return _float_reduce(np.nanstd, x, axis, keepdims)


def nanvar(x, axis=None, keepdims=False):
    return _float_reduce(np.nanvar, x, axis, keepdims)


def nanmax(x, axis=None, keepdims=False):
    return np.asarray(np.nanmax(_a(x), axis=_axis(axis), keepdims=keepdims))


def nanmin(x, axis=None, keepdims=False):
    return np.asarray(np.nanmin(_a(x), axis=_axis(axis), keepdims=keepdims))


def nanargmax(x, axis=None, keepdims=False):
    return np.asarray(np.nanargmax(_a(x), axis=axis, keepdims=keepdims)).astype("int32")


def nanargmin(x, axis=None, keepdims=False):
    return np.asarray(np.nanargmin(_a(x), axis=axis, keepdims=keepdims)).astype("int32")


def _cum(fn, x, axis, dtype):
    x = _a(x)
    dt = standardize_dtype(dtype) if dtype is not None else standardize_dtype(x.dtype)
    if dt == "bool":
        dt = "int32"
    return np.asarray(fn(x, axis=axis, dtype=dt))


def cumsum(x, axis=None, dtype=None):
    return _cum(np.cumsum, x, axis, dtype)


def cumprod(x, axis=None, dtype=None):
    return _cum(np.cumprod, x, axis, dtype)


def nancumsum(x, axis=None, dtype=None):
    return _cum(np.nancumsum, x, axis, dtype)


def nancumprod(x, axis=None, dtype=None):
    return _cum(np.nancumprod, x, axis, dtype)


def _quantile(fn, x, q, axis, method, keepdims):
    _check_method(method)
    x = _a(x)
    out_dt = _float_dtype(x.dtype)
    compute = "float32" if out_dt in ("float16", "bfloat16") else out_dt
    q = np.asarray(q, dtype=compute)
    out = fn(x.astype(compute, copy=False), q, axis=_axis(axis), method=method, keepdims=keepdims)
    return np.asarray(out).astype(out_dt, copy=False)


def quantile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(np.quantile, x, q, axis, method, keepdims)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(np.nanquantile, x, q, axis, method, keepdims)


def percentile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(np.quantile, x, np.asarray(q) / 100.0, axis, method, keepdims)


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(np.nanquantile, x, np.asarray(q) / 100.0, axis, method, keepdims)


def median(x, axis=None, keepdims=False):
    return _quantile(np.quantile, x, 0.5, axis, "linear", keepdims)


def nanmedian(x, axis=None, keepdims=False):
    return _quantile(np.nanquantile, x, 0.5, axis, "linear", keepdims)


# --- shape manipulation -------------------------------------------------------------------

def reshape(x, newshape):
    return np.reshape(_a(x), newshape)


def ravel(x):
    return np.ravel(_a(x))


def transpose(x, axes=None):
    return np.transpose(_a(x), axes)


def expand_dims(x, axis):
    return np.expand_dims(_a(x), _axis(axis))


def squeeze(x, axis=None):
    x = _a(x)
    axis = _axis(axis)
    for ax in (axis if isinstance(axis, tuple) else () if axis is None else (axis,)):
        if x.shape[ax] != 1:
            raise ShapeError(f"Cannot squeeze axis {ax} of size {x.shape[ax]}: only size-1 "
                             f"axes can be squeezed. Received: x.shape={x.shape}")
    return np.squeeze(x, axis)


def moveaxis(x, source, destination):
    return np.moveaxis(_a(x), source, destination)


def swapaxes(x, axis1, axis2):
    return np.swapaxes(_a(x), axis1, axis2)


def broadcast_to(x, shape):
    return np.broadcast_to(_a(x), shape)


def concatenate(xs, axis=0):
    return np.concatenate(promote(*xs), axis=axis)


def append(x1, x2, axis=None):
    return np.append(*promote(x1, x2), axis=axis)


def stack(x, axis=0):
    return np.stack(promote(*x), axis=axis)


def hstack(xs):
    return np.hstack(promote(*xs))


def vstack(xs):
    return np.vstack(promote(*xs))


def dstack(xs):
    return np.dstack(promote(*xs))


def _check_sections(x, n, axis):
    if isinstance(n, int) and x.shape[axis] % n:
        raise ShapeError(f"`indices_or_sections`={n} does not divide axis {axis} of size "
                         f"{x.shape[axis]} evenly; use array_split for unequal parts.")


def split(x, indices_or_sections, axis=0):
    x = _a(x)
    _check_sections(x, indices_or_sections, axis)
    return np.split(x, indices_or_sections, axis=axis)


def array_split(x, indices_or_sections, axis=0):
    return np.array_split(_a(x), indices_or_sections, axis=axis)


def hsplit(x, indices_or_sections):
    x = _a(x)
    return split(x, indices_or_sections, axis=1 if x.ndim > 1 else 0)


def vsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=0)


def dsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=2)


def tile(x, repeats):
    return np.tile(_a(x), repeats)


def repeat(x, repeats, axis=None):
    return np.repeat(_a(x), repeats, axis=axis)


def flip(x, axis=None):
    return np.flip(_a(x), _axis(axis))


def fliplr(x):
    return np.fliplr(_a(x))


def flipud(x):
    return np.flipud(_a(x))


def rot90(array, k=1, axes=(0, 1)):
    return np.rot90(_a(array), k=k, axes=axes)


def roll(x, shift, axis=None):
    return np.roll(_a(x), shift, axis=_axis(axis))


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
    if mode not in PAD_MODES:
        raise ArgumentError(f"`mode` must be one of {PAD_MODES}. Received: mode={mode!r}")
    if mode != "constant" and constant_values is not None:
        raise ArgumentError(f"`constant_values` can only be given with mode='constant'. "
                            f"Received: mode={mode!r}, constant_values={constant_values!r}")


def pad(x, pad_width, mode="constant", constant_values=None):
    check_pad(mode, constant_values)
    x = _a(x)
    widths = pad_widths(pad_width, x.ndim)
    if mode == "constant":
        return np.pad(x, widths, constant_values=0 if constant_values is None else constant_values)
    return np.pad(x, widths, mode=mode)


def tril(x, k=0):
    return np.tril(_a(x), k)


def triu(x, k=0):
    return np.triu(_a(x), k)


def diag(x, k=0):
    x = _a(x)
    if x.ndim not in (1, 2):
        raise ShapeError(f"`diag` expects a 1D or 2D input. Received: x.shape={x.shape}")
    return np.diag(x, k)


def diagflat(x, k=0):
    return np.diagflat(_a(x), k)


def diagonal(x, offset=0, axis1=0, axis2=1):
    return np.diagonal(_a(x), offset, axis1, axis2).copy()


def trace(x, offset=0, axis1=0, axis2=1):
    x = _a(x)
    dt = SUM_DTYPES.get(x.dtype.name, x.dtype)
    return np.asarray(np.trace(x, offset, axis1, axis2, dtype=dt))


def diff(a, n=1, axis=-1):
    return np.diff(_a(a), n=n, axis=axis)


def meshgrid(*x, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ArgumentError(f"`indexing` must be 'xy' or 'ij'. Received: indexing={indexing!r}")
    return list(np.meshgrid(*[_a(v) for v in x], indexing=indexing))


def ndim(x):
    return np.ndim(x)


def size(x):
    return int(np.size(x))


def view(x, dtype=None):
    x = _a(x)
    if dtype is None:
        return x
    dt = np.dtype(standardize_dtype(dtype)) if standardize_dtype(dtype) != "bfloat16" else None
    if dt is None:
        import ml_dtypes

        dt = np.dtype(ml_dtypes.bfloat16)
    return (x if x.dtype.itemsize == dt.itemsize else np.ascontiguousarray(x)).view(dt)


# --- indexing -----------------------------------------------------------------------------

def get_item(x, key):
    x = _a(x)
    if isinstance(key, list):
        key = np.asarray(key)
    return np.asarray(x[key])


def take(x, indices, axis=None):
    return np.take(_a(x), _a(indices), axis=axis)


def take_along_axis(x, indices, axis=None):
    x, indices = _a(x), _a(indices)
    if axis is None:
        return np.take_along_axis(x.reshape(-1), indices.reshape(-1), axis=0)
    axis = axis % x.ndim
    shape_x, shape_i = list(x.shape), list(indices.shape)
    shape_x[axis] = shape_i[axis] = 1
    common = np.broadcast_shapes(tuple(shape_x), tuple(shape_i))
    x = np.broadcast_to(x, common[:axis] + (x.shape[axis],) + common[axis + 1:])
    indices = np.broadcast_to(indices, common[:axis] + (indices.shape[axis],) + common[axis + 1:])
    return np.take_along_axis(x, indices, axis=axis)


def where(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ArgumentError("`where` takes both `x1` and `x2`, or neither. "
                            f"Received: x1={x1!r}, x2={x2!r}")
    x1, x2 = promote(x1, x2)
    return np.where(_a(condition).astype(bool, copy=False), x1, x2)


def nonzero(x):
    return tuple(i.astype("int32") for i in np.nonzero(_a(x)))


def select(condlist, choicelist, default=0):
    choices = promote(*choicelist, default)
    conds = [_a(c).astype(bool, copy=False) for c in condlist]
    return np.asarray(np.select(conds, choices[:-1], choices[-1]))


def searchsorted(sorted_sequence, values, side="left"):
    if side not in ("left", "right"):
        raise ArgumentError(f"`side` must be 'left' or 'right'. Received: side={side!r}")
    seq, values = promote(sorted_sequence, values)
    if seq.ndim != 1:
        raise ShapeError(f"`sorted_sequence` must be 1D. Received: shape={seq.shape}")
    return np.searchsorted(seq, values, side=side).astype("int32")


def digitize(x, bins):
    x, bins = promote(x, bins)
    return np.digitize(x, bins).astype("int32")


def unravel_index(indices, shape):
    indices = _a(indices)
    dt = indices.dtype if indices.dtype.kind in "iu" else np.dtype("int32")
    return tuple(i.astype(dt) for i in np.unravel_index(indices, shape))


def isin(x1, x2, assume_unique=False, invert=False):
    x1, x2 = promote(x1, x2)
    return np.isin(x1, x2, assume_unique=assume_unique, invert=invert)


def _bincount_dtype(weights):
    if weights is None:
        return "int32"
    return SUM_DTYPES.get(standardize_dtype(weights.dtype), standardize_dtype(weights.dtype))


def bincount(x, weights=None, minlength=0, sparse=False):
    if sparse:
        raise ArgumentError("`bincount(sparse=True)` is not supported by kbridge.")
    x = _a(x)
    weights = None if weights is None else _a(weights)
    dt = _bincount_dtype(weights)
    if x.ndim == 2:
        return np.stack([np.bincount(r, None if weights is None else w, minlength)
                         for r, w in zip(x, x if weights is None else weights)]).astype(dt)
    return np.bincount(x, weights, minlength).astype(dt)


def histogram(x, bins=10, range=None):
    x = _a(x)
    if x.ndim != 1:
        raise ShapeError(f"`histogram` expects a 1D input. Received: x.shape={x.shape}")
    dt = _float_dtype(x.dtype)
    counts, edges = np.histogram(x, bins=bins, range=range)
    return counts.astype("int32"), edges.astype(dt)


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,
           axis=None, size=None, fill_value=None):
    x = _a(x)
    values, index, inverse, counts = np.unique(x, True, True, True, axis=axis)
    inverse = inverse.reshape(-1)
    if not sorted:  # order of first appearance
        order = np.argsort(index, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        values = np.take(values, order, axis=0 if axis is None else axis)
        index, counts, inverse = index[order], counts[order], rank[inverse]
    if axis is None and return_inverse:
        inverse = inverse.reshape(x.shape)
    if size is not None:
        n = values.shape[0 if axis is None else axis]
        fill = 0 if fill_value is None else fill_value
        if n >= size:
            sl = slice(0, size)
            values = np.take(values, np.arange(size), axis=0 if axis is None else axis)
            index, counts = index[sl], counts[sl]
        else:
            ax = 0 if axis is None else axis
            widths = [(0, 0)] * values.ndim
            widths[ax] = (0, size - n)
            values = np.pad(values, widths, constant_values=fill)
            index = np.pad(index, (0, size - n))
            counts = np.pad(counts, (0, size - n))
    out = [values]
    if return_index:
        out.append(index.astype("int32"))
    if return_inverse:
        out.append(inverse.astype("int32"))
    if return_counts:
        out.append(counts.astype("int32"))
    return out[0] if len(out) == 1 else tuple(out)


# --- sorting ------------------------------------------------------------------------------

def sort(x, axis=-1):
    x = _a(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return np.sort(x, axis=axis, kind="stable")


def argsort(x, axis=-1):
    x = _a(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return np.argsort(x, axis=axis, kind="stable").astype("int32")


def argpartition(x, kth, axis=-1):
    return np.argpartition(_a(x), kth, axis=axis).astype("int32")


# --- contractions -------------------------------------------------------------------------

def dot(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.asarray(np.dot(x1, x2))


def tensordot(x1, x2, axes=2):
    x1, x2 = promote(x1, x2)
    return np.asarray(np.tensordot(x1, x2, axes))


def inner(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.asarray(np.inner(x1, x2))


def outer(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.outer(x1, x2)


def vdot(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.asarray(np.vdot(x1, x2))


def kron(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.kron(x1, x2)


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    x1, x2 = promote(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    return np.cross(x1, x2, axisa=axisa, axisb=axisb, axisc=axisc)


def einsum(subscripts, *operands, **kwargs):
    dtypes = {standardize_dtype(_a(o).dtype) for o in operands}
    operands = promote(*operands)
    out = np.einsum(subscripts, *operands, **kwargs)
    if dtypes == {"int8"}:  # int8 contractions accumulate (and return) int32
        out = np.einsum(subscripts, *[o.astype("int32") for o in operands], **kwargs)
    return np.asarray(out)


def correlate(x1, x2, mode="valid"):
    if mode not in ("valid", "same", "full"):
        raise ArgumentError(f"`mode` must be 'valid', 'same' or 'full'. Received: mode={mode!r}")
    x1, x2 = promote(x1, x2)
    dt = _float_dtype(x1.dtype)
    compute = "float32" if dt in ("float16", "bfloat16") else dt
    return np.correlate(x1.astype(compute), x2.astype(compute), mode).astype(dt)


def vander(x, N=None, increasing=False):
    x = _a(x)
    return np.vander(x, N, increasing).astype(x.dtype, copy=False)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _a(y)
    dt = _float_dtype(y.dtype) if x is None else result_type(y.dtype, _a(x).dtype, "float*")
    compute = "float32" if dt in ("float16", "bfloat16") else dt
    x = None if x is None else _a(x).astype(compute)
    return np.asarray(np.trapezoid(y.astype(compute), x, dx, axis)).astype(dt)


def corrcoef(x):
    x = _a(x)
    dt = _float_dtype(x.dtype)
    compute = "float32" if dt in ("float16", "bfloat16") else dt
    return np.asarray(np.corrcoef(x.astype(compute))).astype(dt)


def slogdet(x):
    x = _a(x)
    dt = _float_dtype(x.dtype)
    sign, logdet = np.linalg.slogdet(x.astype(dt))
    return sign.astype(dt), logdet.astype(dt)


def vectorize(pyfunc, *, excluded=None, signature=None):
    return np.vectorize(pyfunc, excluded=excluded, signature=signature)


def correlate_window(m, n, mode):
    """(start, length) of numpy's ``mode`` output within the full correlation of sizes m, n."""
    if mode == "full":
        return 0, m + n - 1
    if mode == "valid":
        return builtins.min(m, n) - 1, abs(m - n) + 1
    return ((n - 1) // 2 if m >= n else m - 1 - (m - 1) // 2), builtins.max(m, n)


# --- vectorize for backends without a native one (a vmap over the loop dims) --------------

def parse_signature(signature):
    """Core-dim counts of each input of a gufunc ``signature`` such as ``'(n),(n)->()'``."""
    inputs = signature.split("->")[0]
    return [len([d for d in group.split(",") if d.strip()])
            for group in re.findall(r"\(([^)]*)\)", inputs)]


def vectorize_with(vmap, to_tensor, broadcast, pyfunc, excluded, signature):
    """``pyfunc`` mapped with ``vmap`` over the broadcast loop dims of its tensor arguments."""
    excluded = set(excluded or ())

    def wrapped(*args):
        mapped = [i for i in builtins.range(len(args)) if i not in excluded]
        tensors = [to_tensor(args[i]) for i in mapped]
        core = parse_signature(signature) if signature else [0] * len(tensors)
        loops = [tuple(t.shape[:t.ndim - c]) for t, c in zip(tensors, core)]
        loop_shape = tuple(np.broadcast_shapes(*loops)) if loops else ()
        tensors = [broadcast(t, loop_shape + tuple(t.shape[t.ndim - c:]))
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
    x = _a(tensor)
    mid, perm, out = rearrange_plan(x.shape, pattern, axes_lengths)
    return np.reshape(np.transpose(np.reshape(x, mid), perm), out)
