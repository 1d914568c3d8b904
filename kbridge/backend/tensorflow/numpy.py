"""tensorflow backend: numpy ops (elementwise math, creation, comparisons, logic, bitwise)."""

import math

import numpy as np
import tensorflow as tf

from kbridge.backend.common.shared import include
from kbridge.backend.tensorflow.core import convert_to_tensor, promote, to_tf_dtype
from kbridge.errors import DTypeError

include("numpy_composite", globals(), xp=tf, tensor_type=(tf.Tensor, tf.Variable),
        to_dtype=to_tf_dtype, convert_to_tensor=convert_to_tensor, promote=promote)

_F64 = tf.float64
# Many TF integer kernels exist only for int32/int64 (and some for int16/uint8); those ops run
# on the next wider supported type and cast back.
_WIDER = {tf.int8: tf.int32, tf.int16: tf.int32, tf.uint8: tf.int32, tf.uint16: tf.int32,
          tf.uint32: tf.int64, tf.uint64: tf.int64}
_UNSIGNED = (tf.uint8, tf.uint16, tf.uint32, tf.uint64)


def _wide(fn, *xs):
    """``fn`` on same-dtype ``xs``, through a wider int type where TF lacks the kernel."""
    dt = xs[0].dtype
    wide = _WIDER.get(dt)
    if wide is None:
        return fn(*xs)
    return tf.cast(fn(*[tf.cast(x, wide) for x in xs]), dt)


# ---------------------------------------------------------------- arithmetic


def _binary(fn, bool_fn=None):
    """The op ``fn(x1, x2)`` on promoted operands (``bool_fn`` for bools)."""

    def op(x1, x2):
        x1, x2 = promote(x1, x2)
        if bool_fn is not None and x1.dtype == tf.bool:
            return bool_fn(x1, x2)
        return fn(x1, x2)

    return op


add = _binary(tf.add, tf.logical_or)
subtract = _binary(tf.subtract)
multiply = _binary(tf.multiply, tf.logical_and)


divide = _float_binary(tf.divide)
arctan2 = _float_binary(tf.atan2)
divide_no_nan = _float_binary(tf.math.divide_no_nan)


def _zero_safe(fn):
    """Integer ``fn(x1, x2)`` that gives 0 where ``x2`` is 0, as numpy does (TF raises)."""

    def apply(x1, x2):
        zero = tf.equal(x2, 0)
        safe = tf.where(zero, tf.ones_like(x2), x2)
        return tf.where(zero, tf.zeros_like(x1), fn(x1, safe))

    return apply


def floor_divide(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, tf.int8)
    if x1.dtype.is_floating:
        return tf.math.floor(tf.divide(x1, x2)) if x1.dtype != _F64 else tf.math.floordiv(x1, x2)
    return _wide(_zero_safe(tf.math.floordiv), x1, x2)


def mod(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, tf.int32)
    if x1.dtype.is_floating:
        return tf.math.floormod(x1, x2)
    return _wide(_zero_safe(tf.math.floormod), x1, x2)


def fmod(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, tf.int32)
    if x1.dtype.is_floating:
        # From floormod, which has a gradient (TruncateMod has none): move the remainder
        # to the sign of x1.
        r = tf.math.floormod(x1, x2)
        flip = tf.not_equal(r, 0) & tf.not_equal(tf.math.sign(r), tf.math.sign(x1))
        return tf.where(flip, r - x2, r)
    return _wide(_zero_safe(tf.truncatemod), x1, x2)


def power(x1, x2):
    x1, x2 = _promote_nonbool(x1, x2, tf.int8)
    return _wide(tf.pow, x1, x2)


def negative(x):
    x = _cvt(x)
    return _wide(tf.negative, x)


def absolute(x):
    x = _cvt(x)
    if x.dtype == tf.bool or x.dtype in _UNSIGNED:
        return x
    return _wide(tf.abs, x)


def square(x):
    x = _cvt(x)
    if x.dtype == tf.bool:
        x = tf.cast(x, tf.int32)
    return _wide(tf.square, x)


def reciprocal(x):
    x = _cvt(x)
    if _is_inexact(x):
        return tf.math.reciprocal(x)
    dt = tf.int8 if x.dtype == tf.bool else x.dtype
    wide = tf.cast(x, _F64)
    return tf.cast(_trunc(tf.math.divide_no_nan(tf.ones_like(wide), wide)), dt)


def sign(x):
    x = _cvt(x)
    if x.dtype in _UNSIGNED:
        return tf.cast(x > 0, x.dtype)
    return _wide(tf.sign, x)


