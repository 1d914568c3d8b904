"""Array ops: shape manipulation, indexing, reductions, sorting, statistics and contractions.

The Keras numpy-namespace ops that are not elementwise, plus einops' ``rearrange``. Ops whose
output size depends on the data (``nonzero``, ``unique``, boolean-mask indexing, ...) give
``None`` for that dimension under symbolic shape inference.
"""

import numpy as np

from kbridge.backend.common.dispatch import op_decorator
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.ops import _specs

op = op_decorator("array")


def _infer(name, args, kwargs):
    from kbridge.backend.common.symbolic import symbolic_call

    return symbolic_call("array", name, None, args, kwargs)


def _nonzero_spec(x):
    return tuple(KerasTensor((None,), "int32") for _ in range(len(x.shape)))


def _where_spec(condition, x1=None, x2=None):
    if x1 is None and x2 is None:
        return _nonzero_spec(condition)
    return _infer("where", (condition, x1, x2), {})


def _get_item_spec(x, key):
    # A k-dim boolean mask selects as many elements as k int index vectors of unknown length
    # would: inferring with those gives the data-dependent dimension as None.
    items = key if isinstance(key, tuple) else (key,)
    expanded, masked = [], False
    for k in items:
        if isinstance(k, KerasTensor) and k.dtype == "bool":
            masked = True
            expanded.extend(KerasTensor((None,), "int32") for _ in k.shape)
        else:
            expanded.append(k)
    if not masked:
        return _infer("get_item", (x, key), {})
    return _infer("get_item", (x, tuple(expanded)), {})


def _unique_spec(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,
                 axis=None, size=None, fill_value=None):
    if axis is None:
        values = KerasTensor((size,), x.dtype)
        inverse = KerasTensor(x.shape, "int32")
    else:
        shape = list(x.shape)
        ax = axis % len(shape)
        inverse = KerasTensor((shape[ax],), "int32")
        shape[ax] = size
        values = KerasTensor(shape, x.dtype)
    out = [values]
    if return_index:
        out.append(KerasTensor((size,), "int32"))
    if return_inverse:
        out.append(inverse)
    if return_counts:
        out.append(KerasTensor((size,), "int32"))
    return out[0] if len(out) == 1 else tuple(out)


def _bincount_spec(x, weights=None, minlength=0, sparse=False):
    from kbridge.backend.numpy.array import _bincount_dtype

    dtype = _bincount_dtype(weights)
    return KerasTensor(tuple(x.shape[:-1]) + (None,), dtype)


@op
def all(x, axis=None, keepdims=False):
    """True where every element along `axis` is truthy (all of `x` when `axis` is None)."""


@op
def amax(x, axis=None, keepdims=False):
    """Largest element along `axis` (an alias of `max` without `initial`)."""


@op
def amin(x, axis=None, keepdims=False):
    """Smallest element along `axis` (an alias of `min` without `initial`)."""


@op
def any(x, axis=None, keepdims=False):
    """True where at least one element along `axis` is truthy."""


@op
def append(x1, x2, axis=None):
    """`x2` joined after `x1` along `axis`; both are flattened first when `axis` is None."""


@op
def argmax(x, axis=None, keepdims=False):
    """Position (int32) of the largest element along `axis`, of the flattened input when None."""


@op
def argmin(x, axis=None, keepdims=False):
    """Position (int32) of the smallest element along `axis`, of the flattened input when None."""


@op
def argpartition(x, kth, axis=-1):
    """int32 indices that partially sort `x` so the element at `kth` lands in its sorted place."""


@op
def argsort(x, axis=-1):
    """int32 indices that sort `x` along `axis` (stable; flattened when `axis` is None)."""


@op
def array_split(x, indices_or_sections, axis=0):
    """Cut `x` into parts along `axis`; unlike `split`, sections need not divide evenly."""


@op
def average(x, axis=None, weights=None):
    """Weighted mean along `axis`; plain mean without `weights`."""


@op(spec=_bincount_spec)
def bincount(x, weights=None, minlength=0, sparse=False):
    """Number of occurrences (or summed `weights`) of each non-negative int in `x`."""


@op
def broadcast_to(x, shape):
    """`x` repeated (without copying where possible) to the broadcast-compatible `shape`."""


@op
def concatenate(xs, axis=0):
    """Join a sequence of tensors along an existing axis, promoting their dtypes."""


@op
def corrcoef(x):
    """Pearson correlation matrix of the rows (variables) of `x`."""


@op
def correlate(x1, x2, mode='valid'):
    """Cross-correlation of two 1D tensors (`mode`: 'valid', 'same' or 'full')."""


