"""numpy ops (elementwise math, creation, comparisons, logic, bits) over a numpy-like ``xp``.

Included by the numpy and jax backends after ``numpy_composite``, whose bindings it reads too:
its dtype helpers and op factories build these ops, and these override its generic ones. It
spells out kbridge's dtype rules rather than relying on numpy's own (which differ: numpy widens
Python scalars and int -> float64).

Bindings:
    xp: ``numpy`` or ``jax.numpy``.
    quiet: a decorator running an op without floating-point warnings (numpy's ``errstate``);
        the identity where the framework does not warn.
"""

import functools

from kbridge.backend.common.dtypes import FLOAT_TYPES
from kbridge.backend.common.shared import bound

xp = bound("xp")
quiet = bound("quiet")
_space_dtype = bound("_space_dtype")  # from numpy_composite, included first
_kernel = functools.partial(getattr, xp)  # an op's xp function, by the op's name


def _is_float(x):
    return _name(x.dtype) in FLOAT_TYPES


def _promoted(fn):
    """The op ``fn(x1, x2)`` on operands of their promoted dtype."""
    return _pairwise(fn, promote)


def _quietly(factory):
    """``factory``, making ops that run without floating-point warnings."""
    return lambda fn: quiet(factory(fn))


def _nonbool(name, bool_to):
    """The op ``xp.<name>(x1, x2)`` on promoted operands, bool taken as ``bool_to``."""
    fn = getattr(xp, name)

    def op(x1, x2):
        x1, x2 = _promote_nonbool(x1, x2, bool_to)
        return fn(x1, x2)

    op.__name__ = op.__qualname__ = name
    return quiet(op)


_define(_promoted, ("add", "subtract", "multiply", "matmul", "maximum", "minimum", "fmax", "fmin",
                    "gcd", "lcm", "equal", "not_equal", "less", "less_equal", "greater",
                    "greater_equal"), _kernel)
_define(_quietly(_float_binary), ("divide", "arctan2", "hypot", "heaviside", "logaddexp",
                                  "logaddexp2", "nextafter"), _kernel)
_define(_quietly(_float_unary), FLOAT_UNARY, _kernel)
_define(_unary, ("negative", "sign", "real", "imag", "conjugate", "isreal", "isfinite", "isinf",
                 "isnan", "logical_not"), _kernel)
_define(_logical, ("logical_and", "logical_or", "logical_xor"), _kernel)

# ---------------------------------------------------------------- arithmetic

floor_divide = _nonbool("floor_divide", xp.int8)
mod = _nonbool("mod", xp.int32)
fmod = _nonbool("fmod", xp.int32)
power = _nonbool("power", xp.int8)
divide_no_nan = quiet(divide_no_nan)  # numpy_composite's; x1 / safe may overflow


def absolute(x):
    x = _cvt(x)
    if x.dtype == xp.bool_ or x.dtype.kind == "u":
        return unchanged(x)
    return xp.absolute(x)


def square(x):
    x = _cvt(x)
    if x.dtype == xp.bool_:
        x = x.astype(xp.int32)
    return xp.square(x)


reciprocal = quiet(reciprocal)  # numpy_composite's: 1 / 0 for integer 0


def clip(x, x_min, x_max):
    x = _cvt(x)
    out_dt, dt = _clip_dtypes(x, x_min, x_max)
    lo = None if x_min is None else xp.asarray(x_min, dt)
    hi = None if x_max is None else xp.asarray(x_max, dt)
    return xp.clip(x.astype(dt, copy=False), lo, hi).astype(out_dt, copy=False)


def round(x, decimals=0):
    x = _cvt(x)
    return xp.round(x, decimals) if _is_inexact(x) else _round_int(x, decimals)


def trunc(x):
    x = _cvt(x)
    return xp.trunc(x) if _is_inexact(x) else unchanged(x)


def i0(x):
    x = _as_float(x)
    return xp.i0(x).astype(x.dtype, copy=False)  # numpy's i0 computes in float64


def ldexp(x1, x2):
    x1, x2 = _ldexp_operands(x1, x2)
    return xp.ldexp(x1, x2).astype(x1.dtype, copy=False)


# ---------------------------------------------------------------- comparisons and tests


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    x1, x2 = _promote_float(x1, x2)
    return xp.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)


def isneginf(x):
    x = _cvt(x)
    return xp.isneginf(x) if _is_float(x) else xp.zeros(x.shape, bool)


def isposinf(x):
    x = _cvt(x)
    return xp.isposinf(x) if _is_float(x) else xp.zeros(x.shape, bool)


def signbit(x):
    x = _cvt(x)
    return xp.zeros(x.shape, bool) if x.dtype == xp.bool_ else xp.signbit(x)


# ---------------------------------------------------------------- bits


bitwise_and = _bitwise(xp.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(xp.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(xp.bitwise_xor, "bitwise_xor")


def bitwise_left_shift(x, y):
    x, y = _promote_nonbool(x, y, xp.int8)
    return xp.left_shift(_int_or_bool(x, "left_shift"), y)


def bitwise_right_shift(x, y):
    x, y = _promote_nonbool(x, y, xp.int8)
    return xp.right_shift(_int_or_bool(x, "right_shift"), y)


def bitwise_invert(x):
    return xp.invert(_int_or_bool(_cvt(x), "bitwise_invert"))


# ---------------------------------------------------------------- creation


def full(shape, fill_value, dtype=None):
    return xp.full(shape, fill_value, _dtype(dtype))


def full_like(x, fill_value, dtype=None):
    x = _cvt(x)
    return xp.full(x.shape, fill_value, x.dtype if dtype is None else to_dtype(dtype))


def array(x, dtype=None):
    return xp.array(convert_to_tensor(x, dtype), copy=True)


def copy(x):
    return xp.array(_cvt(x), copy=True)


def _arange(start, stop, step, dtype):
    return xp.arange(start, stop, step, dtype=to_dtype(dtype))


# xp's own eye, tri, linspace and geomspace: one native call each, numpy's exact values.
def eye(N, M=None, k=0, dtype=None):
    return xp.eye(N, M, k, dtype=_dtype(dtype))


def tri(N, M=None, k=0, dtype=None):
    return xp.tri(N, M, k, dtype=_dtype(dtype))


def _linspace64(start, stop, num, endpoint, axis):
    """Samples and step of the float64 ``xp.linspace``, for the composite spaced-sample ops."""
    wide = to_dtype("float64")
    return xp.linspace(xp.asarray(start, wide), xp.asarray(stop, wide), num, endpoint=endpoint,
                       retstep=True, axis=axis)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    wide = to_dtype("float64")
    y = xp.geomspace(xp.asarray(start, wide), xp.asarray(stop, wide), num, endpoint=endpoint,
                     axis=axis)
    return y.astype(to_dtype(dtype), copy=False)