def maximum(x1, x2):
    x1, x2 = promote(x1, x2)
    if x1.dtype == tf.bool:
        return tf.logical_or(x1, x2)
    return _wide(tf.maximum, x1, x2)


def minimum(x1, x2):
    x1, x2 = promote(x1, x2)
    if x1.dtype == tf.bool:
        return tf.logical_and(x1, x2)
    return _wide(tf.minimum, x1, x2)


def _nan_ignoring(fn, bool_fn):
    """``fmax``/``fmin`` from ``fn`` (``tf.maximum``/``tf.minimum``): a NaN loses to a number."""

    def op(x1, x2):
        x1, x2 = promote(x1, x2)
        if x1.dtype == tf.bool:
            return bool_fn(x1, x2)
        if not x1.dtype.is_floating:
            return _wide(fn, x1, x2)
        x1 = tf.broadcast_to(x1, tf.broadcast_dynamic_shape(tf.shape(x1), tf.shape(x2)))
        return tf.where(tf.math.is_nan(x1), x2 + tf.zeros_like(x1),
                        tf.where(tf.math.is_nan(x2), x1, fn(x1, x2)))

    return op


fmax = _nan_ignoring(tf.maximum, tf.logical_or)
fmin = _nan_ignoring(tf.minimum, tf.logical_and)


def clip(x, x_min, x_max):
    x = _cvt(x)
    out_dt, dt = _clip_dtypes(x, x_min, x_max)
    dt = _WIDER.get(dt, dt)
    y = tf.cast(x, dt)
    if x_min is not None:
        y = tf.maximum(y, convert_to_tensor(x_min, dt))
    if x_max is not None:
        y = tf.minimum(y, convert_to_tensor(x_max, dt))
    return tf.cast(y, out_dt)


def round(x, decimals=0):
    x = _cvt(x)
    if not _is_inexact(x):
        return _round_int(x, decimals)
    if not decimals:
        return tf.round(x)
    factor = tf.constant(10.0 ** decimals, x.dtype)
    return tf.round(x * factor) / factor


def _trunc(x):
    return tf.where(x < 0, tf.math.ceil(x), tf.math.floor(x))


def trunc(x):
    x = _cvt(x)
    if _is_inexact(x):
        return _trunc(x)
    return x


def _cbrt(x):
    return tf.sign(x) * tf.pow(tf.abs(x), tf.constant(1.0 / 3.0, x.dtype))


def _scaled_log(base):
    scale = 1.0 / math.log(base)

    def apply(x):
        return tf.math.log(x) * tf.constant(scale, x.dtype)

    return apply


def _exp2(x):
    return tf.pow(tf.constant(2.0, x.dtype), x)


def _sinc(x):
    pix = x * tf.constant(math.pi, x.dtype)
    zero = tf.equal(x, 0)
    safe = tf.where(zero, tf.ones_like(pix), pix)
    return tf.where(zero, tf.ones_like(x), tf.sin(safe) / safe)


def _i0(x):
    if x.dtype in (tf.float16, tf.bfloat16):
        return tf.cast(tf.math.bessel_i0(tf.cast(x, tf.float32)), x.dtype)
    return tf.math.bessel_i0(x)


_KERNELS = {"cbrt": _cbrt, "exp2": _exp2, "log2": _scaled_log(2.0), "log10": _scaled_log(10.0),
            "deg2rad": lambda x: x * tf.constant(math.pi / 180.0, x.dtype),
            "rad2deg": lambda x: x * tf.constant(180.0 / math.pi, x.dtype),
            "sinc": _sinc, "i0": _i0}
# The others are tf.math's, which names numpy's arc* functions a* (asin for arcsin).
_define(_float_unary, FLOAT_UNARY,
        lambda name: _KERNELS.get(name) or getattr(tf.math, name.replace("arc", "a")))


