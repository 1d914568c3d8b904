"""numpy ops composed of other ops, the same on every backend: aliases, ``allclose``, ``eye``
and ``tri`` from a diagonal mask, evenly spaced samples, and the window functions.

Included by every backend's numpy module before its own ops, which override these where the
framework has a native version. They call the includer's ops by name (``absolute``,
``zeros``...) or through ``ops``. Binding: ``convert_to_tensor``, the backend's core function.
Each includer defines ``_arange(start, stop, step, dtype)``, ``arange`` with its defaults filled
in; one with a float64 ``linspace`` of its own overrides ``_linspace64`` to reuse it. The op
factories ``_float_unary``/``_float_binary`` need the includer's ``_as_float(x)`` and
``_promote_float(x1, x2)`` (torch and tensorflow).
"""

import numpy as np

from kbridge.backend.common.convert import dtype_of
from kbridge.backend.common.dtypes import (
    FLOAT_TYPES, INT_TYPES, floatx, numpy_dtype, result_type, standardize_dtype,
)
from kbridge.backend.common.shared import bound
from kbridge.errors import DTypeError

convert_to_tensor = bound("convert_to_tensor")


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


def _float_unary(fn):
    """The op ``fn(x)`` on ``x`` in its float dtype."""

    def apply(x):
        return fn(_as_float(x))

    return apply


def _float_binary(fn):
    """The op ``fn(x1, x2)`` on operands of their promoted float dtype."""

    def op(x1, x2):
        x1, x2 = _promote_float(x1, x2)
        return fn(x1, x2)

    return op


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
