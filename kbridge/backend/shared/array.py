"""numpy-like array ops over ``xp`` (numpy or jax.numpy): reductions, shapes, indexing, sorting,
statistics, contractions.

Included by the numpy and jax ``array`` modules after ``array_composite`` and ``array_xp``
(whose ``_a`` it uses); it overrides composite ops with xp's kernels. Every dtype rule is
stated explicitly instead of relying on numpy's (int64 / float64) defaults: the numpy backend
is the reference the others are tested against.

Bindings:
    xp: ``numpy`` or ``jax.numpy``.
    result: makes a reduction's result an array; ``np.asarray`` on numpy, whose reductions
        return scalars for 0-d results.
    to_dtype: the dtype xp computes in for a kbridge dtype (jax narrows 64-bit types).
    promote: the backend's ``core`` function.
"""

from kbridge.backend.common.dtypes import result_type, standardize_dtype
from kbridge.backend.common.shared import bound
from kbridge.errors import ShapeError

xp = bound("xp")
result = bound("result")
to_dtype = bound("to_dtype")
promote = bound("promote")


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _compute(dt):
    """The dtype float results of dtype ``dt`` are computed in (half floats in float32)."""
    return to_dtype("float32" if dt in ("float16", "bfloat16") else dt)


# --- reductions ---------------------------------------------------------------------------
# Each family below is one function of the xp kernel it calls; the table after them names the
# ops of each family.

def _summing(fn):
    """The reduction ``fn`` accumulating integers in at least 32 bits."""

    def op(x, axis=None, keepdims=False):
        x = _a(x)
        dt = SUM_DTYPES.get(x.dtype.name, x.dtype)
        return result(fn(x, axis=_axis(axis), keepdims=keepdims, dtype=dt))

    return op


def _reducing(fn):
    """The reduction ``fn`` that keeps its input's dtype."""

    def op(x, axis=None, keepdims=False):
        return result(fn(_a(x), axis=_axis(axis), keepdims=keepdims))

    return op


def _bounded(fn):
    """The reduction ``fn`` (``max`` or ``min``), with numpy's optional ``initial`` bound."""

    def op(x, axis=None, keepdims=False, initial=None):
        x = _a(x)
        if initial is None:
            return result(fn(x, axis=_axis(axis), keepdims=keepdims))
        return result(fn(x, axis=_axis(axis), keepdims=keepdims, initial=initial))

    return op


def _indexing(fn):
    """The arg-reduction ``fn`` (one axis or none), with int32 indices."""

    def op(x, axis=None, keepdims=False):
        return result(fn(_a(x), axis=axis, keepdims=keepdims)).astype("int32")

    return op


def _float_reduce(fn, x, axis, keepdims):
    x = _a(x)
    out_dt = _float_dtype(x.dtype)
    compute = "float32" if out_dt in ("float16", "bfloat16") else out_dt
    out = fn(x.astype(compute, copy=False), axis=_axis(axis), keepdims=keepdims)
    return result(out).astype(out_dt, copy=False)


def _floating(fn):
    """The reduction ``fn`` with float results (computed in float32 for half floats)."""

    def op(x, axis=None, keepdims=False):
        return _float_reduce(fn, x, axis, keepdims)

    return op


def _cumulative(fn):
    """The cumulative op ``fn``; bools accumulate as int32."""

    def op(x, axis=None, dtype=None):
        x = _a(x)
        dt = standardize_dtype(dtype if dtype is not None else x.dtype)
        return fn(x, axis=axis, dtype=to_dtype("int32" if dt == "bool" else dt))

    return op


for _family, _names in (
    (_summing, ("sum", "nansum", "nanprod")),
    (_reducing, ("any", "all", "nanmax", "nanmin")),
    (_bounded, ("max", "min")),
    (_indexing, ("argmax", "argmin", "nanargmax", "nanargmin")),
    (_floating, ("mean", "std", "var", "nanmean", "nanstd", "nanvar")),
    (_cumulative, ("cumsum", "cumprod", "nancumsum", "nancumprod")),
):
    for _name in _names:
        _op = globals()[_name] = _family(getattr(xp, _name))
        _op.__name__ = _op.__qualname__ = _name
del _family, _names, _name, _op


def prod(x, axis=None, keepdims=False, dtype=None):
    x = _a(x)
    dt = to_dtype(dtype) if dtype is not None else SUM_DTYPES.get(x.dtype.name, x.dtype)
    return result(xp.prod(x, axis=_axis(axis), keepdims=keepdims, dtype=dt))