def hypot(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    return tf.sqrt(tf.square(x1) + tf.square(x2))


def heaviside(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    step = tf.cast(x1 > 0, x1.dtype)
    out = tf.where(tf.equal(x1, 0), x2 + tf.zeros_like(x1), step + tf.zeros_like(x2))
    return tf.where(tf.math.is_nan(x1), x1 + tf.zeros_like(x2), out)


def logaddexp(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    big = tf.maximum(x1, x2)
    diff = tf.abs(x1 - x2)
    # Equal arguments (including both -inf or both +inf) would give NaN through inf - inf.
    same = tf.equal(x1, x2)
    safe = tf.where(same, tf.zeros_like(diff), diff)
    return tf.where(same, x1 + tf.constant(math.log(2.0), x1.dtype),
                    big + tf.math.log1p(tf.exp(-safe)))


def logaddexp2(x1, x2):
    x1, x2 = _promote_float(x1, x2)
    ln2 = tf.constant(math.log(2.0), x1.dtype)
    return logaddexp(x1 * ln2, x2 * ln2) / ln2


_nextafter = tf.math.nextafter  # the kernel of the shared nextafter (tf has no tf.nextafter)


def _gcd(a, b):
    a, b = tf.abs(a), tf.abs(b)
    a, b = tf.broadcast_to(a, tf.broadcast_dynamic_shape(tf.shape(a), tf.shape(b))), b
    b = tf.broadcast_to(b, tf.shape(a))

    def body(a, b):
        nonzero = tf.not_equal(b, 0)
        safe = tf.where(nonzero, b, tf.ones_like(b))
        return tf.where(nonzero, b, a), tf.where(nonzero, tf.math.floormod(a, safe), b)

    a, _ = tf.while_loop(lambda a, b: tf.reduce_any(tf.not_equal(b, 0)), body, (a, b))
    return a


def _lcm(a, b):
    g = _gcd(a, b)
    safe = tf.where(tf.equal(g, 0), tf.ones_like(g), g)
    return tf.abs(a // safe * b)


def _integer(fn, name):
    """The op ``fn(x1, x2)`` on promoted integer operands."""

    def op(x1, x2):
        x1, x2 = promote(x1, x2)
        if x1.dtype == tf.bool or not x1.dtype.is_integer:
            raise DTypeError(f"`{name}` expects integer tensors. Received: dtype={x1.dtype}")
        return _wide(fn, x1, x2)

    return op


gcd = _integer(_gcd, "gcd")
lcm = _integer(_lcm, "lcm")


def matmul(x1, x2):
    x1, x2 = promote(x1, x2)
    if x1.shape.rank == 1 or x2.shape.rank == 1:
        # tf.linalg.matmul needs rank >= 2: lift vectors as numpy does, then drop the axis.
        if x1.shape.rank == 1 and x2.shape.rank == 1:
            return tf.reduce_sum(x1 * x2)
        if x1.shape.rank == 1:
            return tf.squeeze(tf.linalg.matmul(x1[None, :], x2), axis=-2)
        return tf.squeeze(tf.linalg.matmul(x1, x2[:, None]), axis=-1)
    return tf.linalg.matmul(x1, x2)


# ---------------------------------------------------------------- complex parts


def real(x):
    x = _cvt(x)
    return tf.math.real(x) if x.dtype.is_complex else x


def imag(x):
    x = _cvt(x)
    return tf.math.imag(x) if x.dtype.is_complex else tf.zeros_like(x)


def conjugate(x):
    x = _cvt(x)
    return tf.math.conj(x) if x.dtype.is_complex else x


def isreal(x):
    x = _cvt(x)
    if x.dtype.is_complex:
        return tf.equal(tf.math.imag(x), 0)
    return tf.ones(tf.shape(x), tf.bool)


# ---------------------------------------------------------------- comparisons and tests

equal = _binary(tf.equal)
not_equal = _binary(tf.not_equal)


def _ordered(fn):
    def apply(x1, x2):
        x1, x2 = promote(x1, x2)
        if x1.dtype == tf.bool:
            x1, x2 = tf.cast(x1, tf.int8), tf.cast(x2, tf.int8)
        return fn(x1, x2)

    return apply


less = _ordered(tf.less)
less_equal = _ordered(tf.less_equal)
greater = _ordered(tf.greater)
greater_equal = _ordered(tf.greater_equal)


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    x1, x2 = _promote_float(x1, x2)
    finite = tf.math.is_finite(x1) & tf.math.is_finite(x2)
    tol = tf.constant(atol, x1.dtype) + tf.constant(rtol, x1.dtype) * tf.abs(x2)
    close = finite & (tf.abs(x1 - x2) <= tol)
    out = close | tf.equal(x1, x2)
    if equal_nan:
        out = out | (tf.math.is_nan(x1) & tf.math.is_nan(x2))
    return out


def _float_test(fn, default):
    def apply(x):
        x = _cvt(x)
        if x.dtype.is_floating:
            return fn(x)
        if x.dtype.is_complex:
            return fn(tf.math.real(x)) | fn(tf.math.imag(x)) if not default else (
                fn(tf.math.real(x)) & fn(tf.math.imag(x)))
        fill = tf.ones if default else tf.zeros
        return fill(tf.shape(x), tf.bool)

    return apply


isfinite = _float_test(tf.math.is_finite, True)
isinf = _float_test(tf.math.is_inf, False)
isnan = _float_test(tf.math.is_nan, False)
isneginf = _float_test(lambda x: tf.equal(x, tf.constant(-np.inf, x.dtype)), False)
isposinf = _float_test(lambda x: tf.equal(x, tf.constant(np.inf, x.dtype)), False)

_SAME_WIDTH_INT = {tf.float16: tf.int16, tf.bfloat16: tf.int16, tf.float32: tf.int32,
                   tf.float64: tf.int64}


def signbit(x):
    x = _cvt(x)
    if x.dtype.is_floating:
        return tf.bitcast(x, _SAME_WIDTH_INT[x.dtype]) < 0
    if x.dtype == tf.bool or x.dtype in _UNSIGNED:
        return tf.zeros(tf.shape(x), tf.bool)
    return x < 0


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = _cvt(x)
    if not x.dtype.is_floating:
        return x
    info = np.finfo(x.dtype.as_numpy_dtype) if x.dtype != tf.bfloat16 else None
    big = info.max if info is not None else tf.bfloat16.max
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    x = tf.where(tf.math.is_nan(x), tf.constant(nan, x.dtype), x)
    x = tf.where(tf.equal(x, tf.constant(np.inf, x.dtype)), tf.constant(posinf, x.dtype), x)
    return tf.where(tf.equal(x, tf.constant(-np.inf, x.dtype)), tf.constant(neginf, x.dtype), x)


# ---------------------------------------------------------------- logic and bits


def _bool(x):
    x = _cvt(x)
    return x if x.dtype == tf.bool else tf.not_equal(x, tf.zeros((), x.dtype))


def _logical(fn):
    def op(x1, x2):
        return fn(_bool(x1), _bool(x2))

    return op


logical_and = _logical(tf.logical_and)
logical_or = _logical(tf.logical_or)
logical_xor = _logical(tf.math.logical_xor)


def logical_not(x):
    return tf.logical_not(_bool(x))


def _bitwise(fn, bool_fn, name):
    def op(x, y):
        x, y = promote(x, y)
        return (bool_fn if _int_or_bool(x, name).dtype == tf.bool else fn)(x, y)

    return op


bitwise_and = _bitwise(tf.bitwise.bitwise_and, tf.logical_and, "bitwise_and")
bitwise_or = _bitwise(tf.bitwise.bitwise_or, tf.logical_or, "bitwise_or")
bitwise_xor = _bitwise(tf.bitwise.bitwise_xor, tf.math.logical_xor, "bitwise_xor")


def bitwise_invert(x):
    x = _int_or_bool(_cvt(x), "bitwise_invert")
    if x.dtype == tf.bool:
        return tf.logical_not(x)
    return tf.bitwise.invert(x)


def bitwise_left_shift(x, y):
    x, y = _promote_nonbool(x, y, tf.int8)
    return tf.bitwise.left_shift(_int_or_bool(x, "left_shift"), y)


def bitwise_right_shift(x, y):
    x, y = _promote_nonbool(x, y, tf.int8)
    return tf.bitwise.right_shift(_int_or_bool(x, "right_shift"), y)


# ---------------------------------------------------------------- creation


def _shape(shape):
    return (shape,) if isinstance(shape, int) else shape


def _filled(shape, fill_value, dt):
    if isinstance(fill_value, float) and not (dt.is_floating or dt.is_complex):
        fill_value = int(fill_value)  # numpy truncates a float fill for integer dtypes
    value = tf.cast(fill_value, dt) if tf.is_tensor(fill_value) else convert_to_tensor(
        fill_value, dt)
    return tf.broadcast_to(value, shape)


def full(shape, fill_value, dtype=None):
    return _filled(_shape(shape), fill_value, _dtype(dtype))


def full_like(x, fill_value, dtype=None):
    x = _cvt(x)
    return _filled(tf.shape(x), fill_value, x.dtype if dtype is None else to_tf_dtype(dtype))


def array(x, dtype=None):
    return tf.identity(convert_to_tensor(x, dtype))


def copy(x):
    return tf.identity(_cvt(x))


def _arange(start, stop, step, dtype):
    dt = to_tf_dtype(dtype)
    if dt.is_floating:
        # Count and values in float64, as numpy does, then cast.
        out = tf.range(tf.cast(start, _F64), tf.cast(stop, _F64), tf.cast(step, _F64))
        return tf.cast(out, dt)
    wide = _WIDER.get(dt, dt)
    return tf.cast(tf.range(tf.cast(start, wide), tf.cast(stop, wide), tf.cast(step, wide)), dt)
