"""torch backend: numpy ops (elementwise math, creation, comparisons, logic, bitwise)."""

import functools
import math

import numpy as np
import torch

from kbridge.backend.common.convert import dtype_of
from kbridge.backend.common.dtypes import (
    FLOAT_TYPES, INT_TYPES, floatx, result_type, standardize_dtype,
)
from kbridge.backend.numpy.numpy import _window
from kbridge.backend.torch.core import convert_to_tensor, promote, to_torch_dtype
from kbridge.errors import DTypeError

_F64 = torch.float64
# torch implements few kernels for uint16/32/64 (only bit ops, comparisons and casts);
# arithmetic on them goes through the next wider signed type and back.
_WIDER = {torch.uint16: torch.int32, torch.uint32: torch.int64, torch.uint64: torch.int64}


@functools.lru_cache(maxsize=None)
def _float_of(dt):
    return to_torch_dtype(result_type(standardize_dtype(dt), "float*"))


def _cvt(x):
    return x if isinstance(x, torch.Tensor) else convert_to_tensor(x)


def _as_float(x):
    x = _cvt(x)
    dt = _float_of(x.dtype)
    return x if x.dtype == dt else x.to(dt)


def _promote_float(x1, x2):
    dt = to_torch_dtype(result_type(dtype_of(x1), dtype_of(x2), "float*"))
    return [x if isinstance(x, torch.Tensor) and x.dtype == dt else convert_to_tensor(x, dt)
            for x in (x1, x2)]


def _promote_nonbool(x1, x2, bool_to):
    x1, x2 = promote(x1, x2)
    if x1.dtype == torch.bool:
        x1, x2 = x1.to(bool_to), x2.to(bool_to)
    return x1, x2


def _binary(fn, x1, x2):
    """``fn`` on promoted operands, through a wider type for torch's sparse uint support."""
    dt = x1.dtype
    wide = _WIDER.get(dt)
    if wide is None:
        return fn(x1, x2)
    out = fn(x1.to(wide), x2.to(wide))
    return out if out.dtype == torch.bool else out.to(dt)


def _is_inexact(x):
    return x.is_floating_point() or x.is_complex()


def _float_unary(fn):
    def apply(x):
        return fn(_as_float(x))

    return apply


# ---------------------------------------------------------------- arithmetic


def add(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.add, x1, x2)


def subtract(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.subtract, x1, x2)


def multiply(x1, x2):
    x1, x2 = promote(x1, x2)
    if x1.dtype == torch.bool:
        return torch.logical_and(x1, x2)
    return _binary(torch.multiply, x1, x2)


