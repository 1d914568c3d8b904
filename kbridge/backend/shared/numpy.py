"""numpy ops (elementwise math, creation, comparisons, logic, bits) over a numpy-like ``xp``.

Included by the numpy and jax backends. It spells out kbridge's dtype rules rather than
relying on numpy's own (which differ: numpy widens Python scalars and int -> float64).

Bindings:
    xp: ``numpy`` or ``jax.numpy``.
    tensor_type: the framework's array type (``np.ndarray``, ``jax.Array``).
    to_dtype: a dtype (name) -> the dtype the framework uses for it.
    unchanged: the result of an op that leaves its input as it is: a copy on numpy, whose op
        results never alias their inputs; the input itself on jax, whose arrays are immutable.
    quiet: a decorator running an op without floating-point warnings (numpy's ``errstate``);
        the identity where the framework does not warn.
    convert_to_tensor, promote: the backend's core functions.

The includer includes ``numpy_composite`` first: its ops (aliases, ``arange`` and ``linspace``
over ``_arange`` and ``_linspace64`` below...) complete these; these override its generic ones.
"""

import functools

from kbridge.backend.common.convert import dtype_of
from kbridge.backend.common.dtypes import (
    FLOAT_TYPES, INT_TYPES, floatx, result_type, standardize_dtype,
)
from kbridge.backend.common.shared import bound
from kbridge.errors import DTypeError

xp = bound("xp")
tensor_type = bound("tensor_type")
to_dtype = bound("to_dtype")
unchanged = bound("unchanged")
quiet = bound("quiet")
convert_to_tensor = bound("convert_to_tensor")
promote = bound("promote")
_space_dtype = bound("_space_dtype")  # from numpy_composite, included first


@functools.lru_cache(maxsize=None)
def _float_of(dt):
    """The dtype a float function returns for inputs of dtype ``dt``."""
    return to_dtype(result_type(standardize_dtype(dt), "float*"))


@functools.lru_cache(maxsize=None)
def _name(dt):
    return standardize_dtype(dt)


def _cvt(x):
    return x if isinstance(x, tensor_type) else convert_to_tensor(x)


def _as_float(x):
    """``x`` as a tensor of its float result dtype (ints and bool -> floatx)."""
    x = _cvt(x)
    dt = _float_of(x.dtype)
    return x if x.dtype == dt else x.astype(dt)


def _promote_float(x1, x2):
    dt = to_dtype(result_type(dtype_of(x1), dtype_of(x2), "float*"))
    return [x if isinstance(x, tensor_type) and x.dtype == dt else xp.asarray(x, dtype=dt)
            for x in (x1, x2)]


def _promote_nonbool(x1, x2, bool_to):
    x1, x2 = promote(x1, x2)
    if x1.dtype == xp.bool_:
        x1, x2 = x1.astype(bool_to), x2.astype(bool_to)
    return x1, x2


def _is_float(x):
    return _name(x.dtype) in FLOAT_TYPES


def _is_inexact(x):
    return _name(x.dtype) in FLOAT_TYPES or x.dtype.kind == "c"


def _named(op, name):
    op.__name__ = op.__qualname__ = name
    return op


def _unary(name):
    """The op ``xp.<name>(x)``."""
    fn = getattr(xp, name)

    def op(x):
        return fn(_cvt(x))

    return _named(op, name)


def _float_unary(name):
    """The op ``xp.<name>`` on ``x`` as floats (ints and bool -> floatx)."""
    fn = getattr(xp, name)

    def op(x):
        return fn(_as_float(x))

    return quiet(_named(op, name))


def _promoted(name):
    """The op ``xp.<name>(x1, x2)`` on operands of their promoted dtype."""
    fn = getattr(xp, name)

    def op(x1, x2):
        x1, x2 = promote(x1, x2)
        return fn(x1, x2)

    return _named(op, name)


def _float_binary(name):
    """The op ``xp.<name>(x1, x2)`` on operands of their promoted float dtype."""
    fn = getattr(xp, name)

    def op(x1, x2):
        x1, x2 = _promote_float(x1, x2)
        return fn(x1, x2)

    return quiet(_named(op, name))


def _nonbool(name, bool_to):
    """The op ``xp.<name>(x1, x2)`` on promoted operands, bool taken as ``bool_to``."""
    fn = getattr(xp, name)

    def op(x1, x2):
        x1, x2 = _promote_nonbool(x1, x2, bool_to)
        return fn(x1, x2)

    return quiet(_named(op, name))


