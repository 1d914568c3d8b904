"""numpy ops composed of other ops, the same on every backend: aliases, ``allclose``, ``eye``
and ``tri`` from a diagonal mask, evenly spaced samples, the window functions, and the dtype
helpers and op factories the numpy modules build their ops with.

Included by every backend's numpy module before its own ops, which override these where the
framework has a native version. They call the includer's ops by name (``absolute``,
``zeros``...) or through ``ops``.

Bindings:
    xp: the framework's numpy-like namespace (``numpy``, ``jax.numpy``, ``torch``, ``tf``).
    tensor_type: the framework's tensor type (a class or a tuple of classes).
    to_dtype: a dtype (name) -> the dtype the framework uses for it.
    convert_to_tensor, promote: the backend's core functions.

Each includer defines ``_arange(start, stop, step, dtype)``, ``arange`` with its defaults filled
in; one with a float64 ``linspace`` of its own overrides ``_linspace64`` to reuse it.
"""

import functools

import numpy as np

from kbridge.backend.common.convert import dtype_of
from kbridge.backend.common.dtypes import (
    COMPLEX_TYPES, FLOAT_TYPES, INT_TYPES, floatx, numpy_dtype, result_type, standardize_dtype,
)
from kbridge.backend.common.shared import bound
from kbridge.errors import DTypeError

xp = bound("xp")
tensor_type = bound("tensor_type")
to_dtype = bound("to_dtype")
convert_to_tensor = bound("convert_to_tensor")
promote = bound("promote")

# The ops made by ``_float_unary``: numpy's name for each (``_define`` finds the kernel).
FLOAT_UNARY = ("floor", "ceil", "sqrt", "cbrt", "exp", "exp2", "expm1", "log", "log2", "log10",
               "log1p", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
               "tanh", "arcsinh", "arccosh", "arctanh", "deg2rad", "rad2deg", "sinc", "i0")
_BOOL = to_dtype("bool")
_F16 = to_dtype("float16")
_BF16 = to_dtype("bfloat16")
_INEXACT = FLOAT_TYPES + COMPLEX_TYPES


# ---------------------------------------------------------------- dtype helpers


@functools.lru_cache(maxsize=None)
def _name(dt):
    return standardize_dtype(dt)


@functools.lru_cache(maxsize=None)
def _float_of(dt):
    """The dtype a float function returns for inputs of dtype ``dt``."""
    return to_dtype(result_type(standardize_dtype(dt), "float*"))


def unchanged(x):
    """The result of an op that leaves ``x`` as it is: ``x`` itself (the numpy backend, whose op
    results never alias their inputs, makes it a copy)."""
    return x


def _cvt(x):
    return x if isinstance(x, tensor_type) else convert_to_tensor(x)


def _as_float(x):
    """``x`` as a tensor of its float result dtype (ints and bool -> floatx)."""
    x = _cvt(x)
    dt = _float_of(x.dtype)
    return x if x.dtype == dt else ops.cast(x, dt)


def _promote_float(x1, x2):
    dt = to_dtype(result_type(dtype_of(x1), dtype_of(x2), "float*"))
    return [x if isinstance(x, tensor_type) and x.dtype == dt else convert_to_tensor(x, dt)
            for x in (x1, x2)]


def _promote_nonbool(x1, x2, bool_to):
    x1, x2 = promote(x1, x2)
    if x1.dtype == _BOOL:
        x1, x2 = ops.cast(x1, bool_to), ops.cast(x2, bool_to)
    return x1, x2


def _is_inexact(x):
    return _name(x.dtype) in _INEXACT


def _int_or_bool(x, name):
    if x.dtype != _BOOL and _name(x.dtype) not in INT_TYPES:
        raise DTypeError(f"`{name}` expects integer or bool tensors. Received: dtype={x.dtype}")
    return x


def _dtype(dtype):
    return to_dtype(dtype if dtype is not None else floatx())


# ---------------------------------------------------------------- creation


def zeros(shape, dtype=None):
    return xp.zeros(shape, dtype=_dtype(dtype))


def ones(shape, dtype=None):
    return xp.ones(shape, dtype=_dtype(dtype))


def zeros_like(x, dtype=None):
    return xp.zeros_like(_cvt(x), dtype=None if dtype is None else to_dtype(dtype))


def ones_like(x, dtype=None):
    return xp.ones_like(_cvt(x), dtype=None if dtype is None else to_dtype(dtype))


def identity(n, dtype=None):
    return xp.eye(n, dtype=_dtype(dtype))


# ---------------------------------------------------------------- op factories


def _define(factory, names, kernel):
    """Define, in the including module, the op ``factory(kernel(name))`` for each name."""
    namespace = globals()
    for name in names:
        op = namespace[name] = factory(kernel(name))
        op.__name__ = op.__qualname__ = name


