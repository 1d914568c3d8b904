"""torch backend: numpy ops (elementwise math, creation, comparisons, logic, bitwise)."""

import functools
import math

import numpy as np
import torch

from kbridge.backend.common.convert import dtype_of
from kbridge.backend.common.dtypes import INT_TYPES, floatx, result_type, standardize_dtype
from kbridge.backend.common.shared import include
from kbridge.backend.torch.core import convert_to_tensor, promote, to_torch_dtype
from kbridge.errors import DTypeError

include("numpy_composite", globals(), convert_to_tensor=convert_to_tensor)

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


def _binary(fn, bool_fn=None, bool_to=None):
    """The op ``fn(x1, x2)`` on promoted operands; bools go to ``bool_fn`` or are taken as
    ``bool_to``, and uint16/32/64 go through a wider type (torch's sparse uint support)."""

    def op(x1, x2):
        x1, x2 = promote(x1, x2)
        dt = x1.dtype
        if dt == torch.bool:
            if bool_fn is not None:
                return bool_fn(x1, x2)
            if bool_to is not None:
                x1, x2, dt = x1.to(bool_to), x2.to(bool_to), bool_to
        wide = _WIDER.get(dt)
        if wide is None:
            return fn(x1, x2)
        out = fn(x1.to(wide), x2.to(wide))
        return out if out.dtype == torch.bool else out.to(dt)

    return op


def _wide(fn, x):
    """``fn(x)``, through the next wider type for torch's kernel-less uint16/32/64."""
    wide = _WIDER.get(x.dtype)
    return fn(x) if wide is None else fn(x.to(wide)).to(x.dtype)


def _is_inexact(x):
    return x.is_floating_point() or x.is_complex()


def _unary(fn):
    def apply(x):
        return fn(_cvt(x))

    return apply


def _logical(fn):
    def op(x1, x2):
        return fn(_cvt(x1), _cvt(x2))

    return op


# ---------------------------------------------------------------- arithmetic

add = _binary(torch.add)
subtract = _binary(torch.subtract)
multiply = _binary(torch.multiply, bool_fn=torch.logical_and)
floor_divide = _binary(torch.floor_divide, bool_to=torch.int8)
mod = _binary(torch.remainder, bool_to=torch.int32)
fmod = _binary(torch.fmod, bool_to=torch.int32)
power = _binary(torch.pow, bool_to=torch.int8)


divide = _float_binary(torch.divide)


def divide_no_nan(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    zero = x2 == 0
    # The safe denominator keeps the unused branch finite, so gradients stay NaN-free.
    safe = torch.where(zero, torch.ones((), dtype=x2.dtype), x2)
    return torch.where(zero, torch.zeros((), dtype=x1.dtype), x1 / safe)


def negative(x):
    return _wide(torch.negative, _cvt(x))


def absolute(x):
    x = _cvt(x)
    if x.dtype == torch.bool or x.dtype in (torch.uint8,) or x.dtype in _WIDER:
        return x
    return torch.abs(x)


def fabs(x):
    return torch.abs(_as_float(x))


def square(x):
    x = _cvt(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    return _wide(torch.square, x)


def reciprocal(x):
    x = _cvt(x)
    if _is_inexact(x):
        return torch.reciprocal(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int8)
    return torch.trunc(torch.reciprocal(x.to(_F64))).to(x.dtype)


def sign(x):
    x = _cvt(x)
    if x.dtype in _WIDER:
        return _wide(torch.sign, x)
    if x.is_floating_point():  # torch.sign maps NaN to 0; numpy keeps NaN
        return torch.where(torch.isnan(x), x, torch.sign(x))
    return torch.sign(x)


maximum = _binary(torch.maximum)
minimum = _binary(torch.minimum)
fmax = _binary(torch.fmax, bool_fn=torch.logical_or)
fmin = _binary(torch.fmin, bool_fn=torch.logical_and)


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


arctan2 = _float_binary(torch.atan2)
hypot = _float_binary(torch.hypot)
logaddexp = _float_binary(torch.logaddexp)
logaddexp2 = _float_binary(torch.logaddexp2)


def heaviside(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    x1, x2 = torch.broadcast_tensors(x1, x2)
    out = torch.heaviside(x1, x2)
    return torch.where(torch.isnan(x1), x1, out)


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


gcd = _binary(torch.gcd)
lcm = _binary(torch.lcm)


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


isreal = _unary(torch.isreal)


# ---------------------------------------------------------------- comparisons and tests

equal = _binary(torch.eq)
not_equal = _binary(torch.ne)
less = _binary(torch.lt)
less_equal = _binary(torch.le)
greater = _binary(torch.gt)
greater_equal = _binary(torch.ge)


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    x1, x2 = _promote_float(x1, x2)
    x1, x2 = torch.broadcast_tensors(x1, x2)
    return torch.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)


isfinite = _unary(torch.isfinite)
isinf = _unary(torch.isinf)
isnan = _unary(torch.isnan)
isneginf = _unary(torch.isneginf)
isposinf = _unary(torch.isposinf)


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


logical_and = _logical(torch.logical_and)
logical_or = _logical(torch.logical_or)
logical_xor = _logical(torch.logical_xor)
logical_not = _unary(torch.logical_not)


def _int_or_bool(x, name):
    if x.dtype != torch.bool and standardize_dtype(x.dtype) not in INT_TYPES:
        raise DTypeError(f"`{name}` expects integer or bool tensors. Received: dtype={x.dtype}")
    return x


def _bitwise(fn, name):
    def op(x, y):
        x, y = promote(x, y)
        return fn(_int_or_bool(x, name), y)

    return op


bitwise_and = _bitwise(torch.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(torch.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(torch.bitwise_xor, "bitwise_xor")


def bitwise_invert(x):
    return _wide(torch.bitwise_not, _int_or_bool(_cvt(x), "bitwise_invert"))


def _shift(fn, name):
    """The op ``fn(x, y)`` shifting an integer (or bool, as int8) ``x`` by ``y``."""
    shift = _binary(fn)

    def op(x, y):
        x, y = _promote_nonbool(x, y, torch.int8)
        return shift(_int_or_bool(x, name), y)

    return op


bitwise_left_shift = _shift(torch.bitwise_left_shift, "left_shift")
bitwise_right_shift = _shift(torch.bitwise_right_shift, "right_shift")


# ---------------------------------------------------------------- creation


def _dtype(dtype):
    return to_torch_dtype(dtype if dtype is not None else floatx())


def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def zeros(shape, dtype=None):
    return torch.zeros(_shape(shape), dtype=_dtype(dtype))


def ones(shape, dtype=None):
    return torch.ones(_shape(shape), dtype=_dtype(dtype))


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


def _arange(start, stop, step, dtype):
    return torch.arange(start, stop, step, dtype=to_torch_dtype(dtype))


def identity(n, dtype=None):
    return torch.eye(n, dtype=_dtype(dtype))