def _logical(name):
    """The op ``xp.<name>(x1, x2)``."""
    fn = getattr(xp, name)

    def op(x1, x2):
        return fn(_cvt(x1), _cvt(x2))

    return _named(op, name)


# ---------------------------------------------------------------- arithmetic

add = _promoted("add")
subtract = _promoted("subtract")
multiply = _promoted("multiply")
matmul = _promoted("matmul")
maximum = _promoted("maximum")
minimum = _promoted("minimum")
fmax = _promoted("fmax")
fmin = _promoted("fmin")
gcd = _promoted("gcd")
lcm = _promoted("lcm")

divide = _float_binary("divide")
arctan2 = _float_binary("arctan2")
hypot = _float_binary("hypot")
heaviside = _float_binary("heaviside")
logaddexp = _float_binary("logaddexp")
logaddexp2 = _float_binary("logaddexp2")
nextafter = _float_binary("nextafter")

floor_divide = _nonbool("floor_divide", xp.int8)
mod = _nonbool("mod", xp.int32)
fmod = _nonbool("fmod", xp.int32)
power = _nonbool("power", xp.int8)


@quiet
def divide_no_nan(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    zero = x2 == 0
    # The safe denominator keeps the unused branch finite, so gradients stay NaN-free.
    safe = xp.where(zero, xp.ones((), x2.dtype), x2)
    return xp.where(zero, xp.zeros((), x1.dtype), x1 / safe)


negative = _unary("negative")
sign = _unary("sign")


def absolute(x):
    x = _cvt(x)
    if x.dtype == xp.bool_ or x.dtype.kind == "u":
        return unchanged(x)
    return xp.absolute(x)


def fabs(x):
    return xp.fabs(_as_float(x))


def square(x):
    x = _cvt(x)
    if x.dtype == xp.bool_:
        x = x.astype(xp.int32)
    return xp.square(x)


@quiet
def reciprocal(x):
    x = _cvt(x)
    if _is_inexact(x):
        return xp.reciprocal(x)
    # Integer reciprocal truncates toward zero, as numpy and Keras do (1, -1 or 0).
    if x.dtype == xp.bool_:
        x = x.astype(xp.int8)
    return xp.trunc(xp.reciprocal(x.astype(to_dtype("float64")))).astype(x.dtype)


def clip(x, x_min, x_max):
    x = _cvt(x)
    out_dt = xp.dtype(xp.int32) if x.dtype == xp.bool_ else x.dtype
    bounds = [b for b in (x_min, x_max) if b is not None]
    dt = to_dtype(result_type(_name(out_dt), *[dtype_of(b) for b in bounds]))
    lo = None if x_min is None else xp.asarray(x_min, dt)
    hi = None if x_max is None else xp.asarray(x_max, dt)
    return xp.clip(x.astype(dt, copy=False), lo, hi).astype(out_dt, copy=False)


def round(x, decimals=0):
    x = _cvt(x)
    if _is_inexact(x):
        return xp.round(x, decimals)
    if x.dtype == xp.bool_ or decimals >= 0:
        return unchanged(x)
    # Integers with decimals < 0: round half to even at a power of ten, as numpy does.
    factor = 10.0 ** (-decimals)
    return (xp.rint(x.astype(to_dtype("float64")) / factor) * factor).astype(x.dtype)


def trunc(x):
    x = _cvt(x)
    return xp.trunc(x) if _is_inexact(x) else unchanged(x)


floor = _float_unary("floor")
ceil = _float_unary("ceil")
sqrt = _float_unary("sqrt")
cbrt = _float_unary("cbrt")
exp = _float_unary("exp")
exp2 = _float_unary("exp2")
expm1 = _float_unary("expm1")
log = _float_unary("log")
log2 = _float_unary("log2")
log10 = _float_unary("log10")
log1p = _float_unary("log1p")
sin = _float_unary("sin")
cos = _float_unary("cos")
tan = _float_unary("tan")
arcsin = _float_unary("arcsin")
arccos = _float_unary("arccos")
arctan = _float_unary("arctan")
sinh = _float_unary("sinh")
cosh = _float_unary("cosh")
tanh = _float_unary("tanh")
arcsinh = _float_unary("arcsinh")
arccosh = _float_unary("arccosh")
arctanh = _float_unary("arctanh")
deg2rad = _float_unary("deg2rad")
rad2deg = _float_unary("rad2deg")
sinc = _float_unary("sinc")


def i0(x):
    x = _as_float(x)
    return xp.i0(x).astype(x.dtype, copy=False)  # numpy's i0 computes in float64


def angle(x):
    x = _cvt(x)
    if x.dtype.kind == "c":
        return xp.angle(x)
    x = _as_float(x)
    return xp.arctan2(xp.zeros((), x.dtype), x)


def ldexp(x1, x2):
    x1 = _as_float(x1)
    x2 = _cvt(x2)
    if _name(x2.dtype) not in INT_TYPES:
        raise DTypeError(f"`x2` of `ldexp` must be an integer tensor. Received: dtype={x2.dtype}")
    return xp.ldexp(x1, x2).astype(x1.dtype, copy=False)


# ---------------------------------------------------------------- complex parts

real = _unary("real")
imag = _unary("imag")
conjugate = _unary("conjugate")
isreal = _unary("isreal")

# ---------------------------------------------------------------- comparisons and tests

equal = _promoted("equal")
not_equal = _promoted("not_equal")
less = _promoted("less")
less_equal = _promoted("less_equal")
greater = _promoted("greater")
greater_equal = _promoted("greater_equal")


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    x1, x2 = _promote_float(x1, x2)
    return xp.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)