def count_nonzero(x, axis=None):
    return result(xp.count_nonzero(_a(x), axis=_axis(axis))).astype("int32")


def average(x, axis=None, weights=None):
    x = _a(x)
    if weights is None:
        return mean(x, axis=axis)
    weights = _a(weights)
    dt = to_dtype(result_type(x.dtype, weights.dtype, "float*"))
    return result(xp.average(x.astype(dt), axis=_axis(axis), weights=weights.astype(dt)))


def _quantile(x, q, axis, method, keepdims, ignore_nan):
    _check_choice("method", method, QUANTILE_METHODS)
    x = _a(x)
    out_dt = _float_dtype(x.dtype)
    compute = _compute(out_dt)
    q = xp.asarray(q, dtype=compute)
    fn = xp.nanquantile if ignore_nan else xp.quantile
    out = fn(x.astype(compute, copy=False), q, axis=_axis(axis), method=method, keepdims=keepdims)
    return result(out).astype(to_dtype(out_dt), copy=False)


# --- shape manipulation -------------------------------------------------------------------

def reshape(x, newshape):
    return xp.reshape(_a(x), newshape)


def ravel(x):
    return xp.ravel(_a(x))


def transpose(x, axes=None):
    return xp.transpose(_a(x), axes)


def expand_dims(x, axis):
    return xp.expand_dims(_a(x), _axis(axis))


def squeeze(x, axis=None):
    x = _a(x)
    return xp.squeeze(x, None if axis is None else tuple(_squeeze_axes(x.shape, axis)))


def broadcast_to(x, shape):
    return xp.broadcast_to(_a(x), shape)


def concatenate(xs, axis=0):
    return xp.concatenate(promote(*xs), axis=axis)


def append(x1, x2, axis=None):
    return xp.append(*promote(x1, x2), axis=axis)


def array_split(x, indices_or_sections, axis=0):
    return xp.array_split(_a(x), indices_or_sections, axis=axis)


def tile(x, repeats):
    return xp.tile(_a(x), repeats)


def repeat(x, repeats, axis=None):
    if isinstance(repeats, (list, tuple)):
        repeats = xp.asarray(repeats)
    return xp.repeat(_a(x), repeats, axis=axis)


def flip(x, axis=None):
    return xp.flip(_a(x), _axis(axis))


def rot90(array, k=1, axes=(0, 1)):
    return xp.rot90(_a(array), k=k, axes=axes)


def roll(x, shift, axis=None):
    return xp.roll(_a(x), shift, axis=_axis(axis))


def pad(x, pad_width, mode="constant", constant_values=None):
    check_pad(mode, constant_values)
    x = _a(x)
    widths = pad_widths(pad_width, x.ndim)
    if mode == "constant":
        return xp.pad(x, widths, constant_values=0 if constant_values is None else constant_values)
    return xp.pad(x, widths, mode=mode)


def ndim(x):
    return xp.ndim(x)


def size(x):
    return int(xp.size(x))


# --- indexing -----------------------------------------------------------------------------

def get_item(x, key):
    x = _a(x)
    if isinstance(key, list):
        key = xp.asarray(key)
    return result(x[key])


def take(x, indices, axis=None):
    return xp.take(_a(x), _a(indices), axis=axis)


def take_along_axis(x, indices, axis=None):
    x, indices = _a(x), _a(indices)
    if axis is None:
        return xp.take_along_axis(x.reshape(-1), indices.reshape(-1), axis=0)
    axis = axis % x.ndim
    shape_x, shape_i = list(x.shape), list(indices.shape)
    shape_x[axis] = shape_i[axis] = 1
    common = xp.broadcast_shapes(tuple(shape_x), tuple(shape_i))
    x = xp.broadcast_to(x, common[:axis] + (x.shape[axis],) + common[axis + 1:])
    indices = xp.broadcast_to(indices, common[:axis] + (indices.shape[axis],) + common[axis + 1:])
    return xp.take_along_axis(x, indices, axis=axis)


def where(condition, x1=None, x2=None):
    if x1 is None or x2 is None:
        _check_where(x1, x2)
        return nonzero(condition)
    x1, x2 = promote(x1, x2)
    return xp.where(_a(condition).astype(bool, copy=False), x1, x2)


