"""jax backend: array ops (shape, indexing, reductions, sorting, statistics, contractions)."""

import builtins

import jax
import jax.numpy as jnp

from kbridge.backend.common.dtypes import result_type, standardize_dtype
from kbridge.backend.jax.core import convert_to_tensor, promote, to_jax_dtype
from kbridge.backend.numpy.array import (
    SUM_DTYPES, ArgumentError, _check_method, _check_sections, _float_dtype, check_pad,
    pad_widths, rearrange_plan,
)
from kbridge.errors import ShapeError


def _a(x):
    return x if isinstance(x, jax.Array) else convert_to_tensor(x)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _name(x):
    return standardize_dtype(x.dtype)


def _compute(dt):
    return to_jax_dtype("float32" if dt in ("float16", "bfloat16") else dt)


# --- reductions ---------------------------------------------------------------------------

def sum(x, axis=None, keepdims=False):
    x = _a(x)
    dt = to_jax_dtype(SUM_DTYPES.get(_name(x), _name(x)))
    return jnp.sum(x, axis=_axis(axis), keepdims=keepdims, dtype=dt)


def prod(x, axis=None, keepdims=False, dtype=None):
    x = _a(x)
    dt = to_jax_dtype(dtype if dtype is not None else SUM_DTYPES.get(_name(x), _name(x)))
    return jnp.prod(x, axis=_axis(axis), keepdims=keepdims, dtype=dt)


def _float_reduce(fn, x, axis, keepdims):
    x = _a(x)
    out_dt = _float_dtype(x.dtype)
    out = fn(x.astype(_compute(out_dt)), axis=_axis(axis), keepdims=keepdims)
    return out.astype(to_jax_dtype(out_dt))


def mean(x, axis=None, keepdims=False):
    return _float_reduce(jnp.mean, x, axis, keepdims)


def std(x, axis=None, keepdims=False):
    return _float_reduce(jnp.std, x, axis, keepdims)


def var(x, axis=None, keepdims=False):
    return _float_reduce(jnp.var, x, axis, keepdims)


def max(x, axis=None, keepdims=False, initial=None):
    return jnp.max(_a(x), axis=_axis(axis), keepdims=keepdims, initial=initial)


def min(x, axis=None, keepdims=False, initial=None):
    return jnp.min(_a(x), axis=_axis(axis), keepdims=keepdims, initial=initial)


def amax(x, axis=None, keepdims=False):
    return jnp.max(_a(x), axis=_axis(axis), keepdims=keepdims)


def amin(x, axis=None, keepdims=False):
    return jnp.min(_a(x), axis=_axis(axis), keepdims=keepdims)


def ptp(x, axis=None, keepdims=False):
    return jnp.ptp(_a(x), axis=_axis(axis), keepdims=keepdims)


def any(x, axis=None, keepdims=False):
    return jnp.any(_a(x), axis=_axis(axis), keepdims=keepdims)


def all(x, axis=None, keepdims=False):
    return jnp.all(_a(x), axis=_axis(axis), keepdims=keepdims)


def argmax(x, axis=None, keepdims=False):
    return jnp.argmax(_a(x), axis=axis, keepdims=keepdims).astype("int32")


def argmin(x, axis=None, keepdims=False):
    return jnp.argmin(_a(x), axis=axis, keepdims=keepdims).astype("int32")


def count_nonzero(x, axis=None):
    return jnp.count_nonzero(_a(x), axis=_axis(axis)).astype("int32")


def average(x, axis=None, weights=None):
    x = _a(x)
    if weights is None:
        return mean(x, axis=axis)
    weights = _a(weights)
    dt = to_jax_dtype(result_type(x.dtype, weights.dtype, "float*"))
    return jnp.average(x.astype(dt), axis=_axis(axis), weights=weights.astype(dt))


def nansum(x, axis=None, keepdims=False):
    x = _a(x)
    dt = to_jax_dtype(SUM_DTYPES.get(_name(x), _name(x)))
    return jnp.nansum(x, axis=_axis(axis), keepdims=keepdims, dtype=dt)


