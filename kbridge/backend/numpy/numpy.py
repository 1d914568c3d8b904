"""numpy backend: numpy ops (elementwise math, creation, comparisons, logic, bitwise).

This backend is the reference the other backends are tested against, so it spells out
kbridge's dtype rules rather than relying on numpy's own (which differ: numpy widens
Python scalars and int -> float64).
"""

import functools

import numpy as np

from kbridge.backend.common.convert import dtype_of
from kbridge.backend.common.dtypes import (
    FLOAT_TYPES, INT_TYPES, floatx, numpy_dtype, result_type, standardize_dtype,
)
from kbridge.backend.numpy.core import convert_to_tensor, promote
from kbridge.errors import DTypeError

_F64 = np.dtype("float64")


@functools.lru_cache(maxsize=None)
def _float_of(dt):
    """numpy dtype a float function returns for inputs of numpy dtype ``dt``."""
    return numpy_dtype(result_type(standardize_dtype(dt), "float*"))


@functools.lru_cache(maxsize=None)
def _name(dt):
    return standardize_dtype(dt)


def _cvt(x):
    return x if isinstance(x, np.ndarray) else convert_to_tensor(x)


def _as_float(x):
    """``x`` as an array of its float result dtype (ints and bool -> floatx)."""
    x = _cvt(x)
    dt = _float_of(x.dtype)
    return x if x.dtype == dt else x.astype(dt)


def _promote_float(x1, x2):
    dt = numpy_dtype(result_type(dtype_of(x1), dtype_of(x2), "float*"))
    return [x if isinstance(x, np.ndarray) and x.dtype == dt else np.asarray(x, dtype=dt)
            for x in (x1, x2)]


def _promote_nonbool(x1, x2, bool_to):
    x1, x2 = promote(x1, x2)
    if x1.dtype == np.bool_:
        x1, x2 = x1.astype(bool_to), x2.astype(bool_to)
    return x1, x2


def _is_float(x):
    return _name(x.dtype) in FLOAT_TYPES


def _is_inexact(x):
    return _name(x.dtype) in FLOAT_TYPES or x.dtype.kind == "c"


def _float_unary(fn):
    def apply(x):
        with np.errstate(all="ignore"):
            return fn(_as_float(x))

    return apply


# ---------------------------------------------------------------- arithmetic