def nonzero(x):
    return tuple(i.astype("int32") for i in xp.nonzero(_a(x)))


def select(condlist, choicelist, default=0):
    choices = promote(*choicelist, default)
    conds = [_a(c).astype(bool, copy=False) for c in condlist]
    return result(xp.select(conds, choices[:-1], choices[-1]))


def searchsorted(sorted_sequence, values, side="left"):
    _check_choice("side", side, ("left", "right"))
    seq, values = promote(sorted_sequence, values)
    if seq.ndim != 1:
        raise ShapeError(f"`sorted_sequence` must be 1D. Received: shape={seq.shape}")
    return xp.searchsorted(seq, values, side=side).astype("int32")


def digitize(x, bins):
    x, bins = promote(x, bins)
    return xp.digitize(x, bins).astype("int32")


def unravel_index(indices, shape):
    indices = _a(indices)
    dt = indices.dtype if indices.dtype.kind in "iu" else "int32"
    return tuple(i.astype(dt) for i in xp.unravel_index(indices, shape))


def histogram(x, bins=10, range=None):
    x = _a(x)
    _check_1d("histogram", x)
    counts, edges = xp.histogram(x, bins=bins, range=range)
    return counts.astype("int32"), edges.astype(to_dtype(_float_dtype(x.dtype)))


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,
           axis=None, size=None, fill_value=None):
    x = _a(x)
    ax = 0 if axis is None else axis
    values, index, inverse, counts = xp.unique(x, True, True, True, axis=axis)
    inverse = inverse.reshape(-1)
    if not sorted:  # order of first appearance
        order = xp.argsort(index, stable=True)
        values = xp.take(values, order, axis=ax)
        index, counts, inverse = index[order], counts[order], xp.argsort(order)[inverse]
    return _unique_outputs(x, values, index, inverse, counts, axis, size, fill_value,
                           (return_index, return_inverse, return_counts))


# --- sorting ------------------------------------------------------------------------------

def sort(x, axis=-1):
    x, axis = _along(x, axis)
    return xp.sort(x, axis=axis, stable=True)


def argsort(x, axis=-1):
    x, axis = _along(x, axis)
    return xp.argsort(x, axis=axis, stable=True).astype("int32")


# --- contractions -------------------------------------------------------------------------

def dot(x1, x2):
    return result(xp.dot(*promote(x1, x2)))


def tensordot(x1, x2, axes=2):
    return result(xp.tensordot(*promote(x1, x2), axes))


def inner(x1, x2):
    return result(xp.inner(*promote(x1, x2)))


def outer(x1, x2):
    return xp.outer(*promote(x1, x2))


def vdot(x1, x2):
    return result(xp.vdot(*promote(x1, x2)))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    return xp.cross(*promote(x1, x2), axisa=axisa, axisb=axisb, axisc=axisc)


def einsum(subscripts, *operands, **kwargs):
    return result(xp.einsum(subscripts, *_einsum_operands(operands), **kwargs))


def correlate(x1, x2, mode="valid"):
    _check_choice("mode", mode, ("valid", "same", "full"))
    x1, x2 = promote(x1, x2)
    dt = _float_dtype(x1.dtype)
    compute = _compute(dt)
    return xp.correlate(x1.astype(compute), x2.astype(compute), mode).astype(to_dtype(dt))


def vander(x, N=None, increasing=False):
    x = _a(x)
    return xp.vander(x, N, increasing).astype(x.dtype, copy=False)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _a(y)
    dt = _float_dtype(y.dtype) if x is None else result_type(y.dtype, _a(x).dtype, "float*")
    compute = _compute(dt)
    x = None if x is None else _a(x).astype(compute)
    return result(xp.trapezoid(y.astype(compute), x, dx, axis)).astype(to_dtype(dt))


def corrcoef(x):
    x = _a(x)
    dt = _float_dtype(x.dtype)
    return result(xp.corrcoef(x.astype(_compute(dt)))).astype(to_dtype(dt))


def slogdet(x):
    x = _a(x)
    dt = to_dtype(_float_dtype(x.dtype))
    sign, logdet = xp.linalg.slogdet(x.astype(dt))
    return sign.astype(dt), logdet.astype(dt)


def vectorize(pyfunc, *, excluded=None, signature=None):
    return xp.vectorize(pyfunc, excluded=excluded or frozenset(), signature=signature)