def nanprod(x, axis=None, keepdims=False):
    x = _a(x)
    dt = to_jax_dtype(SUM_DTYPES.get(_name(x), _name(x)))
    return jnp.nanprod(x, axis=_axis(axis), keepdims=keepdims, dtype=dt)


def nanmean(x, axis=None, keepdims=False):
    return _float_reduce(jnp.nanmean, x, axis, keepdims)


def nanstd(x, axis=None, keepdims=False):
    return _float_reduce(jnp.nanstd, x, axis, keepdims)


def nanvar(x, axis=None, keepdims=False):
    return _float_reduce(jnp.nanvar, x, axis, keepdims)


def nanmax(x, axis=None, keepdims=False):
    return jnp.nanmax(_a(x), axis=_axis(axis), keepdims=keepdims)


def nanmin(x, axis=None, keepdims=False):
    return jnp.nanmin(_a(x), axis=_axis(axis), keepdims=keepdims)


def nanargmax(x, axis=None, keepdims=False):
    return jnp.nanargmax(_a(x), axis=axis, keepdims=keepdims).astype("int32")


def nanargmin(x, axis=None, keepdims=False):
    return jnp.nanargmin(_a(x), axis=axis, keepdims=keepdims).astype("int32")


def _cum(fn, x, axis, dtype):
    x = _a(x)
    dt = standardize_dtype(dtype) if dtype is not None else _name(x)
    return fn(x, axis=axis, dtype=to_jax_dtype("int32" if dt == "bool" else dt))


def cumsum(x, axis=None, dtype=None):
    return _cum(jnp.cumsum, x, axis, dtype)


def cumprod(x, axis=None, dtype=None):
    return _cum(jnp.cumprod, x, axis, dtype)


def nancumsum(x, axis=None, dtype=None):
    return _cum(jnp.nancumsum, x, axis, dtype)


def nancumprod(x, axis=None, dtype=None):
    return _cum(jnp.nancumprod, x, axis, dtype)


def _quantile(fn, x, q, axis, method, keepdims):
    _check_method(method)
    x = _a(x)
    out_dt = _float_dtype(x.dtype)
    compute = _compute(out_dt)
    q = jnp.asarray(q, dtype=compute)
    out = fn(x.astype(compute), q, axis=_axis(axis), method=method, keepdims=keepdims)
    return out.astype(to_jax_dtype(out_dt))


def quantile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(jnp.quantile, x, q, axis, method, keepdims)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(jnp.nanquantile, x, q, axis, method, keepdims)


def percentile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(jnp.quantile, x, jnp.asarray(q) / 100.0, axis, method, keepdims)


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(jnp.nanquantile, x, jnp.asarray(q) / 100.0, axis, method, keepdims)


def median(x, axis=None, keepdims=False):
    return _quantile(jnp.quantile, x, 0.5, axis, "linear", keepdims)


def nanmedian(x, axis=None, keepdims=False):
    return _quantile(jnp.nanquantile, x, 0.5, axis, "linear", keepdims)


# --- shape manipulation -------------------------------------------------------------------

def reshape(x, newshape):
    return jnp.reshape(_a(x), newshape)


def ravel(x):
    return jnp.ravel(_a(x))


def transpose(x, axes=None):
    return jnp.transpose(_a(x), axes)


def expand_dims(x, axis):
    return jnp.expand_dims(_a(x), _axis(axis))


def squeeze(x, axis=None):
    x = _a(x)
    axis = _axis(axis)
    for ax in (axis if isinstance(axis, tuple) else () if axis is None else (axis,)):
        if x.shape[ax] != 1:
            raise ShapeError(f"Cannot squeeze axis {ax} of size {x.shape[ax]}: only size-1 "
                             f"axes can be squeezed. Received: x.shape={x.shape}")
    return jnp.squeeze(x, axis)