@op
def count_nonzero(x, axis=None):
    """Number (int32) of non-zero elements along `axis`."""


@op
def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 2- or 3-element vectors stored along the given axes.

    Example:
        >>> kbridge.ops.cross(np.array([1., 0, 0]), np.array([0., 1, 0]))
        array([0., 0., 1.])
    """


@op
def cumprod(x, axis=None, dtype=None):
    """Running product along `axis` (of the flattened input when None)."""


@op
def cumsum(x, axis=None, dtype=None):
    """Running sum along `axis` (of the flattened input when None)."""


@op
def diag(x, k=0):
    """Diagonal matrix from a 1D `x`, or the `k`-th diagonal of a 2D `x`."""


@op
def diagflat(x, k=0):
    """2D matrix with the flattened `x` on its `k`-th diagonal."""


@op
def diagonal(x, offset=0, axis1=0, axis2=1):
    """Diagonal at `offset` of the planes spanned by `axis1` and `axis2`, placed last."""


@op
def diff(a, n=1, axis=-1):
    """`n`-th discrete difference along `axis`."""


@op
def digitize(x, bins):
    """int32 index of the bin of `bins` (increasing edges) each element of `x` falls in."""


@op
def dot(x1, x2):
    """Dot product with numpy's rules: scalars multiply, vectors give inner products, matrices multiply."""


@op
def dsplit(x, indices_or_sections):
    """Split along the third axis."""


@op
def dstack(xs):
    """Stack tensors along the third axis (1D/2D inputs gain axes first)."""


@op(spec=_specs.einsum)
def einsum(subscripts, *operands, **kwargs):
    """Einstein-summation contraction of `operands` described by `subscripts`.

    Example:
        >>> kbridge.ops.einsum('ij,jk->ik', a, b)   # matmul
    """


@op
def expand_dims(x, axis):
    """Insert size-1 axes at the position(s) `axis` of the output."""


@op
def flip(x, axis=None):
    """Reverse the order of elements along `axis` (all axes when None)."""


@op
def fliplr(x):
    """Reverse along axis 1."""


@op
def flipud(x):
    """Reverse along axis 0."""


@op(spec=_get_item_spec)
def get_item(x, key):
    """`x[key]`: ints, slices, None, Ellipsis, and int or bool index tensors.

    Example:
        >>> kbridge.ops.get_item(x, (slice(None), 0))   # x[:, 0]
    """


@op
def histogram(x, bins=10, range=None):
    """Counts (int32) of `x` in `bins` equal-width bins over `range`, and the bin edges."""


@op
def hsplit(x, indices_or_sections):
    """Split along axis 1 (axis 0 for 1D input)."""


@op
def hstack(xs):
    """Concatenate along axis 1 (axis 0 for 1D inputs)."""


@op
def inner(x1, x2):
    """Inner product over the last axes of `x1` and `x2`."""


@op
def isin(x1, x2, assume_unique=False, invert=False):
    """True where an element of `x1` occurs in `x2` (inverted with `invert=True`)."""


@op
def kron(x1, x2):
    """Kronecker product: blocks of `x2` scaled by each element of `x1`."""


@op
def max(x, axis=None, keepdims=False, initial=None):
    """Largest element along `axis`; `initial` is a lower bound that takes part in the max."""


@op
def mean(x, axis=None, keepdims=False):
    """Arithmetic mean along `axis`; integer inputs give floatx()."""


@op
def median(x, axis=None, keepdims=False):
    """Median along `axis` (linear interpolation between the middle elements)."""


@op
def meshgrid(*x, indexing='xy'):
    """Coordinate grids from 1D coordinate vectors ('xy' cartesian or 'ij' matrix indexing)."""


@op
def min(x, axis=None, keepdims=False, initial=None):
    """Smallest element along `axis`; `initial` is an upper bound that takes part in the min."""


@op
def moveaxis(x, source, destination):
    """Move axes from `source` to `destination`, keeping the others in order."""


@op
def nanargmax(x, axis=None, keepdims=False):
    """`argmax` ignoring NaNs."""


@op
def nanargmin(x, axis=None, keepdims=False):
    """`argmin` ignoring NaNs."""


@op
def nancumprod(x, axis=None, dtype=None):
    """`cumprod` treating NaNs as one."""


@op
def nancumsum(x, axis=None, dtype=None):
    """`cumsum` treating NaNs as zero."""


@op
def nanmax(x, axis=None, keepdims=False):
    """`max` ignoring NaNs."""


@op
def nanmean(x, axis=None, keepdims=False):
    """`mean` ignoring NaNs."""


