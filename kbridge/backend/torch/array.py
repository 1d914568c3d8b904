"""torch backend: array ops (shape, indexing, reductions, sorting, statistics, contractions).

The composite ops are the shared ones (``kbridge/backend/shared/array_composite.py``), the
thin wrappers that read as in numpy those of ``array_xp``; below them, torch's own.
"""

import builtins

import numpy as np
import torch
import torch.nn.functional as F

from kbridge.backend.common.dtypes import result_type
from kbridge.backend.common.shared import include
from kbridge.backend.torch.core import TORCH_DTYPES, convert_to_tensor, promote, to_torch_dtype

include("array_composite", globals())
include("array_xp", globals(), xp=torch, tensor_type=torch.Tensor,
        convert_to_tensor=convert_to_tensor, promote=promote)

# torch's integer sums default to int64; kbridge's rule is "at least 32 bits". torch has no
# uint32 sum kernel, so unsigned sums run in int64 and are cast at the end.
_SUM = {torch.bool: torch.int32, torch.int8: torch.int32, torch.int16: torch.int32,
        torch.uint8: torch.int64, torch.uint16: torch.int64}
_SUM_OUT = {torch.uint8: torch.uint32, torch.uint16: torch.uint32}
_FLOAT_COMPUTE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def _dims(x, axis):
    if axis is None:
        return tuple(builtins.range(x.ndim))
    if isinstance(axis, int):
        return (axis,)
    return tuple(axis)


def _float_out(x):
    """(compute dtype, output dtype) of float-valued reductions of ``x``."""
    out = TORCH_DTYPES[_float_dtype(x.dtype)]
    return _FLOAT_COMPUTE.get(out, out), out


def _flatten_dims(x, dims):
    """``x`` with ``dims`` moved to the end and merged into one (last) axis."""
    dims = sorted(d % x.ndim for d in dims) if x.ndim else []
    keep = [d for d in builtins.range(x.ndim) if d not in dims]
    x = x.permute(keep + dims)
    return x.reshape(tuple(x.shape[:len(keep)]) + (-1,))


def _keep_shape(x, dims):
    shape = list(x.shape)
    for d in dims:
        shape[d % x.ndim] = 1
    return shape


def _reduce_multi(fn, x, axis, keepdims, **kwargs):
    """Reduce with a torch function that takes one ``dim`` only."""
    dims = _dims(x, axis)
    if len(dims) == 1:
        return fn(x, dim=dims[0], keepdim=keepdims, **kwargs)
    out = fn(_flatten_dims(x, dims), dim=-1, **kwargs)
    return out.reshape(_keep_shape(x, dims)) if keepdims else out


# --- reductions ---------------------------------------------------------------------------

def sum(x, axis=None, keepdims=False):
    x = _a(x)
    dt = _SUM.get(x.dtype)
    out = torch.sum(x, dim=_dims(x, axis), keepdim=keepdims, dtype=dt)
    return out.to(_SUM_OUT[x.dtype]) if x.dtype in _SUM_OUT else out


def prod(x, axis=None, keepdims=False, dtype=None):
    x = _a(x)
    dt = to_torch_dtype(dtype) if dtype is not None else _SUM.get(x.dtype, x.dtype)
    out = _reduce_multi(torch.prod, x, axis, keepdims, dtype=dt)
    if dtype is None and x.dtype in _SUM_OUT:
        out = out.to(_SUM_OUT[x.dtype])
    return out


def mean(x, axis=None, keepdims=False):
    x = _a(x)
    compute, out = _float_out(x)
    return torch.mean(x.to(compute), dim=_dims(x, axis), keepdim=keepdims).to(out)


def var(x, axis=None, keepdims=False):
    x = _a(x)
    compute, out = _float_out(x)
    return torch.var(x.to(compute), dim=_dims(x, axis), correction=0, keepdim=keepdims).to(out)


def std(x, axis=None, keepdims=False):
    x = _a(x)
    compute, out = _float_out(x)
    return torch.std(x.to(compute), dim=_dims(x, axis), correction=0, keepdim=keepdims).to(out)


def _with_initial(out, initial, fn):
    if initial is None:
        return out
    return fn(out, torch.as_tensor(initial, dtype=out.dtype))


