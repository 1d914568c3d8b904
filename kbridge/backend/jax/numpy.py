"""jax backend: numpy ops (elementwise math, creation, comparisons, logic, bitwise)."""

import functools

import jax.numpy as jnp

from kbridge.backend.common.convert import dtype_of
from kbridge.backend.common.dtypes import (
    FLOAT_TYPES, INT_TYPES, floatx, result_type, standardize_dtype,
)
from kbridge.backend.jax.core import convert_to_tensor, promote, to_jax_dtype
from kbridge.backend.numpy.numpy import _window
from kbridge.errors import DTypeError


@functools.lru_cache(maxsize=None)
def _float_of(dt):
    return to_jax_dtype(result_type(standardize_dtype(dt), "float*"))


@functools.lru_cache(maxsize=None)
def _name(dt):
    return standardize_dtype(dt)


def _cvt(x):
    return convert_to_tensor(x)


def _as_float(x):
    x = convert_to_tensor(x)
    dt = _float_of(x.dtype)
    return x if x.dtype == dt else x.astype(dt)


def _promote_float(x1, x2):
    dt = to_jax_dtype(result_type(dtype_of(x1), dtype_of(x2), "float*"))
    return [jnp.asarray(x, dtype=dt) for x in (x1, x2)]


def _promote_nonbool(x1, x2, bool_to):
    x1, x2 = promote(x1, x2)
    if x1.dtype == jnp.bool_:
        x1, x2 = x1.astype(bool_to), x2.astype(bool_to)
    return x1, x2


def _is_float(x):
    return _name(x.dtype) in FLOAT_TYPES


def _is_inexact(x):
    return _name(x.dtype) in FLOAT_TYPES or jnp.iscomplexobj(x)


def _float_unary(fn):
    def apply(x):
        return fn(_as_float(x))

    return apply


# ---------------------------------------------------------------- arithmetic