def _unary(fn, convert=None):
    """The op ``fn(x)`` on ``x`` as a tensor, or as ``convert(x)``."""
    convert = convert or _cvt

    def op(x):
        return fn(convert(x))

    return op


def _float_unary(fn):
    """The op ``fn(x)`` on ``x`` in its float dtype."""
    return _unary(fn, _as_float)


def _pairwise(fn, operands):
    """The op ``fn(x1, x2)`` on the operands ``operands(x1, x2)`` makes of its arguments."""

    def op(x1, x2):
        x1, x2 = operands(x1, x2)
        return fn(x1, x2)

    return op


def _tensors(x1, x2):
    return _cvt(x1), _cvt(x2)


def _float_binary(fn):
    """The op ``fn(x1, x2)`` on operands of their promoted float dtype."""
    return _pairwise(fn, _promote_float)


def _logical(fn):
    """The op ``fn(x1, x2)`` on both arguments as tensors."""
    return _pairwise(fn, _tensors)


def _bitwise(fn, name):
    """The op ``fn(x, y)`` on promoted integer or bool operands (``name`` in errors)."""

    def op(x, y):
        x, y = promote(x, y)
        return fn(_int_or_bool(x, name), y)

    return op


def abs(x):
    return absolute(x)


def true_divide(x1, x2):
    return divide(x1, x2)


def conj(x):
    return conjugate(x)


def bitwise_not(x):
    return bitwise_invert(x)


def left_shift(x, y):
    return bitwise_left_shift(x, y)


def right_shift(x, y):
    return bitwise_right_shift(x, y)


def empty(shape, dtype=None):
    # Zero-filled rather than uninitialised, so results are reproducible on every backend.
    return zeros(shape, dtype)


def empty_like(x, dtype=None):
    return zeros_like(x, dtype)


def fabs(x):
    return absolute(_as_float(x))


def angle(x):
    # The argument of x as a complex number; atan2(0, x) for real x.
    return arctan2(imag(x), real(x))