def max(x, axis=None, keepdims=False, initial=None):
    x = _a(x)
    out = torch.amax(x, dim=_dims(x, axis), keepdim=keepdims)
    return _with_initial(out, initial, torch.maximum)


def min(x, axis=None, keepdims=False, initial=None):
    x = _a(x)
    out = torch.amin(x, dim=_dims(x, axis), keepdim=keepdims)
    return _with_initial(out, initial, torch.minimum)


def _truth(fn):
    """The reduction ``fn`` (``torch.any`` or ``torch.all``) of ``x != 0``."""

    def op(x, axis=None, keepdims=False):
        x = _a(x)
        return fn(x if x.dtype == torch.bool else x != 0, dim=_dims(x, axis), keepdim=keepdims)

    return op


any = _truth(torch.any)
all = _truth(torch.all)


def _arg(fn, x, axis, keepdims):
    x = _a(x)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if axis is None:
        out = fn(x.reshape(-1), dim=0)
        return out.reshape([1] * x.ndim).int() if keepdims else out.int()
    return fn(x, dim=axis, keepdim=keepdims).int()


def argmax(x, axis=None, keepdims=False):
    return _arg(torch.argmax, x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _arg(torch.argmin, x, axis, keepdims)


def count_nonzero(x, axis=None):
    x = _a(x)
    return torch.count_nonzero(x, dim=_dims(x, axis)).int()


def nanmean(x, axis=None, keepdims=False):  # torch has a kernel
    x = _a(x)
    compute, out = _float_out(x)
    return torch.nanmean(x.to(compute), dim=_dims(x, axis), keepdim=keepdims).to(out)


def _cum(fn, x, axis, dtype):
    x = _a(x)
    dt = to_torch_dtype(dtype) if dtype is not None else x.dtype
    x, axis = _along(x, axis)
    return fn(x, dim=axis, dtype=torch.int32 if dt == torch.bool else dt)


def cumsum(x, axis=None, dtype=None):
    return _cum(torch.cumsum, x, axis, dtype)


def cumprod(x, axis=None, dtype=None):
    return _cum(torch.cumprod, x, axis, dtype)


def _quantile(x, q, axis, method, keepdims, ignore_nan):
    _check_choice("method", method, QUANTILE_METHODS)
    x = _a(x)
    compute, out_dt = _float_out(x)
    x = x.to(compute)
    q = torch.as_tensor(q, dtype=compute)
    dims = _dims(x, axis)
    fn = torch.nanquantile if ignore_nan else torch.quantile
    out = fn(_flatten_dims(x, dims), q, dim=-1, interpolation=method)
    if keepdims:
        out = out.reshape(tuple(q.shape) + tuple(_keep_shape(x, dims)))
    return out.to(out_dt)


# --- shape manipulation -------------------------------------------------------------------

def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def reshape(x, newshape):
    return torch.reshape(_a(x), _shape(newshape))


def ravel(x):
    return torch.reshape(_a(x), (-1,))


def transpose(x, axes=None):
    x = _a(x)
    return x.permute(tuple(reversed(builtins.range(x.ndim))) if axes is None else tuple(axes))


def expand_dims(x, axis):
    x = _a(x)
    for a in _expanded_axes(x.ndim, axis):
        x = x.unsqueeze(a)
    return x


def squeeze(x, axis=None):
    x = _a(x)
    return torch.squeeze(x) if axis is None else torch.squeeze(x, _squeeze_axes(x.shape, axis))


def broadcast_to(x, shape):
    return torch.broadcast_to(_a(x), _shape(shape))


def concatenate(xs, axis=0):
    xs = promote(*xs)
    if axis is None:
        return torch.cat([x.reshape(-1) for x in xs])
    return torch.cat(xs, dim=axis)


def array_split(x, indices_or_sections, axis=0):
    sections = indices_or_sections
    if not isinstance(sections, int):
        sections = [int(i) for i in sections]
    return list(torch.tensor_split(_a(x), sections, dim=axis))


def tile(x, repeats):
    return torch.tile(_a(x), _shape(repeats))


def repeat(x, repeats, axis=None):
    if not isinstance(repeats, int):
        repeats = _a(repeats)
    return torch.repeat_interleave(_a(x), repeats, dim=axis)


def flip(x, axis=None):
    x = _a(x)
    return torch.flip(x, _dims(x, axis))


def rot90(array, k=1, axes=(0, 1)):
    return torch.rot90(_a(array), k, list(axes))


def roll(x, shift, axis=None):
    x = _a(x)
    if axis is None:
        return torch.roll(x, shift)
    return torch.roll(x, shift, axis)


def pad(x, pad_width, mode="constant", constant_values=None):
    check_pad(mode, constant_values)
    x = _a(x)
    widths = pad_widths(pad_width, x.ndim)
    if mode == "constant":
        flat = [w for pair in reversed(widths) for w in pair]
        return F.pad(x, flat, value=0 if constant_values is None else constant_values)
    # Gathering with precomputed source indices works for any rank and any pad width.
    for axis, (before, after) in enumerate(widths):
        if before or after:
            index = torch.from_numpy(pad_index(x.shape[axis], before, after, mode))
            x = x.index_select(axis, index.to(x.device))
    return x


def ndim(x):
    return x.ndim if isinstance(x, torch.Tensor) else np.ndim(x)


def size(x):
    return x.numel() if isinstance(x, torch.Tensor) else int(np.size(x))


def view(x, dtype=None):
    x = _a(x)
    return x if dtype is None else x.view(to_torch_dtype(dtype))


# --- indexing -----------------------------------------------------------------------------

def _index(k):
    if isinstance(k, (list, np.ndarray)):
        return convert_to_tensor(k)
    return k


def get_item(x, key):
    x = _a(x)
    key = tuple(_index(k) for k in key) if isinstance(key, tuple) else _index(key)
    return x[key]


def _wrap(index, n):
    index = _a(index)
    return torch.where(index < 0, index + n, index)


def take(x, indices, axis=None):
    x, axis = _along(x, axis)
    axis = axis % x.ndim
    index = _wrap(indices, x.shape[axis])
    out = x.index_select(axis, index.reshape(-1))
    return out.reshape(tuple(x.shape[:axis]) + tuple(index.shape) + tuple(x.shape[axis + 1:]))


def take_along_axis(x, indices, axis=None):
    x, indices = _a(x), _a(indices)
    if axis is None:
        x, indices, axis = x.reshape(-1), indices.reshape(-1), 0
    axis = axis % x.ndim
    shape_x, shape_i = list(x.shape), list(indices.shape)
    shape_x[axis] = shape_i[axis] = 1
    common = torch.broadcast_shapes(shape_x, shape_i)
    x = x.expand(common[:axis] + (x.shape[axis],) + common[axis + 1:])
    indices = indices.expand(common[:axis] + (indices.shape[axis],) + common[axis + 1:])
    return torch.gather(x, axis, _wrap(indices, x.shape[axis]).long())


def where(condition, x1=None, x2=None):
    if x1 is None or x2 is None:
        _check_where(x1, x2)
        return nonzero(condition)
    x1, x2 = promote(x1, x2)
    condition = _a(condition)
    if condition.dtype != torch.bool:
        condition = condition != 0
    return torch.where(condition, x1, x2)


def nonzero(x):
    return tuple(i.int() for i in torch.nonzero(_a(x), as_tuple=True))


def select(condlist, choicelist, default=0):
    choices = promote(*choicelist, default)
    out = choices[-1]
    for cond, choice in zip(reversed(condlist), reversed(choices[:-1])):
        cond = _a(cond)
        out = torch.where(cond if cond.dtype == torch.bool else cond != 0, choice, out)
    return torch.broadcast_to(out, torch.broadcast_shapes(
        *[c.shape for c in choices], *[_a(c).shape for c in condlist]))


def searchsorted(sorted_sequence, values, side="left"):
    _check_choice("side", side, ("left", "right"))
    seq, values = promote(sorted_sequence, values)
    if seq.ndim != 1:
        raise ShapeError(f"`sorted_sequence` must be 1D. Received: shape={tuple(seq.shape)}")
    return torch.searchsorted(seq, values, right=side == "right", out_int32=True)


def unravel_index(indices, shape):
    indices = _a(indices)
    dt = torch.int32 if indices.is_floating_point() or indices.dtype == torch.bool \
        else indices.dtype
    return tuple(i.to(dt) for i in torch.unravel_index(indices.long(), tuple(shape)))


def bincount(x, weights=None, minlength=0, sparse=False):
    _check_dense(sparse)
    x = _a(x)
    weights = None if weights is None else _a(weights)
    dt = TORCH_DTYPES[_bincount_dtype(weights)]
    if weights is not None and not weights.is_floating_point():
        weights = weights.double()
    if x.ndim == 2:
        length = builtins.max(int(x.max()) + 1 if x.numel() else 0, minlength)
        rows = [torch.bincount(r, None if weights is None else weights[i], length)
                for i, r in enumerate(x)]
        return torch.stack(rows).to(dt)
    return torch.bincount(x, weights, minlength).to(dt)


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,
           axis=None, size=None, fill_value=None):
    x = _a(x)
    values, inverse, counts = torch.unique(x, sorted=True, return_inverse=True,
                                           return_counts=True, dim=axis)
    inverse = inverse.reshape(-1)
    n = counts.shape[0]
    positions = torch.arange(inverse.shape[0], device=x.device)
    index = torch.full((n,), inverse.shape[0], dtype=positions.dtype, device=x.device)
    index = index.scatter_reduce(0, inverse, positions, "amin")
    ax = 0 if axis is None else axis
    if not sorted:  # order of first appearance
        order = torch.argsort(index, stable=True)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n, device=x.device)
        values = values.index_select(ax, order)
        index, counts, inverse = index[order], counts[order], rank[inverse]
    return _unique_outputs(x, values, index, inverse, counts, axis, size, fill_value,
                           (return_index, return_inverse, return_counts))


