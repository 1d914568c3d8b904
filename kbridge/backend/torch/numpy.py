"""torch backend: numpy ops (elementwise math, creation, comparisons, logic, bitwise)."""

import functools

import numpy as np
import torch

from kbridge.backend.common.shared import include
from kbridge.backend.torch.core import convert_to_tensor, promote, to_torch_dtype


include("numpy_composite", globals(), xp=torch, tensor_type=torch.Tensor, to_dtype=to_torch_dtype,
        convert_to_tensor=convert_to_tensor, promote=promote)

# torch implements few kernels for uint16/32/64 (only bit ops, comparisons and casts);
# arithmetic on them goes through the next wider signed type and back.
_WIDER = {torch.uint16: torch.int32, torch.uint32: torch.int64, torch.uint64: torch.int64}
_kernel = functools.partial(getattr, torch)  # an op's torch function, by the op's name


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


# ---------------------------------------------------------------- arithmetic

multiply = _binary(torch.multiply, bool_fn=torch.logical_and)
floor_divide = _binary(torch.floor_divide, bool_to=torch.int8)
mod = _binary(torch.remainder, bool_to=torch.int32)
fmod = _binary(torch.fmod, bool_to=torch.int32)
power = _binary(torch.pow, bool_to=torch.int8)
_define(_binary, ("add", "subtract", "maximum", "minimum", "gcd", "lcm", "not_equal", "less",
                  "less_equal", "greater", "greater_equal"), _kernel)
_define(_float_binary, ("divide", "arctan2", "hypot", "logaddexp", "logaddexp2"), _kernel)
_define(_unary, ("isreal", "isfinite", "isinf", "isnan", "isneginf", "isposinf", "logical_not"),
        _kernel)
_define(_logical, ("logical_and", "logical_or", "logical_xor"), _kernel)


def negative(x):
    return _wide(torch.negative, _cvt(x))


def absolute(x):
    x = _cvt(x)
    if x.dtype == torch.bool or x.dtype in (torch.uint8,) or x.dtype in _WIDER:
        return x
    return torch.abs(x)


def square(x):
    x = _cvt(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    return _wide(torch.square, x)


def sign(x):
    x = _cvt(x)
    if x.dtype in _WIDER:
        return _wide(torch.sign, x)
    if x.is_floating_point():  # torch.sign maps NaN to 0; numpy keeps NaN
        return torch.where(torch.isnan(x), x, torch.sign(x))
    return torch.sign(x)


fmax = _binary(torch.fmax, bool_fn=torch.logical_or)
fmin = _binary(torch.fmin, bool_fn=torch.logical_and)


def clip(x, x_min, x_max):
    x = _cvt(x)
    out_dt, dt = _clip_dtypes(x, x_min, x_max)
    wide = _WIDER.get(dt, dt)
    lo = None if x_min is None else convert_to_tensor(x_min, wide)
    hi = None if x_max is None else convert_to_tensor(x_max, wide)
    return torch.clamp(x.to(wide), lo, hi).to(out_dt)


def round(x, decimals=0):
    x = _cvt(x)
    if not _is_inexact(x):
        return _round_int(x, decimals)
    return torch.round(x, decimals=decimals) if decimals else torch.round(x)


def trunc(x):
    x = _cvt(x)
    return torch.trunc(x) if _is_inexact(x) else x


def _cbrt(x):
    return torch.sign(x) * torch.pow(torch.abs(x), 1.0 / 3.0)


_define(_float_unary, FLOAT_UNARY, lambda name: _cbrt if name == "cbrt" else _kernel(name))


def heaviside(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    x1, x2 = torch.broadcast_tensors(x1, x2)
    out = torch.heaviside(x1, x2)
    return torch.where(torch.isnan(x1), x1, out)


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


# ---------------------------------------------------------------- comparisons and tests

equal = _binary(torch.eq)  # torch.equal compares whole tensors


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    x1, x2 = _promote_float(x1, x2)
    x1, x2 = torch.broadcast_tensors(x1, x2)
    return torch.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)


def signbit(x):
    x = _cvt(x)
    if x.dtype == torch.bool or x.dtype in (torch.uint8,) or x.dtype in _WIDER:
        return torch.zeros(x.shape, dtype=torch.bool)
    return torch.signbit(x)


# ---------------------------------------------------------------- logic and bits


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


def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def full(shape, fill_value, dtype=None):
    dt = _dtype(dtype)
    if isinstance(fill_value, (torch.Tensor, np.ndarray, list, tuple)):
        return convert_to_tensor(fill_value, dt).expand(_shape(shape)).clone()
    return torch.full(_shape(shape), fill_value, dtype=dt)


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