isfinite = _unary("isfinite")
isinf = _unary("isinf")
isnan = _unary("isnan")


def isneginf(x):
    x = _cvt(x)
    return xp.isneginf(x) if _is_float(x) else xp.zeros(x.shape, bool)


def isposinf(x):
    x = _cvt(x)
    return xp.isposinf(x) if _is_float(x) else xp.zeros(x.shape, bool)


def signbit(x):
    x = _cvt(x)
    return xp.zeros(x.shape, bool) if x.dtype == xp.bool_ else xp.signbit(x)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = _cvt(x)
    if not _is_inexact(x):
        return unchanged(x)
    return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


# ---------------------------------------------------------------- logic and bits

logical_and = _logical("logical_and")
logical_or = _logical("logical_or")
logical_xor = _logical("logical_xor")
logical_not = _unary("logical_not")


def _int_or_bool(x, name):
    if x.dtype != xp.bool_ and _name(x.dtype) not in INT_TYPES:
        raise DTypeError(f"`{name}` expects integer or bool tensors. Received: dtype={x.dtype}")
    return x


def _bitwise(name):
    """The op ``xp.<name>(x, y)`` on promoted integer or bool operands."""
    fn = getattr(xp, name)

    def op(x, y):
        x, y = promote(x, y)
        return fn(_int_or_bool(x, name), y)

    return _named(op, name)


bitwise_and = _bitwise("bitwise_and")
bitwise_or = _bitwise("bitwise_or")
bitwise_xor = _bitwise("bitwise_xor")


def bitwise_left_shift(x, y):
    x, y = _promote_nonbool(x, y, xp.int8)
    return xp.left_shift(_int_or_bool(x, "left_shift"), y)


def bitwise_right_shift(x, y):
    x, y = _promote_nonbool(x, y, xp.int8)
    return xp.right_shift(_int_or_bool(x, "right_shift"), y)


def bitwise_invert(x):
    return xp.invert(_int_or_bool(_cvt(x), "bitwise_invert"))


# ---------------------------------------------------------------- creation


def _dtype(dtype):
    return to_dtype(dtype if dtype is not None else floatx())


def zeros(shape, dtype=None):
    return xp.zeros(shape, _dtype(dtype))


def ones(shape, dtype=None):
    return xp.ones(shape, _dtype(dtype))


def full(shape, fill_value, dtype=None):
    return xp.full(shape, fill_value, _dtype(dtype))


def zeros_like(x, dtype=None):
    x = _cvt(x)
    return xp.zeros(x.shape, x.dtype if dtype is None else to_dtype(dtype))


def ones_like(x, dtype=None):
    x = _cvt(x)
    return xp.ones(x.shape, x.dtype if dtype is None else to_dtype(dtype))


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


def identity(n, dtype=None):
    return xp.eye(n, dtype=_dtype(dtype))


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