# --- sorting ------------------------------------------------------------------------------

def sort(x, axis=-1):
    x, axis = _along(x, axis)
    return torch.sort(x, dim=axis, stable=True).values


def argsort(x, axis=-1):
    x, axis = _along(x, axis)
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return torch.argsort(x, dim=axis, stable=True).int()


# --- contractions -------------------------------------------------------------------------

def dot(x1, x2):
    x1, x2 = promote(x1, x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return x1 * x2
    if x2.ndim == 1:
        return torch.tensordot(x1, x2, dims=([x1.ndim - 1], [0]))
    return torch.tensordot(x1, x2, dims=([x1.ndim - 1], [x2.ndim - 2]))


def tensordot(x1, x2, axes=2):
    x1, x2 = promote(x1, x2)
    if not isinstance(axes, int):
        axes = [[a] if isinstance(a, int) else list(a) for a in axes]
    return torch.tensordot(x1, x2, dims=axes)


def inner(x1, x2):
    x1, x2 = promote(x1, x2)
    return torch.inner(x1, x2)


def outer(x1, x2):
    x1, x2 = promote(x1, x2)
    return torch.outer(x1.reshape(-1), x2.reshape(-1))


def einsum(subscripts, *operands, **kwargs):
    return torch.einsum(subscripts, *_einsum_operands(operands))


def _full_correlation(x1, x2):
    """The full correlation of vectors ``x1`` and ``x2``, for the shared ``correlate``."""
    n = x2.shape[0]
    return F.conv1d(F.pad(x1, (n - 1, n - 1)).reshape(1, 1, -1), x2.reshape(1, 1, -1)).reshape(-1)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _a(y)
    if x is None:
        compute, out_dt = _float_out(y)
        return torch.trapezoid(y.to(compute), dx=dx, dim=axis).to(out_dt)
    x = _a(x)
    dt = TORCH_DTYPES[result_type(y.dtype, x.dtype, "float*")]
    compute = _FLOAT_COMPUTE.get(dt, dt)
    return torch.trapezoid(y.to(compute), x.to(compute), dim=axis).to(dt)


def corrcoef(x):
    x = _a(x)
    compute, out_dt = _float_out(x)
    return torch.corrcoef(x.to(compute)).to(out_dt)


def slogdet(x):
    x = _a(x)
    _, out_dt = _float_out(x)
    sign, logdet = torch.linalg.slogdet(x.to(out_dt))
    return sign, logdet


def vectorize(pyfunc, *, excluded=None, signature=None):
    return vectorize_with(torch.vmap, pyfunc, excluded, signature)