def moveaxis(x, source, destination):
    return jnp.moveaxis(_a(x), source, destination)


def swapaxes(x, axis1, axis2):
    return jnp.swapaxes(_a(x), axis1, axis2)


def broadcast_to(x, shape):
    return jnp.broadcast_to(_a(x), shape)


def concatenate(xs, axis=0):
    return jnp.concatenate(promote(*xs), axis=axis)


def append(x1, x2, axis=None):
    return jnp.append(*promote(x1, x2), axis=axis)


def stack(x, axis=0):
    return jnp.stack(promote(*x), axis=axis)


def hstack(xs):
    return jnp.hstack(promote(*xs))


def vstack(xs):
    return jnp.vstack(promote(*xs))


def dstack(xs):
    return jnp.dstack(promote(*xs))


def split(x, indices_or_sections, axis=0):
    x = _a(x)
    _check_sections(x, indices_or_sections, axis)
    return jnp.split(x, indices_or_sections, axis=axis)


def array_split(x, indices_or_sections, axis=0):
    return jnp.array_split(_a(x), indices_or_sections, axis=axis)


def hsplit(x, indices_or_sections):
    x = _a(x)
    return split(x, indices_or_sections, axis=1 if x.ndim > 1 else 0)


def vsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=0)


def dsplit(x, indices_or_sections):
    return split(x, indices_or_sections, axis=2)


def tile(x, repeats):
    return jnp.tile(_a(x), repeats)


def repeat(x, repeats, axis=None):
    if isinstance(repeats, (list, tuple)):
        repeats = jnp.asarray(repeats)
    return jnp.repeat(_a(x), repeats, axis=axis)


def flip(x, axis=None):
    return jnp.flip(_a(x), _axis(axis))


def fliplr(x):
    return jnp.fliplr(_a(x))


def flipud(x):
    return jnp.flipud(_a(x))


def rot90(array, k=1, axes=(0, 1)):
    return jnp.rot90(_a(array), k=k, axes=axes)


def roll(x, shift, axis=None):
    return jnp.roll(_a(x), shift, axis=_axis(axis))


def pad(x, pad_width, mode="constant", constant_values=None):
    check_pad(mode, constant_values)
    x = _a(x)
    widths = pad_widths(pad_width, x.ndim)
    if mode == "constant":
        return jnp.pad(x, widths, constant_values=0 if constant_values is None else constant_values)
    return jnp.pad(x, widths, mode=mode)


def tril(x, k=0):
    return jnp.tril(_a(x), k)


def triu(x, k=0):
    return jnp.triu(_a(x), k)


def diag(x, k=0):
    x = _a(x)
    if x.ndim not in (1, 2):
        raise ShapeError(f"`diag` expects a 1D or 2D input. Received: x.shape={x.shape}")
    return jnp.diag(x, k)


def diagflat(x, k=0):
    return jnp.diagflat(_a(x), k)


def diagonal(x, offset=0, axis1=0, axis2=1):
    return jnp.diagonal(_a(x), offset, axis1, axis2)


def trace(x, offset=0, axis1=0, axis2=1):
    x = _a(x)
    dt = to_jax_dtype(SUM_DTYPES.get(_name(x), _name(x)))
    return jnp.trace(x, offset, axis1, axis2, dtype=dt)


def diff(a, n=1, axis=-1):
    return jnp.diff(_a(a), n=n, axis=axis)