def divide_no_nan(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    zero = x2 == 0
    # The safe denominator keeps the unused branch finite, so gradients stay NaN-free.
    safe = xp.where(zero, xp.ones((), dtype=x2.dtype), x2)
    return xp.where(zero, xp.zeros((), dtype=x1.dtype), x1 / safe)


def reciprocal(x):
    x = _cvt(x)
    if _is_inexact(x):
        return xp.reciprocal(x)
    # Integer reciprocal truncates toward zero, as numpy and Keras do (1, -1 or 0).
    dt = "int8" if x.dtype == _BOOL else x.dtype
    return ops.cast(trunc(xp.reciprocal(ops.cast(x, "float64"))), dt)


def _clip_dtypes(x, x_min, x_max):
    """``clip``'s result dtype (bool clips as int32) and the dtype it compares in."""
    out_dt = to_dtype("int32") if x.dtype == _BOOL else x.dtype
    bounds = [b for b in (x_min, x_max) if b is not None]
    return out_dt, to_dtype(result_type(_name(out_dt), *[dtype_of(b) for b in bounds]))


def _round_int(x, decimals):
    """``round`` of an integer or bool tensor ``x``: rounded half to even at a power of ten
    when ``decimals`` < 0, as numpy does; otherwise ``x`` unchanged."""
    if x.dtype == _BOOL or decimals >= 0:
        return unchanged(x)
    factor = 10.0 ** (-decimals)
    return ops.cast(ops.round(ops.cast(x, "float64") / factor) * factor, x.dtype)


def _ldexp_operands(x1, x2):
    """``ldexp``'s ``x1`` as floats and ``x2``, which must be integers."""
    x2 = _cvt(x2)
    if _name(x2.dtype) not in INT_TYPES:
        raise DTypeError(f"`x2` of `ldexp` must be an integer tensor. Received: dtype={x2.dtype}")
    return _as_float(x1), x2


def ldexp(x1, x2):
    x1, x2 = _ldexp_operands(x1, x2)
    # Not torch.ldexp: its gradient for negative integer exponents is 0 (integer 2**e).
    return x1 * exp2(ops.cast(x2, x1.dtype))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = _cvt(x)
    if not _is_inexact(x):
        return unchanged(x)
    return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


def _nextafter(x1, x2):
    return xp.nextafter(x1, x2)


def nextafter(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    if x1.dtype in (_F16, _BF16):
        return _nextafter16(x1, x2)
    return _nextafter(x1, x2)


def _nextafter16(x1, x2):
    """nextafter for 16-bit floats by stepping the bit pattern (torch and TF kernels are 32/64)."""
    x1, x2 = x1 + zeros_like(x2), x2 + zeros_like(x1)
    dt = standardize_dtype(x1.dtype)
    bits = ops.view(x1, "int16")
    stepped = ops.view(ops.where(equal(x1 > 0, x2 > x1), bits + 1, bits - 1), dt)
    tiny = ops.view(ones((), "int16"), dt)
    stepped = ops.where(equal(x1, 0), ops.where(x2 > 0, tiny, -tiny), stepped)
    out = ops.where(equal(x1, x2), x2, stepped)
    return ops.where(logical_or(isnan(x1), isnan(x2)), x1 + x2, out)


def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    return ops.all(isclose(x1, x2, rtol, atol, equal_nan))


def arange(start, stop=None, step=None, dtype=None):
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    if dtype is None:
        dtype = result_type(dtype_of(start), dtype_of(stop), dtype_of(step))
    return _arange(start, stop, step, dtype)


def _diagonal_mask(N, M, k, compare):
    """``compare(column - row, k)`` over an ``N x M`` grid (``M`` defaults to ``N``)."""
    rows = arange(N)[:, None]
    cols = arange(N if M is None else M)[None, :]
    return compare(cols - rows, k)


def eye(N, M=None, k=0, dtype=None):
    return ops.cast(_diagonal_mask(N, M, k, equal), floatx() if dtype is None else dtype)


def tri(N, M=None, k=0, dtype=None):
    return ops.cast(_diagonal_mask(N, M, k, less_equal), floatx() if dtype is None else dtype)


# ---------------------------------------------------------------- evenly spaced samples


def _space_dtype(start, stop, dtype):
    if dtype is not None:
        return standardize_dtype(dtype)
    return result_type(dtype_of(start), dtype_of(stop), "float*")


def _linspace64(start, stop, num, endpoint, axis):
    """numpy's linspace recipe in float64: the samples (moved to ``axis``) and the step."""
    if num < 0:
        raise ValueError(f"`num` must be non-negative. Received: num={num}")
    start, stop = ops.cast(start, "float64"), ops.cast(stop, "float64")
    delta = stop - start
    shape = ops.shape(delta)
    start, stop = ops.broadcast_to(start, shape), ops.broadcast_to(stop, shape)
    div = num - 1 if endpoint else num
    steps = ops.reshape(ops.arange(num, dtype="float64"), (-1,) + (1,) * len(shape))
    if div > 0:
        step = delta / div
        y = steps * step + start
    else:
        step = ops.full_like(delta, float("nan"))
        y = steps * delta + start
    if endpoint and num > 1:
        y = ops.concatenate([y[:-1], stop[None]], 0)
    if axis != 0 and shape:
        y = ops.moveaxis(y, 0, axis)
    return y, step


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    y, step = _linspace64(start, stop, num, endpoint, axis)
    y = ops.cast(ops.floor(y) if dtype in INT_TYPES else y, dtype)
    if retstep:
        return y, ops.cast(step, dtype if dtype in FLOAT_TYPES else floatx())
    return y


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    y, _ = _linspace64(start, stop, num, endpoint, axis)
    base = ops.cast(base, "float64")
    if ops.ndim(base):
        base = ops.expand_dims(base, axis if axis >= 0 else axis + ops.ndim(y))
    return ops.cast(ops.power(base, y), dtype)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    dtype = _space_dtype(start, stop, dtype)
    start, stop = ops.cast(start, "float64"), ops.cast(stop, "float64")
    if bool(ops.any(start == 0)) or bool(ops.any(stop == 0)):
        raise ValueError("`geomspace` needs non-zero `start` and `stop`.")
    sign = ops.sign(start)
    y, _ = _linspace64(ops.log10(start * sign), ops.log10(stop * sign), num, endpoint, 0)
    y = sign * ops.power(10.0, y)
    if num > 0:  # pin the ends exactly, as numpy does
        ends = ops.shape(y[:1])
        y = ops.concatenate([ops.broadcast_to(start, ends), y[1:]], 0)
        if endpoint and num > 1:
            y = ops.concatenate([y[:-1], ops.broadcast_to(stop, ends)], 0)
    if axis != 0 and ops.ndim(y) > 1:
        y = ops.moveaxis(y, 0, axis)
    return ops.cast(y, dtype)


# ---------------------------------------------------------------- window functions


def _window_length(x):
    dt = getattr(x, "dtype", None)
    if isinstance(x, int) or (dt is not None and standardize_dtype(dt) in INT_TYPES
                              and x.ndim == 0):
        return int(x)
    raise DTypeError(f"The window length must be an integer. Received: x={x!r}")


def _window(kind, x, beta=None):
    """The window of length ``x`` in ``floatx()``, computed by numpy on the host."""
    m = _window_length(x)
    values = np.kaiser(m, float(beta)) if kind == "kaiser" else getattr(np, kind)(m)
    return convert_to_tensor(values.astype(numpy_dtype(floatx())))


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