def divide(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return torch.divide(x1, x2)


def true_divide(x1, x2):
    return divide(x1, x2)


def divide_no_nan(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    zero = x2 == 0
    # The safe denominator keeps the unused branch finite, so gradients stay NaN-free.
    safe = torch.where(zero, torch.ones((), dtype=x2.dtype), x2)
    return torch.where(zero, torch.zeros((), dtype=x1.dtype), x1 / safe)


def floor_divide(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, torch.int8)
    return _binary(torch.floor_divide, x1, x2)


def mod(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, torch.int32)
    return _binary(torch.remainder, x1, x2)


def fmod(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, torch.int32)
    return _binary(torch.fmod, x1, x2)


def power(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, torch.int8)
    return _binary(torch.pow, x1, x2)


def negative(x):
    x = _cvt(x)
    wide = _WIDER.get(x.dtype)
    if wide is not None:
        return torch.negative(x.to(wide)).to(x.dtype)
    return torch.negative(x)


def absolute(x):
    x = _cvt(x)
    if x.dtype == torch.bool or x.dtype in (torch.uint8,) or x.dtype in _WIDER:
        return x
    return torch.abs(x)


def abs(x):
    return absolute(x)


def fabs(x):
    return torch.abs(_as_float(x))


def square(x):
    x = _cvt(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    wide = _WIDER.get(x.dtype)
    if wide is not None:
        return torch.square(x.to(wide)).to(x.dtype)
    return torch.square(x)


def reciprocal(x):
    x = _cvt(x)
    if _is_inexact(x):
        return torch.reciprocal(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int8)
    return torch.trunc(torch.reciprocal(x.to(_F64))).to(x.dtype)


def sign(x):
    x = _cvt(x)
    wide = _WIDER.get(x.dtype)
    if wide is not None:
        return torch.sign(x.to(wide)).to(x.dtype)
    if x.is_floating_point():  # torch.sign maps NaN to 0; numpy keeps NaN
        return torch.where(torch.isnan(x), x, torch.sign(x))
    return torch.sign(x)


def maximum(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.maximum, x1, x2)


def minimum(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.minimum, x1, x2)


def fmax(x1, x2):
    x1, x2 = promote(x1, x2)
    if x1.dtype == torch.bool:
        return torch.logical_or(x1, x2)
    return _binary(torch.fmax, x1, x2)


def fmin(x1, x2):
    x1, x2 = promote(x1, x2)
    if x1.dtype == torch.bool:
        return torch.logical_and(x1, x2)
    return _binary(torch.fmin, x1, x2)


def clip(x, x_min, x_max):
    x = _cvt(x)
    out_dt = torch.int32 if x.dtype == torch.bool else x.dtype
    bounds = [b for b in (x_min, x_max) if b is not None]
    dt = to_torch_dtype(result_type(standardize_dtype(out_dt), *[dtype_of(b) for b in bounds]))
    wide = _WIDER.get(dt, dt)
    lo = None if x_min is None else convert_to_tensor(x_min, wide)
    hi = None if x_max is None else convert_to_tensor(x_max, wide)
    return torch.clamp(x.to(wide), lo, hi).to(out_dt)


def round(x, decimals=0):
    x = _cvt(x)
    if _is_inexact(x):
        return torch.round(x, decimals=decimals) if decimals else torch.round(x)
    if x.dtype == torch.bool or decimals >= 0:
        return x
    factor = 10.0 ** (-decimals)
    return (torch.round(x.to(_F64) / factor) * factor).to(x.dtype)


def trunc(x):
    x = _cvt(x)
    if _is_inexact(x):
        return torch.trunc(x)
    return x


def _cbrt(x):
    return torch.sign(x) * torch.pow(torch.abs(x), 1.0 / 3.0)


def _log_base(base):
    scale = 1.0 / math.log(base)

    def apply(x):
        return torch.log(x) * scale

    return apply


floor = _float_unary(torch.floor)
ceil = _float_unary(torch.ceil)
sqrt = _float_unary(torch.sqrt)
cbrt = _float_unary(_cbrt)
exp = _float_unary(torch.exp)
exp2 = _float_unary(torch.exp2)
expm1 = _float_unary(torch.expm1)
log = _float_unary(torch.log)
log2 = _float_unary(torch.log2)
log10 = _float_unary(torch.log10)
log1p = _float_unary(torch.log1p)
sin = _float_unary(torch.sin)
cos = _float_unary(torch.cos)
tan = _float_unary(torch.tan)
arcsin = _float_unary(torch.arcsin)
arccos = _float_unary(torch.arccos)
arctan = _float_unary(torch.arctan)
sinh = _float_unary(torch.sinh)
cosh = _float_unary(torch.cosh)
tanh = _float_unary(torch.tanh)
arcsinh = _float_unary(torch.arcsinh)
arccosh = _float_unary(torch.arccosh)
arctanh = _float_unary(torch.arctanh)
deg2rad = _float_unary(torch.deg2rad)
rad2deg = _float_unary(torch.rad2deg)
sinc = _float_unary(torch.sinc)
i0 = _float_unary(torch.i0)


def angle(x):
    x = _cvt(x)
    if x.is_complex():
        return torch.angle(x)
    x = _as_float(x)
    return torch.atan2(torch.zeros((), dtype=x.dtype), x)


def arctan2(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return torch.atan2(x1, x2)


def hypot(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return torch.hypot(x1, x2)


def heaviside(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    x1, x2 = torch.broadcast_tensors(x1, x2)
    out = torch.heaviside(x1, x2)
    return torch.where(torch.isnan(x1), x1, out)


def logaddexp(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return torch.logaddexp(x1, x2)


def logaddexp2(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return torch.logaddexp2(x1, x2)


def _nextafter16(x1, x2):
    """nextafter for 16-bit floats by stepping the bit pattern (torch's CPU kernel is 32/64)."""
    x1, x2 = torch.broadcast_tensors(x1, x2)
    bits = x1.view(torch.int16)
    away_from_zero = (x1 > 0) == (x2 > x1)
    stepped = torch.where(away_from_zero, bits + 1, bits - 1).view(x1.dtype)
    tiny = torch.ones((), dtype=torch.int16).view(x1.dtype)
    stepped = torch.where(x1 == 0, torch.where(x2 > 0, tiny, -tiny), stepped)
    out = torch.where(x1 == x2, x2, stepped)
    return torch.where(torch.isnan(x1) | torch.isnan(x2), x1 + x2, out)


def nextafter(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    if x1.dtype in (torch.float16, torch.bfloat16):
        return _nextafter16(x1, x2)
    return torch.nextafter(x1, x2)


def ldexp(x1, x2):
    x1 = _as_float(x1)
    x2 = _cvt(x2)
    if standardize_dtype(x2.dtype) not in INT_TYPES:
        raise DTypeError(f"`x2` of `ldexp` must be an integer tensor. Received: dtype={x2.dtype}")
    # Not torch.ldexp: its gradient for negative integer exponents is 0 (integer 2**e).
    return x1 * torch.exp2(x2.to(x1.dtype))


def gcd(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.gcd, x1, x2)


def lcm(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.lcm, x1, x2)


def matmul(x1, x2):
    x1, x2 = promote(x1, x2)
    return torch.matmul(x1, x2)


# ---------------------------------------------------------------- complex parts


def real(x):
    x = _cvt(x)
    return torch.real(x) if x.is_complex() else x


def imag(x):
    x = _cvt(x)
    return torch.imag(x) if x.is_complex() else torch.zeros_like(x)


def conjugate(x):
    x = _cvt(x)
    # conj_physical: torch.conj only sets a lazy flag that numpy() refuses to read.
    return torch.conj_physical(x) if x.is_complex() else x


def conj(x):
    return conjugate(x)


def isreal(x):
    return torch.isreal(_cvt(x))


# ---------------------------------------------------------------- comparisons and tests


def equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.eq, x1, x2)


def not_equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.ne, x1, x2)


def less(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.lt, x1, x2)


def less_equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.le, x1, x2)


def greater(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.gt, x1, x2)


def greater_equal(x1, x2):
    x1, x2 = promote(x1, x2)
    return _binary(torch.ge, x1, x2)


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    x1, x2 = _promote_float(x1, x2)
    x1, x2 = torch.broadcast_tensors(x1, x2)
    return torch.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)


def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    return torch.all(isclose(x1, x2, rtol, atol, equal_nan))


def isfinite(x):
    return torch.isfinite(_cvt(x))


def isinf(x):
    return torch.isinf(_cvt(x))


def isnan(x):
    return torch.isnan(_cvt(x))


def isneginf(x):
    return torch.isneginf(_cvt(x))


def isposinf(x):
    return torch.isposinf(_cvt(x))


def signbit(x):
    x = _cvt(x)
    if x.dtype == torch.bool or x.dtype in (torch.uint8,) or x.dtype in _WIDER:
        return torch.zeros(x.shape, dtype=torch.bool)
    return torch.signbit(x)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = _cvt(x)
    if not _is_inexact(x):
        return x
    return torch.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


# ---------------------------------------------------------------- logic and bits


def logical_and(x1, x2):
    return torch.logical_and(_cvt(x1), _cvt(x2))


def logical_or(x1, x2):
    return torch.logical_or(_cvt(x1), _cvt(x2))


def logical_xor(x1, x2):
    return torch.logical_xor(_cvt(x1), _cvt(x2))


def logical_not(x):
    return torch.logical_not(_cvt(x))


def _int_or_bool(x, name):
    if x.dtype != torch.bool and standardize_dtype(x.dtype) not in INT_TYPES:
        raise DTypeError(f"`{name}` expects integer or bool tensors. Received: dtype={x.dtype}")
    return x


def bitwise_and(x, y):
    x, y = promote(x, y)
    return torch.bitwise_and(_int_or_bool(x, "bitwise_and"), y)


def bitwise_or(x, y):
    x, y = promote(x, y)
    return torch.bitwise_or(_int_or_bool(x, "bitwise_or"), y)


def bitwise_xor(x, y):
    x, y = promote(x, y)
    return torch.bitwise_xor(_int_or_bool(x, "bitwise_xor"), y)


def bitwise_invert(x):
    x = _int_or_bool(_cvt(x), "bitwise_invert")
    wide = _WIDER.get(x.dtype)
    if wide is not None:
        return torch.bitwise_not(x.to(wide)).to(x.dtype)
    return torch.bitwise_not(x)


def bitwise_not(x):
    return bitwise_invert(x)


def bitwise_left_shift(x, y):
    x, y = _promote_nonbool(x, y, torch.int8)
    return _binary(torch.bitwise_left_shift, _int_or_bool(x, "left_shift"), y)


def left_shift(x, y):
    return bitwise_left_shift(x, y)


def bitwise_right_shift(x, y):
    x, y = _promote_nonbool(x, y, torch.int8)
    return _binary(torch.bitwise_right_shift, _int_or_bool(x, "right_shift"), y)


def right_shift(x, y):
    return bitwise_right_shift(x, y)


# ---------------------------------------------------------------- creation


def _dtype(dtype):
    return to_torch_dtype(dtype if dtype is not None else floatx())


def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def zeros(shape, dtype=None):
    return torch.zeros(_shape(shape), dtype=_dtype(dtype))


def ones(shape, dtype=None):
    return torch.ones(_shape(shape), dtype=_dtype(dtype))


def empty(shape, dtype=None):
    # Zero-filled rather than uninitialised, so results are reproducible on every backend.
    return torch.zeros(_shape(shape), dtype=_dtype(dtype))


def full(shape, fill_value, dtype=None):
    dt = _dtype(dtype)
    if isinstance(fill_value, (torch.Tensor, np.ndarray, list, tuple)):
        return convert_to_tensor(fill_value, dt).expand(_shape(shape)).clone()
    return torch.full(_shape(shape), fill_value, dtype=dt)


def zeros_like(x, dtype=None):
    x = _cvt(x)
    return torch.zeros_like(x, dtype=x.dtype if dtype is None else to_torch_dtype(dtype))


def ones_like(x, dtype=None):
    x = _cvt(x)
    return torch.ones_like(x, dtype=x.dtype if dtype is None else to_torch_dtype(dtype))


def empty_like(x, dtype=None):
    return zeros_like(x, dtype)


def full_like(x, fill_value, dtype=None):
    x = _cvt(x)
    dt = x.dtype if dtype is None else to_torch_dtype(dtype)
    if isinstance(fill_value, (torch.Tensor, np.ndarray, list, tuple)):
        return convert_to_tensor(fill_value).to(dt).expand(x.shape).clone()
    if not (dt.is_floating_point or dt.is_complex) and isinstance(fill_value, float):
        fill_value = int(fill_value)  # numpy truncates a float fill for integer dtypes
    return torch.full_like(x, fill_value, dtype=dt)


def array(x, dtype=None):
    return convert_to_tensor(x, dtype).clone()


def copy(x):
    return _cvt(x).clone()


def arange(start, stop=None, step=None, dtype=None):
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    if dtype is None:
        dtype = result_type(dtype_of(start), dtype_of(stop), dtype_of(step))
    return torch.arange(start, stop, step, dtype=to_torch_dtype(dtype))


def _diagonal_mask(N, M, k, op):
    M = N if M is None else M
    rows = torch.arange(N).unsqueeze(1)
    cols = torch.arange(M).unsqueeze(0)
    return op(cols - rows, k)


def eye(N, M=None, k=0, dtype=None):
    return _diagonal_mask(N, M, k, torch.eq).to(_dtype(dtype))


def identity(n, dtype=None):
    return torch.eye(n, dtype=_dtype(dtype))


def tri(N, M=None, k=0, dtype=None):
    return _diagonal_mask(N, M, k, torch.le).to(_dtype(dtype))


def _space_dtype(start, stop, dtype):
    if dtype is not None:
        return standardize_dtype(dtype)
    return result_type(dtype_of(start), dtype_of(stop), "float*")


def _linspace64(start, stop, num, endpoint, axis):
    """numpy's linspace recipe in float64: samples (``num`` first, moved to ``axis``), step."""
    if num < 0:
        raise ValueError(f"`num` must be non-negative. Received: num={num}")
    start = convert_to_tensor(start, _F64)
    stop = convert_to_tensor(stop, _F64)
    start, stop = torch.broadcast_tensors(start, stop)
    delta = stop - start
    div = num - 1 if endpoint else num
    steps = torch.arange(num, dtype=_F64).reshape((-1,) + (1,) * delta.dim())
    if div > 0:
        step = delta / div
        y = steps * step + start
    else:
        step = torch.full_like(delta, float("nan"))
        y = steps * delta + start
    if endpoint and num > 1:
        y = torch.cat([y[:-1], stop.unsqueeze(0)], 0)
    if axis != 0 and delta.dim():
        y = torch.movedim(y, 0, axis)
    return y, step


def _finish_space(y, dtype):
    if dtype in INT_TYPES:
        y = torch.floor(y)
    return y.to(to_torch_dtype(dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    y, step = _linspace64(start, stop, num, endpoint, axis)
    y = _finish_space(y, dtype)
    if retstep:
        return y, step.to(to_torch_dtype(dtype if dtype in FLOAT_TYPES else floatx()))
    return y


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    y, _ = _linspace64(start, stop, num, endpoint, axis)
    base = convert_to_tensor(base, _F64)
    if base.dim():
        base = base.unsqueeze(axis if axis >= 0 else axis + y.dim())
    return torch.pow(base, y).to(to_torch_dtype(dtype))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    start = convert_to_tensor(start, _F64)
    stop = convert_to_tensor(stop, _F64)
    if bool(torch.any(start == 0)) or bool(torch.any(stop == 0)):
        raise ValueError("`geomspace` needs non-zero `start` and `stop`.")
    sign = torch.sign(start)
    y, _ = _linspace64(torch.log10(start * sign), torch.log10(stop * sign), num, endpoint, 0)
    y = sign * torch.pow(10.0, y)
    # Pin the ends exactly, as numpy does.
    if num > 0:
        y = torch.cat([start.expand_as(y[:1]), y[1:]], 0)
        if endpoint and num > 1:
            y = torch.cat([y[:-1], stop.expand_as(y[:1])], 0)
    if axis != 0 and y.dim() > 1:
        y = torch.movedim(y, 0, axis)
    return y.to(to_torch_dtype(dtype))


# ---------------------------------------------------------------- window functions


def bartlett(x):
    return torch.from_numpy(_window("bartlett", x))


def blackman(x):
    return torch.from_numpy(_window("blackman", x))


def hamming(x):
    return torch.from_numpy(_window("hamming", x))


def hanning(x):
    return torch.from_numpy(_window("hanning", x))


def kaiser(x, beta):
    return torch.from_numpy(_window("kaiser", x, beta))