def meshgrid(*x, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ArgumentError(f"`indexing` must be 'xy' or 'ij'. Received: indexing={indexing!r}")
    return list(jnp.meshgrid(*[_a(v) for v in x], indexing=indexing))


def ndim(x):
    return jnp.ndim(x)


def size(x):
    return int(jnp.size(x))


def view(x, dtype=None):
    x = _a(x)
    return x if dtype is None else x.view(to_jax_dtype(dtype))


# --- indexing -----------------------------------------------------------------------------

def get_item(x, key):
    x = _a(x)
    if isinstance(key, list):
        key = jnp.asarray(key)
    return x[key]


def take(x, indices, axis=None):
    return jnp.take(_a(x), _a(indices), axis=axis)


def take_along_axis(x, indices, axis=None):
    x, indices = _a(x), _a(indices)
    if axis is None:
        return jnp.take_along_axis(x.reshape(-1), indices.reshape(-1), axis=0)
    axis = axis % x.ndim
    shape_x, shape_i = list(x.shape), list(indices.shape)
    shape_x[axis] = shape_i[axis] = 1
    common = jnp.broadcast_shapes(tuple(shape_x), tuple(shape_i))
    x = jnp.broadcast_to(x, common[:axis] + (x.shape[axis],) + common[axis + 1:])
    indices = jnp.broadcast_to(indices, common[:axis] + (indices.shape[axis],) + common[axis + 1:])
    return jnp.take_along_axis(x, indices, axis=axis)


def where(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ArgumentError("`where` takes both `x1` and `x2`, or neither. "
                            f"Received: x1={x1!r}, x2={x2!r}")
    x1, x2 = promote(x1, x2)
    return jnp.where(_a(condition).astype(bool), x1, x2)


def nonzero(x):
    return tuple(i.astype("int32") for i in jnp.nonzero(_a(x)))


def select(condlist, choicelist, default=0):
    choices = promote(*choicelist, default)
    conds = [_a(c).astype(bool) for c in condlist]
    return jnp.select(conds, choices[:-1], choices[-1])


def searchsorted(sorted_sequence, values, side="left"):
    if side not in ("left", "right"):
        raise ArgumentError(f"`side` must be 'left' or 'right'. Received: side={side!r}")
    seq, values = promote(sorted_sequence, values)
    if seq.ndim != 1:
        raise ShapeError(f"`sorted_sequence` must be 1D. Received: shape={seq.shape}")
    return jnp.searchsorted(seq, values, side=side).astype("int32")


def digitize(x, bins):
    x, bins = promote(x, bins)
    return jnp.digitize(x, bins).astype("int32")


def unravel_index(indices, shape):
    indices = _a(indices)
    dt = indices.dtype if jnp.issubdtype(indices.dtype, jnp.integer) else jnp.int32
    return tuple(i.astype(dt) for i in jnp.unravel_index(indices, shape))


def isin(x1, x2, assume_unique=False, invert=False):
    x1, x2 = promote(x1, x2)
    return jnp.isin(x1, x2, assume_unique=assume_unique, invert=invert)


def bincount(x, weights=None, minlength=0, sparse=False):
    from kbridge.backend.numpy.array import _bincount_dtype

    if sparse:
        raise ArgumentError("`bincount(sparse=True)` is not supported by kbridge.")
    x = _a(x)
    weights = None if weights is None else _a(weights)
    dt = to_jax_dtype(_bincount_dtype(weights))
    length = builtins.max(int(jnp.max(x)) + 1 if x.size else 0, minlength)
    if x.ndim == 2:
        fn = jax.vmap(lambda r, w: jnp.bincount(r, w, length=length))
        return fn(x, jnp.ones_like(x) if weights is None else weights).astype(dt)
    return jnp.bincount(x, weights, length=length).astype(dt)


def histogram(x, bins=10, range=None):
    x = _a(x)
    if x.ndim != 1:
        raise ShapeError(f"`histogram` expects a 1D input. Received: x.shape={x.shape}")
    dt = to_jax_dtype(_float_dtype(x.dtype))
    counts, edges = jnp.histogram(x, bins=bins, range=range)
    return counts.astype("int32"), edges.astype(dt)


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,
           axis=None, size=None, fill_value=None):
    x = _a(x)
    values, index, inverse, counts = jnp.unique(x, True, True, True, axis=axis)
    inverse = inverse.reshape(-1)
    if not sorted:  # order of first appearance
        order = jnp.argsort(index, stable=True)
        rank = jnp.zeros_like(order).at[order].set(jnp.arange(order.size, dtype=order.dtype))
        values = jnp.take(values, order, axis=0 if axis is None else axis)
        index, counts, inverse = index[order], counts[order], rank[inverse]
    if axis is None and return_inverse:
        inverse = inverse.reshape(x.shape)
    if size is not None:
        ax = 0 if axis is None else axis
        n = values.shape[ax]
        if n >= size:
            values = jnp.take(values, jnp.arange(size), axis=ax)
            index, counts = index[:size], counts[:size]
        else:
            widths = [(0, 0)] * values.ndim
            widths[ax] = (0, size - n)
            values = jnp.pad(values, widths, constant_values=0 if fill_value is None else fill_value)
            index = jnp.pad(index, (0, size - n))
            counts = jnp.pad(counts, (0, size - n))
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
    return jnp.sort(x, axis=axis, stable=True)


def argsort(x, axis=-1):
    x = _a(x)
    if axis is None:
        x, axis = x.reshape(-1), 0
    return jnp.argsort(x, axis=axis, stable=True).astype("int32")


def argpartition(x, kth, axis=-1):
    # A full stable sort is a valid partition for every kth, and the same on every backend.
    return argsort(x, axis=axis)


# --- contractions -------------------------------------------------------------------------

def dot(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.dot(x1, x2)


def tensordot(x1, x2, axes=2):
    x1, x2 = promote(x1, x2)
    return jnp.tensordot(x1, x2, axes)


def inner(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.inner(x1, x2)


def outer(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.outer(x1, x2)


def vdot(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.vdot(x1, x2)


def kron(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.kron(x1, x2)


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    x1, x2 = promote(x1, x2)
    return jnp.cross(x1, x2, axisa=axisa, axisb=axisb, axisc=axisc, axis=axis)


def einsum(subscripts, *operands, **kwargs):
    dtypes = {_name(_a(o)) for o in operands}
    operands = promote(*operands)
    if dtypes == {"int8"}:  # int8 contractions accumulate (and return) int32
        operands = [o.astype("int32") for o in operands]
    return jnp.einsum(subscripts, *operands, **kwargs)


def correlate(x1, x2, mode="valid"):
    if mode not in ("valid", "same", "full"):
        raise ArgumentError(f"`mode` must be 'valid', 'same' or 'full'. Received: mode={mode!r}")
    x1, x2 = promote(x1, x2)
    dt = _float_dtype(x1.dtype)
    compute = _compute(dt)
    out = jnp.correlate(x1.astype(compute), x2.astype(compute), mode)
    return out.astype(to_jax_dtype(dt))


def vander(x, N=None, increasing=False):
    return jnp.vander(_a(x), N, increasing)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _a(y)
    dt = _float_dtype(y.dtype) if x is None else result_type(y.dtype, _a(x).dtype, "float*")
    compute = _compute(dt)
    x = None if x is None else _a(x).astype(compute)
    return jnp.trapezoid(y.astype(compute), x, dx, axis).astype(to_jax_dtype(dt))


def corrcoef(x):
    x = _a(x)
    dt = _float_dtype(x.dtype)
    return jnp.corrcoef(x.astype(_compute(dt))).astype(to_jax_dtype(dt))


def slogdet(x):
    x = _a(x)
    dt = to_jax_dtype(_float_dtype(x.dtype))
    sign, logdet = jnp.linalg.slogdet(x.astype(dt))
    return sign.astype(dt), logdet.astype(dt)


def vectorize(pyfunc, *, excluded=None, signature=None):
    return jnp.vectorize(pyfunc, excluded=excluded or frozenset(), signature=signature)


def rearrange(tensor, pattern, **axes_lengths):
    x = _a(tensor)
    mid, perm, out = rearrange_plan(x.shape, pattern, axes_lengths)
    return jnp.reshape(jnp.transpose(jnp.reshape(x, mid), perm), out)