def add(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.add(x1, x2)


def subtract(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.subtract(x1, x2)


def multiply(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.multiply(x1, x2)


def divide(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return jnp.divide(x1, x2)


def true_divide(x1, x2):
    return divide(x1, x2)


def divide_no_nan(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    zero = x2 == 0
    # The safe denominator keeps the unused branch finite, so gradients stay NaN-free.
    safe = jnp.where(zero, jnp.ones((), x2.dtype), x2)
    return jnp.where(zero, jnp.zeros((), x1.dtype), x1 / safe)


def floor_divide(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, jnp.int8)
    return jnp.floor_divide(x1, x2)


def mod(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, jnp.int32)
    return jnp.mod(x1, x2)


def fmod(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, jnp.int32)
    return jnp.fmod(x1, x2)


def power(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, jnp.int8)
    return jnp.power(x1, x2)


def negative(x):
    return jnp.negative(_cvt(x))


def absolute(x):
    x = _cvt(x)
    if x.dtype == jnp.bool_ or x.dtype.kind == "u":
        return x
    return jnp.absolute(x)


def abs(x):
    return absolute(x)


def fabs(x):
    return jnp.fabs(_as_float(x))


def square(x):
    x = _cvt(x)
    if x.dtype == jnp.bool_:
        x = x.astype(jnp.int32)
    return jnp.square(x)


def reciprocal(x):
    x = _cvt(x)
    if _is_inexact(x):
        return jnp.reciprocal(x)
    if x.dtype == jnp.bool_:
        x = x.astype(jnp.int8)
    return jnp.trunc(1.0 / x.astype(_float_of(x.dtype))).astype(x.dtype)


def sign(x):
    return jnp.sign(_cvt(x))


def maximum(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.maximum(x1, x2)


def minimum(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.minimum(x1, x2)


def fmax(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.fmax(x1, x2)


def fmin(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.fmin(x1, x2)


def clip(x, x_min, x_max):
    x = _cvt(x)
    out_dt = jnp.dtype(jnp.int32) if x.dtype == jnp.bool_ else x.dtype
    bounds = [b for b in (x_min, x_max) if b is not None]
    dt = to_jax_dtype(result_type(_name(out_dt), *[dtype_of(b) for b in bounds]))
    lo = None if x_min is None else jnp.asarray(x_min, dt)
    hi = None if x_max is None else jnp.asarray(x_max, dt)
    return jnp.clip(x.astype(dt), lo, hi).astype(out_dt)


def round(x, decimals=0):
    x = _cvt(x)
    if _is_inexact(x):
        return jnp.round(x, decimals)
    if x.dtype == jnp.bool_ or decimals >= 0:
        return x
    factor = 10.0 ** (-decimals)
    wide = to_jax_dtype("float64")
    return (jnp.rint(x.astype(wide) / factor) * factor).astype(x.dtype)


def trunc(x):
    x = _cvt(x)
    if _is_inexact(x):
        return jnp.trunc(x)
    return x


floor = _float_unary(jnp.floor)
ceil = _float_unary(jnp.ceil)
sqrt = _float_unary(jnp.sqrt)
cbrt = _float_unary(jnp.cbrt)
exp = _float_unary(jnp.exp)
exp2 = _float_unary(jnp.exp2)
expm1 = _float_unary(jnp.expm1)
log = _float_unary(jnp.log)
log2 = _float_unary(jnp.log2)
log10 = _float_unary(jnp.log10)
log1p = _float_unary(jnp.log1p)
sin = _float_unary(jnp.sin)
cos = _float_unary(jnp.cos)
tan = _float_unary(jnp.tan)
arcsin = _float_unary(jnp.arcsin)
arccos = _float_unary(jnp.arccos)
arctan = _float_unary(jnp.arctan)
sinh = _float_unary(jnp.sinh)
cosh = _float_unary(jnp.cosh)
tanh = _float_unary(jnp.tanh)
arcsinh = _float_unary(jnp.arcsinh)
arccosh = _float_unary(jnp.arccosh)
arctanh = _float_unary(jnp.arctanh)
deg2rad = _float_unary(jnp.deg2rad)
rad2deg = _float_unary(jnp.rad2deg)
sinc = _float_unary(jnp.sinc)
i0 = _float_unary(jnp.i0)


def angle(x):
    x = _cvt(x)
    if jnp.iscomplexobj(x):
        return jnp.angle(x)
    x = _as_float(x)
    return jnp.arctan2(jnp.zeros((), x.dtype), x)


def arctan2(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return jnp.arctan2(x1, x2)


def hypot(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return jnp.hypot(x1, x2)


def heaviside(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return jnp.heaviside(x1, x2)


def logaddexp(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return jnp.logaddexp(x1, x2)


def logaddexp2(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return jnp.logaddexp2(x1, x2)


def nextafter(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return jnp.nextafter(x1, x2)


def ldexp(x1, x2):
    x1 = _as_float(x1)
    x2 = _cvt(x2)
    if _name(x2.dtype) not in INT_TYPES:
        raise DTypeError(f"`x2` of `ldexp` must be an integer tensor. Received: dtype={x2.dtype}")
    return jnp.ldexp(x1, x2).astype(x1.dtype)


def gcd(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.gcd(x1, x2)


def lcm(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.lcm(x1, x2)


def matmul(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.matmul(x1, x2)


# ---------------------------------------------------------------- complex parts


def real(x):
    return jnp.real(_cvt(x))


def imag(x):
    return jnp.imag(_cvt(x))


def conjugate(x):
    return jnp.conjugate(_cvt(x))


def conj(x):
    return conjugate(x)


def isreal(x):
    return jnp.isreal(_cvt(x))


# ---------------------------------------------------------------- comparisons and tests


def equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.equal(x1, x2)


def not_equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.not_equal(x1, x2)


def less(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.less(x1, x2)


def less_equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.less_equal(x1, x2)


def greater(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.greater(x1, x2)


def greater_equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.greater_equal(x1, x2)


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    x1, x2 = _promote_float(x1, x2)
    return jnp.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    return jnp.all(isclose(x1, x2, rtol, atol, equal_nan))


def isfinite(x):
    return jnp.isfinite(_cvt(x))


def isinf(x):
    return jnp.isinf(_cvt(x))


def isnan(x):
    return jnp.isnan(_cvt(x))


def isneginf(x):
    x = _cvt(x)
    if not _is_float(x):
        return jnp.zeros(x.shape, bool)
    return jnp.isneginf(x)


def isposinf(x):
    x = _cvt(x)
    if not _is_float(x):
        return jnp.zeros(x.shape, bool)
    return jnp.isposinf(x)


def signbit(x):
    x = _cvt(x)
    if x.dtype == jnp.bool_:
        return jnp.zeros(x.shape, bool)
    return jnp.signbit(x)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = _cvt(x)
    if not _is_inexact(x):
        return x
    return jnp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


# ---------------------------------------------------------------- logic and bits


def logical_and(x1, x2):
    return jnp.logical_and(_cvt(x1), _cvt(x2))


def logical_or(x1, x2):
    return jnp.logical_or(_cvt(x1), _cvt(x2))


def logical_xor(x1, x2):
    return jnp.logical_xor(_cvt(x1), _cvt(x2))


def logical_not(x):
    return jnp.logical_not(_cvt(x))


def _int_or_bool(x, name):
    if x.dtype != jnp.bool_ and _name(x.dtype) not in INT_TYPES:
        raise DTypeError(f"`{name}` expects integer or bool tensors. Received: dtype={x.dtype}")
    return x


def bitwise_and(x, y):
    x, y = promote(x, y)
    return jnp.bitwise_and(_int_or_bool(x, "bitwise_and"), y)


def bitwise_or(x, y):
    x, y = promote(x, y)
    return jnp.bitwise_or(_int_or_bool(x, "bitwise_or"), y)


def bitwise_xor(x, y):
    x, y = promote(x, y)
    return jnp.bitwise_xor(_int_or_bool(x, "bitwise_xor"), y)


def bitwise_invert(x):
    return jnp.invert(_int_or_bool(_cvt(x), "bitwise_invert"))


def bitwise_not(x):
    return bitwise_invert(x)


def bitwise_left_shift(x, y):
    x, y = _promote_nonbool(x, y, jnp.int8)
    return jnp.left_shift(_int_or_bool(x, "left_shift"), y)


def left_shift(x, y):
    return bitwise_left_shift(x, y)


def bitwise_right_shift(x, y):
    x, y = _promote_nonbool(x, y, jnp.int8)
    return jnp.right_shift(_int_or_bool(x, "right_shift"), y)


def right_shift(x, y):
    return bitwise_right_shift(x, y)


# ---------------------------------------------------------------- creation


def _dtype(dtype):
    return to_jax_dtype(dtype if dtype is not None else floatx())


def zeros(shape, dtype=None):
    return jnp.zeros(shape, _dtype(dtype))


def ones(shape, dtype=None):
    return jnp.ones(shape, _dtype(dtype))


def empty(shape, dtype=None):
    return jnp.zeros(shape, _dtype(dtype))


def full(shape, fill_value, dtype=None):
    return jnp.full(shape, fill_value, _dtype(dtype))


def zeros_like(x, dtype=None):
    x = _cvt(x)
    return jnp.zeros(x.shape, x.dtype if dtype is None else to_jax_dtype(dtype))


def ones_like(x, dtype=None):
    x = _cvt(x)
    return jnp.ones(x.shape, x.dtype if dtype is None else to_jax_dtype(dtype))


def empty_like(x, dtype=None):
    return zeros_like(x, dtype)


def full_like(x, fill_value, dtype=None):
    x = _cvt(x)
    return jnp.full(x.shape, fill_value, x.dtype if dtype is None else to_jax_dtype(dtype))


def array(x, dtype=None):
    return jnp.array(convert_to_tensor(x, dtype), copy=True)


def copy(x):
    return jnp.array(_cvt(x), copy=True)


def arange(start, stop=None, step=None, dtype=None):
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    if dtype is None:
        dtype = result_type(dtype_of(start), dtype_of(stop), dtype_of(step))
    return jnp.arange(start, stop, step, dtype=to_jax_dtype(dtype))


def eye(N, M=None, k=0, dtype=None):
    return jnp.eye(N, M, k, dtype=_dtype(dtype))


def identity(n, dtype=None):
    return jnp.eye(n, dtype=_dtype(dtype))


def tri(N, M=None, k=0, dtype=None):
    return jnp.tri(N, M, k, dtype=_dtype(dtype))


def _space_dtype(start, stop, dtype):
    if dtype is not None:
        return standardize_dtype(dtype)
    return result_type(dtype_of(start), dtype_of(stop), "float*")


def _wide(x):
    return jnp.asarray(x, to_jax_dtype("float64"))


def _finish_space(y, dtype):
    if dtype in INT_TYPES:
        y = jnp.floor(y)
    return y.astype(to_jax_dtype(dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    y, step = jnp.linspace(_wide(start), _wide(stop), num, endpoint=endpoint, retstep=True,
                           axis=axis)
    y = _finish_space(y, dtype)
    if retstep:
        step_dt = dtype if dtype in FLOAT_TYPES else floatx()
        return y, jnp.asarray(step, to_jax_dtype(step_dt))
    return y


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    y = jnp.logspace(_wide(start), _wide(stop), num, endpoint=endpoint, base=_wide(base),
                     axis=axis)
    return y.astype(to_jax_dtype(dtype))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    y = jnp.geomspace(_wide(start), _wide(stop), num, endpoint=endpoint, axis=axis)
    return y.astype(to_jax_dtype(dtype))


# ---------------------------------------------------------------- window functions


def bartlett(x):
    return jnp.asarray(_window("bartlett", x))


def blackman(x):
    return jnp.asarray(_window("blackman", x))


def hamming(x):
    return jnp.asarray(_window("hamming", x))


def hanning(x):
    return jnp.asarray(_window("hanning", x))


def kaiser(x, beta):
    return jnp.asarray(_window("kaiser", x, beta))