@op
def nanmedian(x, axis=None, keepdims=False):
    """`median` ignoring NaNs."""


@op
def nanmin(x, axis=None, keepdims=False):
    """`min` ignoring NaNs."""


@op
def nanpercentile(x, q, axis=None, method='linear', keepdims=False):
    """`percentile` ignoring NaNs."""


@op
def nanprod(x, axis=None, keepdims=False):
    """`prod` treating NaNs as one."""


@op
def nanquantile(x, q, axis=None, method='linear', keepdims=False):
    """`quantile` ignoring NaNs."""


@op
def nanstd(x, axis=None, keepdims=False):
    """`std` ignoring NaNs."""


@op
def nansum(x, axis=None, keepdims=False):
    """`sum` treating NaNs as zero."""


@op
def nanvar(x, axis=None, keepdims=False):
    """`var` ignoring NaNs."""


@op
def ndim(x):
    """Number of axes of `x` (a Python int)."""


@op(spec=_nonzero_spec)
def nonzero(x):
    """Tuple (one int32 tensor per axis) of the coordinates of the non-zero elements."""


@op
def outer(x1, x2):
    """Outer product of the flattened `x1` and `x2`."""


@op
def pad(x, pad_width, mode='constant', constant_values=None):
    """Pad `x` by `pad_width` ((before, after) per axis) in `mode` constant/edge/reflect/symmetric/wrap.

    Example:
        >>> kbridge.ops.pad(np.array([1, 2, 3]), (1, 2), mode='reflect')
        array([2, 1, 2, 3, 2, 1])
    """


@op
def percentile(x, q, axis=None, method='linear', keepdims=False):
    """`q`-th percentile(s) (0..100) along `axis`."""


@op
def prod(x, axis=None, keepdims=False, dtype=None):
    """Product along `axis`; small ints accumulate in 32 bits unless `dtype` is given."""


@op
def ptp(x, axis=None, keepdims=False):
    """Range (max - min) along `axis`."""


@op
def quantile(x, q, axis=None, method='linear', keepdims=False):
    """`q`-th quantile(s) (0..1) along `axis` with the given interpolation `method`."""


@op
def ravel(x):
    """`x` flattened to 1D."""


@op
def rearrange(tensor, pattern, **axes_lengths):
    """Rearrange axes with an einops pattern such as 'b (h w) c -> b c h w'.

    Example:
        >>> kbridge.ops.rearrange(np.zeros((2, 6, 3)), 'b (h w) c -> b c h w', h=2).shape
        (2, 3, 2, 3)
    """


@op
def repeat(x, repeats, axis=None):
    """Repeat each element `repeats` times along `axis` (of the flattened input when None)."""


def _reshape_spec(x, newshape):
    """Keras's rule: the new shape as given, ``None`` entries unknown, and a ``-1`` resolved
    when every other size is known."""
    from kbridge.errors import ShapeError

    dims = [newshape] if isinstance(newshape, int) or newshape is None else list(newshape)
    dims = [None if d is None else int(d) for d in dims]
    if dims.count(-1) > 1:
        raise ShapeError(f"reshape takes at most one -1 in `newshape`. Received: {tuple(dims)}")
    if -1 in dims:
        known_in = None if None in x.shape else int(np.prod(x.shape, dtype=np.int64))
        rest = [d for d in dims if d != -1]
        if known_in is not None and None not in rest:
            size = int(np.prod(rest, dtype=np.int64))
            if size == 0 or known_in % size:
                raise ShapeError(f"Cannot reshape a tensor of shape {x.shape} to {tuple(dims)}.")
            dims[dims.index(-1)] = known_in // size
        else:
            dims[dims.index(-1)] = None
    elif None not in x.shape and None not in dims:
        if int(np.prod(x.shape, dtype=np.int64)) != int(np.prod(dims, dtype=np.int64)):
            raise ShapeError(f"Cannot reshape a tensor of shape {x.shape} to {tuple(dims)}.")
    return KerasTensor(tuple(dims), x.dtype)


@op(spec=_reshape_spec)
def reshape(x, newshape):
    """`x` with a new shape of the same size (one dim may be -1)."""


@op
def roll(x, shift, axis=None):
    """Shift elements cyclically by `shift` along `axis` (flattened when None)."""


@op
def rot90(array, k=1, axes=(0, 1)):
    """Rotate by 90 degrees `k` times in the plane of `axes`."""


@op
def searchsorted(sorted_sequence, values, side='left'):
    """int32 insertion positions of `values` into the 1D `sorted_sequence`."""