def add(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.add(x1, x2)


def subtract(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.subtract(x1, x2)


def multiply(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.multiply(x1, x2)


def divide(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(x1, x2)


def true_divide(x1, x2):
    return divide(x1, x2)


def divide_no_nan(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x2 == 0, np.zeros((), x1.dtype), np.divide(x1, x2))


def floor_divide(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, np.int8)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.floor_divide(x1, x2)


def mod(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, np.int32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mod(x1, x2)


def fmod(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, np.int32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.fmod(x1, x2)


def power(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, np.int8)
    with np.errstate(all="ignore"):
        return np.power(x1, x2)


def negative(x):
    return np.negative(_cvt(x))


def absolute(x):
    x = _cvt(x)
    if x.dtype == np.bool_ or x.dtype.kind == "u":
        return x.copy()
    return np.absolute(x)


def abs(x):
    return absolute(x)


def fabs(x):
    return np.fabs(_as_float(x))


def square(x):
    x = _cvt(x)
    if x.dtype == np.bool_:
        x = x.astype(np.int32)
    return np.square(x)


def reciprocal(x):
    x = _cvt(x)
    if _is_inexact(x):
        with np.errstate(divide="ignore"):
            return np.reciprocal(x)
    # Integer reciprocal truncates toward zero, as numpy and Keras do (1, -1 or 0).
    if x.dtype == np.bool_:
        x = x.astype(np.int8)
    with np.errstate(all="ignore"):
        return np.trunc(np.reciprocal(x.astype(_F64))).astype(x.dtype)


def sign(x):
    return np.sign(_cvt(x))


def maximum(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.maximum(x1, x2)


def minimum(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.minimum(x1, x2)


def fmax(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.fmax(x1, x2)


def fmin(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.fmin(x1, x2)


def clip(x, x_min, x_max):
    x = _cvt(x)
    out_dt = np.dtype(np.int32) if x.dtype == np.bool_ else x.dtype
    bounds = [b for b in (x_min, x_max) if b is not None]
    dt = numpy_dtype(result_type(_name(out_dt), *[dtype_of(b) for b in bounds]))
    lo = None if x_min is None else np.asarray(x_min, dt)
    hi = None if x_max is None else np.asarray(x_max, dt)
    return np.clip(x.astype(dt, copy=False), lo, hi).astype(out_dt, copy=False)


def round(x, decimals=0):
    x = _cvt(x)
    if _is_inexact(x):
        return np.round(x, decimals)
    if x.dtype == np.bool_ or decimals >= 0:
        return x.copy()
    # Integers with decimals < 0: round half to even at a power of ten, as numpy does.
    factor = 10.0 ** (-decimals)
    return (np.rint(x.astype(_F64) / factor) * factor).astype(x.dtype)


def trunc(x):
    x = _cvt(x)
    if _is_inexact(x):
        return np.trunc(x)
    return x.copy()


floor = _float_unary(np.floor)
ceil = _float_unary(np.ceil)
sqrt = _float_unary(np.sqrt)
cbrt = _float_unary(np.cbrt)
exp = _float_unary(np.exp)
exp2 = _float_unary(np.exp2)
expm1 = _float_unary(np.expm1)
log = _float_unary(np.log)
log2 = _float_unary(np.log2)
log10 = _float_unary(np.log10)
log1p = _float_unary(np.log1p)
sin = _float_unary(np.sin)
cos = _float_unary(np.cos)
tan = _float_unary(np.tan)
arcsin = _float_unary(np.arcsin)
arccos = _float_unary(np.arccos)
arctan = _float_unary(np.arctan)
sinh = _float_unary(np.sinh)
cosh = _float_unary(np.cosh)
tanh = _float_unary(np.tanh)
arcsinh = _float_unary(np.arcsinh)
arccosh = _float_unary(np.arccosh)
arctanh = _float_unary(np.arctanh)
deg2rad = _float_unary(np.deg2rad)
rad2deg = _float_unary(np.rad2deg)
sinc = _float_unary(np.sinc)


def i0(x):
    x = _as_float(x)
    return np.i0(x).astype(x.dtype, copy=False)


def angle(x):
    x = _cvt(x)
    if x.dtype.kind == "c":
        return np.angle(x)
    x = _as_float(x)
    return np.arctan2(np.zeros((), x.dtype), x)


def arctan2(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return np.arctan2(x1, x2)


def hypot(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return np.hypot(x1, x2)


def heaviside(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return np.heaviside(x1, x2)


def logaddexp(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return np.logaddexp(x1, x2)


def logaddexp2(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return np.logaddexp2(x1, x2)


def nextafter(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return np.nextafter(x1, x2)


def ldexp(x1, x2):
    x1 = _as_float(x1)
    x2 = _cvt(x2)
    if _name(x2.dtype) not in INT_TYPES:
        raise DTypeError(f"`x2` of `ldexp` must be an integer tensor. Received: dtype={x2.dtype}")
    return np.ldexp(x1, x2).astype(x1.dtype, copy=False)


def gcd(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.gcd(x1, x2)


def lcm(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.lcm(x1, x2)


def matmul(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.matmul(x1, x2)


# ---------------------------------------------------------------- complex parts


def real(x):
    return np.real(_cvt(x))


def imag(x):
    return np.imag(_cvt(x))


def conjugate(x):
    return np.conjugate(_cvt(x))


def conj(x):
    return conjugate(x)


def isreal(x):
    return np.isreal(_cvt(x))


# ---------------------------------------------------------------- comparisons and tests


def equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.equal(x1, x2)


def not_equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.not_equal(x1, x2)


def less(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.less(x1, x2)


def less_equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.less_equal(x1, x2)


def greater(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.greater(x1, x2)


def greater_equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.greater_equal(x1, x2)


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    x1, x2 = _promote_float(x1, x2)
    return np.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    return np.asarray(np.all(isclose(x1, x2, rtol, atol, equal_nan)))


def isfinite(x):
    return np.isfinite(_cvt(x))


def isinf(x):
    return np.isinf(_cvt(x))


def isnan(x):
    return np.isnan(_cvt(x))


def isneginf(x):
    x = _cvt(x)
    if not _is_float(x):
        return np.zeros(x.shape, bool)
    return np.isneginf(x)


def isposinf(x):
    x = _cvt(x)
    if not _is_float(x):
        return np.zeros(x.shape, bool)
    return np.isposinf(x)


def signbit(x):
    x = _cvt(x)
    if x.dtype == np.bool_:
        return np.zeros(x.shape, bool)
    return np.signbit(x)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = _cvt(x)
    if not _is_inexact(x):
        return x.copy()
    return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


# ---------------------------------------------------------------- logic and bits


def logical_and(x1, x2):
    return np.logical_and(_cvt(x1), _cvt(x2))


def logical_or(x1, x2):
    return np.logical_or(_cvt(x1), _cvt(x2))


def logical_xor(x1, x2):
    return np.logical_xor(_cvt(x1), _cvt(x2))


def logical_not(x):
    return np.logical_not(_cvt(x))


def _int_or_bool(x, name):
    if x.dtype != np.bool_ and _name(x.dtype) not in INT_TYPES:
        raise DTypeError(f"`{name}` expects integer or bool tensors. Received: dtype={x.dtype}")
    return x


def bitwise_and(x, y):
    x, y = promote(x, y)
    return np.bitwise_and(_int_or_bool(x, "bitwise_and"), y)


def bitwise_or(x, y):
    x, y = promote(x, y)
    return np.bitwise_or(_int_or_bool(x, "bitwise_or"), y)


def bitwise_xor(x, y):
    x, y = promote(x, y)
    return np.bitwise_xor(_int_or_bool(x, "bitwise_xor"), y)


def bitwise_invert(x):
    return np.invert(_int_or_bool(_cvt(x), "bitwise_invert"))


def bitwise_not(x):
    return bitwise_invert(x)


def bitwise_left_shift(x, y):
    x, y = _promote_nonbool(x, y, np.int8)
    return np.left_shift(_int_or_bool(x, "left_shift"), y)


def left_shift(x, y):
    return bitwise_left_shift(x, y)


def bitwise_right_shift(x, y):
    x, y = _promote_nonbool(x, y, np.int8)
    return np.right_shift(_int_or_bool(x, "right_shift"), y)


def right_shift(x, y):
    return bitwise_right_shift(x, y)


# ---------------------------------------------------------------- creation


def _dtype(dtype, default=None):
    return numpy_dtype(dtype if dtype is not None else (default or floatx()))


def zeros(shape, dtype=None):
    return np.zeros(shape, _dtype(dtype))


def ones(shape, dtype=None):
    return np.ones(shape, _dtype(dtype))


def empty(shape, dtype=None):
    # Zero-filled rather than uninitialised, so results are reproducible on every backend.
    return np.zeros(shape, _dtype(dtype))


def full(shape, fill_value, dtype=None):
    return np.full(shape, fill_value, _dtype(dtype))


def zeros_like(x, dtype=None):
    x = _cvt(x)
    return np.zeros(x.shape, x.dtype if dtype is None else numpy_dtype(dtype))


def ones_like(x, dtype=None):
    x = _cvt(x)
    return np.ones(x.shape, x.dtype if dtype is None else numpy_dtype(dtype))


def empty_like(x, dtype=None):
    return zeros_like(x, dtype)


def full_like(x, fill_value, dtype=None):
    x = _cvt(x)
    return np.full(x.shape, fill_value, x.dtype if dtype is None else numpy_dtype(dtype))


def array(x, dtype=None):
    return np.array(convert_to_tensor(x, dtype), copy=True)


def copy(x):
    return np.array(_cvt(x), copy=True)


def arange(start, stop=None, step=None, dtype=None):
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    if dtype is None:
        dtype = result_type(dtype_of(start), dtype_of(stop), dtype_of(step))
    return np.arange(start, stop, step, dtype=numpy_dtype(dtype))


def eye(N, M=None, k=0, dtype=None):
    return np.eye(N, M, k, dtype=_dtype(dtype))


def identity(n, dtype=None):
    return np.eye(n, dtype=_dtype(dtype))


def tri(N, M=None, k=0, dtype=None):
    return np.tri(N, M, k, dtype=_dtype(dtype))


def _space_dtype(start, stop, dtype):
    if dtype is not None:
        return numpy_dtype(dtype)
    return numpy_dtype(result_type(dtype_of(start), dtype_of(stop), "float*"))


def _finish_space(y, dt):
    if _name(dt) in INT_TYPES:
        y = np.floor(y)
    return y.astype(dt, copy=False)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    dt = _space_dtype(start, stop, dtype)
    # Computed in float64 and cast, the same recipe as the other backends.
    y, step = np.linspace(np.asarray(start, _F64), np.asarray(stop, _F64), num,
                          endpoint=endpoint, retstep=True, axis=axis)
    y = _finish_space(y, dt)
    if retstep:
        step_dt = dt if _name(dt) in FLOAT_TYPES else numpy_dtype(floatx())
        return y, np.asarray(step, step_dt)
    return y


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    dt = _space_dtype(start, stop, dtype)
    y = np.logspace(np.asarray(start, _F64), np.asarray(stop, _F64), num, endpoint=endpoint,
                    base=np.asarray(base, _F64), axis=axis)
    return y.astype(dt, copy=False)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    dt = _space_dtype(start, stop, dtype)
    y = np.geomspace(np.asarray(start, _F64), np.asarray(stop, _F64), num, endpoint=endpoint,
                     axis=axis)
    return y.astype(dt, copy=False)


# ---------------------------------------------------------------- window functions


def _window_length(x):
    dt = getattr(x, "dtype", None)
    if isinstance(x, int) or (dt is not None and _name(dt) in INT_TYPES and x.ndim == 0):
        return int(x)
    raise DTypeError(f"The window length must be an integer. Received: x={x!r}")


def _window(kind, x, beta=None):
    """A numpy window of length ``x`` in ``floatx()``; the other backends convert it."""
    m = _window_length(x)
    values = np.kaiser(m, float(beta)) if kind == "kaiser" else getattr(np, kind)(m)
    return values.astype(numpy_dtype(floatx()))


def bartlett(x):
    return _window("bartlett", x)


def blackman(x):
    return _window("blackman", x)


def hamming(x):
    return _window("hamming", x)


def hanning(x):
    return _window("hanning", x)


def kaiser(x, beta):
    return _window("kaiser", x, beta)

