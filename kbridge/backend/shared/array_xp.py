"""Array ops whose call reads the same over numpy, jax.numpy and torch: each converts its
inputs and calls ``xp``'s function of the same name.

Included by the numpy, jax and torch ``array`` modules, after ``array_composite``.

Bindings:
    xp: ``numpy``, ``jax.numpy`` or ``torch``.
    tensor_type: the framework's tensor class.
    convert_to_tensor, promote: the backend's ``core`` functions.
"""

from kbridge.backend.common.shared import bound
from kbridge.errors import ShapeError

xp = bound("xp")
tensor_type = bound("tensor_type")
convert_to_tensor = bound("convert_to_tensor")
promote = bound("promote")


def _a(x):
    return x if isinstance(x, tensor_type) else convert_to_tensor(x)


def moveaxis(x, source, destination):
    return xp.moveaxis(_a(x), source, destination)


def swapaxes(x, axis1, axis2):
    return xp.swapaxes(_a(x), axis1, axis2)


def stack(x, axis=0):
    return xp.stack(promote(*x), axis)


def hstack(xs):
    return xp.hstack(promote(*xs))


def vstack(xs):
    return xp.vstack(promote(*xs))


def dstack(xs):
    return xp.dstack(promote(*xs))


def tril(x, k=0):
    return xp.tril(_a(x), k)


def triu(x, k=0):
    return xp.triu(_a(x), k)


def diag(x, k=0):
    x = _a(x)
    if x.ndim not in (1, 2):
        raise ShapeError(f"`diag` expects a 1D or 2D input. Received: x.shape={tuple(x.shape)}")
    return xp.diag(x, k)


def diagflat(x, k=0):
    return xp.diagflat(_a(x), k)


def diagonal(x, offset=0, axis1=0, axis2=1):
    return xp.diagonal(_a(x), offset, axis1, axis2)


def diff(a, n=1, axis=-1):
    return xp.diff(_a(a), n, axis)


def meshgrid(*x, indexing="xy"):
    _check_choice("indexing", indexing, ("xy", "ij"))
    return list(xp.meshgrid(*[_a(v) for v in x], indexing=indexing))


def isin(x1, x2, assume_unique=False, invert=False):
    x1, x2 = promote(x1, x2)
    return xp.isin(x1, x2, assume_unique=assume_unique, invert=invert)


def kron(x1, x2):
    return xp.kron(*promote(x1, x2))