@op
def select(condlist, choicelist, default=0):
    """Per element, the first `choicelist` entry whose condition holds, else `default`.

    Example:
        >>> kbridge.ops.select([x < 0, x > 1], [-x, x * 2], default=x)
    """


@op
def size(x):
    """Number of elements of `x`."""


@op
def slogdet(x):
    """(sign, log|det|) of square matrices, stable where the determinant would overflow."""


@op
def sort(x, axis=-1):
    """`x` sorted ascending along `axis` (flattened when None)."""


@op
def split(x, indices_or_sections, axis=0):
    """Split into equal sections or at the given indices along `axis`."""


@op
def squeeze(x, axis=None):
    """Remove size-1 axes (only those in `axis` when given)."""


@op
def stack(x, axis=0):
    """Join tensors along a new axis, promoting their dtypes."""


@op
def std(x, axis=None, keepdims=False):
    """Population standard deviation along `axis`."""


@op
def sum(x, axis=None, keepdims=False):
    """Sum along `axis`; bool and small ints accumulate in 32 bits."""


@op
def swapaxes(x, axis1, axis2):
    """Exchange two axes."""


@op
def take(x, indices, axis=None):
    """Elements of `x` at `indices` along `axis` (of the flattened input when None).

    Example:
        >>> kbridge.ops.take(np.array([[1, 2], [3, 4]]), [1, 0], axis=1)
        array([[2, 1], [4, 3]])
    """


@op
def take_along_axis(x, indices, axis=None):
    """Pick, along `axis`, the elements of `x` addressed by the matching entries of `indices`.

    Example:
        >>> idx = kbridge.ops.argsort(x, axis=1)
        >>> kbridge.ops.take_along_axis(x, idx, axis=1)   # == sort(x, axis=1)
    """


@op(spec=_specs.tensordot)
def tensordot(x1, x2, axes=2):
    """Sum products over the given `axes` (an int: last n of `x1` with first n of `x2`).

    Example:
        >>> kbridge.ops.tensordot(np.ones((2, 3, 4)), np.ones((3, 4, 5)), axes=2).shape
        (2, 5)
    """


@op
def tile(x, repeats):
    """`x` repeated `repeats` times per axis."""


@op
def trace(x, offset=0, axis1=0, axis2=1):
    """Sum along the diagonal at `offset` of the planes spanned by `axis1` and `axis2`."""


@op
def transpose(x, axes=None):
    """Permute axes (reverse them when `axes` is None)."""


@op
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of `y` along `axis` by the trapezoidal rule (sample points `x` or spacing `dx`)."""


@op
def tril(x, k=0):
    """Lower triangle of the last two axes: elements above the `k`-th diagonal set to zero."""


@op
def triu(x, k=0):
    """Upper triangle of the last two axes: elements below the `k`-th diagonal set to zero."""


@op(spec=_unique_spec)
def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False, axis=None, size=None, fill_value=None):
    """Unique elements of `x`, optionally with first indices, inverse indices and counts.

    Example:
        >>> kbridge.ops.unique(np.array([3, 1, 3]), return_counts=True)
        (array([1, 3]), array([1, 2], dtype=int32))
    """


@op
def unravel_index(indices, shape):
    """Tuple of coordinate tensors for flat `indices` into an array of `shape`."""


@op
def vander(x, N=None, increasing=False):
    """Vandermonde matrix: columns are powers of `x` (decreasing unless `increasing`)."""


@op
def var(x, axis=None, keepdims=False):
    """Population variance along `axis`."""


@op
def vdot(x1, x2):
    """Dot product of the flattened inputs (the first conjugated if complex)."""


@op
def vectorize(pyfunc, *, excluded=None, signature=None):
    """A function that maps `pyfunc` over the leading (non-core) axes of its tensor arguments.

    Example:
        >>> f = kbridge.ops.vectorize(lambda a, b: kbridge.ops.dot(a, b), signature='(n),(n)->()')
        >>> f(np.ones((4, 3)), np.ones(3)).shape
        (4,)
    """


@op
def view(x, dtype=None):
    """Reinterpret the bytes of `x` as `dtype` (the last axis changes size if item sizes differ).

    Example:
        >>> kbridge.ops.view(np.zeros(2, 'float32'), 'int16').shape
        (4,)
    """


@op
def vsplit(x, indices_or_sections):
    """Split along axis 0."""


@op
def vstack(xs):
    """Concatenate along axis 0 (1D inputs become rows first)."""


@op(spec=_where_spec)
def where(condition, x1=None, x2=None):
    """Elements of `x1` where `condition` holds, else of `x2`; with only `condition`, `nonzero`.

    Example:
        >>> kbridge.ops.where(x > 0, x, 0.0)   # relu
    """
