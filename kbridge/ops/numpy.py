"""The numpy-namespace ops: element-wise math, creation, comparisons, logic and bits.

Declarations only (signature + docstring); each backend implements them in
``kbridge/backend/<name>/numpy.py``.
"""

from kbridge.backend.common.dispatch import op_decorator
from kbridge.ops import _specs

op = op_decorator("numpy")


@op
def abs(x):
    """Element-wise absolute value; keeps the input dtype."""


@op
def absolute(x):
    """Element-wise absolute value (same as ``abs``)."""


@op
def add(x1, x2):
    """Element-wise ``x1 + x2`` with kbridge's dtype promotion.

    Example:
        >>> kbridge.ops.add(np.array([1, 2], "int8"), 3)      # int8: Python scalars are weak
    """


@op
def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element of ``x1`` is close to ``x2`` (see ``isclose``); a 0-d bool tensor."""


@op
def angle(x):
    """Element-wise argument (phase, radians) of a complex tensor; 0 or pi for real input."""


@op
def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in ``[start, stop)``; Python ints give int32, floats give ``floatx()``.

    Example:
        >>> kbridge.ops.arange(1, 7, 2)     # [1, 3, 5], int32
    """


@op
def arccos(x):
    """Element-wise inverse cosine; integer inputs give ``floatx()``."""


@op
def arccosh(x):
    """Element-wise inverse hyperbolic cosine."""


@op
def arcsin(x):
    """Element-wise inverse sine."""


@op
def arcsinh(x):
    """Element-wise inverse hyperbolic sine."""


@op
def arctan(x):
    """Element-wise inverse tangent."""


@op
def arctan2(x1, x2):
    """Element-wise angle of the point ``(x2, x1)``, quadrant aware, in radians.

    Example:
        >>> kbridge.ops.arctan2(1.0, -1.0)   # 3*pi/4
    """


@op
def arctanh(x):
    """Element-wise inverse hyperbolic tangent."""


@op
def array(x, dtype=None):
    """A new tensor holding a copy of ``x`` (optionally cast to ``dtype``)."""


@op
def bartlett(x):
    """The triangular (Bartlett) window of ``x`` points, in ``floatx()``.

    Example:
        >>> kbridge.ops.bartlett(5)         # [0, 0.5, 1, 0.5, 0]
    """


@op
def bitwise_and(x, y):
    """Element-wise bit AND of integer or bool tensors."""


@op
def bitwise_invert(x):
    """Element-wise bit NOT (two's complement) of an integer or bool tensor."""


@op
def bitwise_left_shift(x, y):
    """Shift the bits of ``x`` left by ``y`` places.

    Example:
        >>> kbridge.ops.bitwise_left_shift(np.array([1, 3]), 2)   # [4, 12]
    """


@op
def bitwise_not(x):
    """Element-wise bit NOT (same as ``bitwise_invert``)."""


@op
def bitwise_or(x, y):
    """Element-wise bit OR of integer or bool tensors."""


@op
def bitwise_right_shift(x, y):
    """Shift the bits of ``x`` right by ``y`` places (arithmetic for signed ints)."""


@op
def bitwise_xor(x, y):
    """Element-wise bit XOR of integer or bool tensors."""


@op
def blackman(x):
    """The Blackman window of ``x`` points, in ``floatx()``."""


@op
def cbrt(x):
    """Element-wise real cube root (negative for negative input)."""


@op
def ceil(x):
    """Element-wise smallest integer value not below ``x``; returns a float tensor."""


@op
def clip(x, x_min, x_max):
    """Limit ``x`` to ``[x_min, x_max]``; the result keeps ``x``'s dtype (bool -> int32).

    Example:
        >>> kbridge.ops.clip(np.array([1, 5, 9]), 2, 7)   # [2, 5, 7]
    """


@op
def conj(x):
    """Element-wise complex conjugate (same as ``conjugate``)."""


@op
def conjugate(x):
    """Element-wise complex conjugate; real input is returned unchanged."""


@op
def copy(x):
    """A copy of ``x``."""


@op
def cos(x):
    """Element-wise cosine."""


@op
def cosh(x):
    """Element-wise hyperbolic cosine."""


@op
def deg2rad(x):
    """Convert angles from degrees to radians."""


@op
def divide(x1, x2):
    """Element-wise true division; integer inputs give a float result.

    Example:
        >>> kbridge.ops.divide(np.array([1, 2]), 2)   # [0.5, 1.0], float32
    """


@op
def divide_no_nan(x1, x2):
    """Element-wise ``x1 / x2`` that gives 0 wherever ``x2`` is 0.

    Example:
        >>> kbridge.ops.divide_no_nan(np.array([1., 2.]), np.array([0., 4.]))   # [0, 0.5]
    """


@op
def empty(shape, dtype=None):
    """A tensor of ``shape`` whose values are unspecified (kbridge fills zeros)."""


@op
def empty_like(x, dtype=None):
    """A tensor shaped like ``x`` whose values are unspecified (kbridge fills zeros)."""


@op
def equal(x1, x2):
    """Element-wise ``x1 == x2``."""


@op
def exp(x):
    """Element-wise natural exponential."""


@op
def exp2(x):
    """Element-wise ``2 ** x``."""


@op
def expm1(x):
    """Element-wise ``exp(x) - 1``, accurate near zero."""


@op
def eye(N, M=None, k=0, dtype=None):
    """An ``N x M`` matrix with ones on diagonal ``k`` and zeros elsewhere.

    Example:
        >>> kbridge.ops.eye(2, 3, k=1)   # [[0, 1, 0], [0, 0, 1]]
    """


@op
def fabs(x):
    """Element-wise absolute value as a float tensor."""


@op
def floor(x):
    """Element-wise largest integer value not above ``x``; returns a float tensor."""


@op
def floor_divide(x1, x2):
    """Element-wise ``x1 // x2`` (rounds toward minus infinity)."""


@op
def fmax(x1, x2):
    """Element-wise maximum that ignores NaN when only one side is NaN."""


@op
def fmin(x1, x2):
    """Element-wise minimum that ignores NaN when only one side is NaN."""


@op
def fmod(x1, x2):
    """Element-wise remainder with the sign of ``x1`` (C ``fmod``).

    Example:
        >>> kbridge.ops.fmod(np.array([-5, 5]), 3)   # [-2, 2]
    """


@op
def full(shape, fill_value, dtype=None):
    """A tensor of ``shape`` filled with ``fill_value`` (``floatx()`` unless ``dtype`` is given)."""


@op
def full_like(x, fill_value, dtype=None):
    """A tensor shaped like ``x`` filled with ``fill_value``, in ``x``'s dtype by default."""


@op
def gcd(x1, x2):
    """Element-wise greatest common divisor of integer tensors."""


@op
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``num`` values spaced evenly on a log scale from ``start`` to ``stop``.

    Example:
        >>> kbridge.ops.geomspace(1, 100, 3)   # [1, 10, 100]
    """


@op
def greater(x1, x2):
    """Element-wise ``x1 > x2``."""


@op
def greater_equal(x1, x2):
    """Element-wise ``x1 >= x2``."""


@op
def hamming(x):
    """The Hamming window of ``x`` points, in ``floatx()``."""


@op
def hanning(x):
    """The Hann window of ``x`` points, in ``floatx()``."""


@op
def heaviside(x1, x2):
    """Step function: 0 where ``x1 < 0``, ``x2`` where ``x1 == 0``, 1 where ``x1 > 0``."""


@op
def hypot(x1, x2):
    """Element-wise ``sqrt(x1**2 + x2**2)``."""


@op
def i0(x):
    """Element-wise modified Bessel function of the first kind, order 0."""


@op
def identity(n, dtype=None):
    """The ``n x n`` identity matrix."""


@op
def imag(x):
    """Element-wise imaginary part (zeros for real input)."""


@op
def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Element-wise ``|x1 - x2| <= atol + rtol * |x2|`` (infinities must match exactly)."""


@op
def isfinite(x):
    """Element-wise test for values that are neither infinite nor NaN."""


@op
def isinf(x):
    """Element-wise test for positive or negative infinity."""


@op
def isnan(x):
    """Element-wise test for NaN."""


@op
def isneginf(x):
    """Element-wise test for negative infinity."""


@op
def isposinf(x):
    """Element-wise test for positive infinity."""


@op
def isreal(x):
    """Element-wise test for a zero imaginary part (all True for real dtypes)."""


@op
def kaiser(x, beta):
    """The Kaiser window of ``x`` points with shape parameter ``beta``, in ``floatx()``."""


@op
def lcm(x1, x2):
    """Element-wise least common multiple of integer tensors."""


@op
def ldexp(x1, x2):
    """Element-wise ``x1 * 2 ** x2`` for integer exponents ``x2``."""


@op
def left_shift(x, y):
    """Shift the bits of ``x`` left by ``y`` places (same as ``bitwise_left_shift``)."""


@op
def less(x1, x2):
    """Element-wise ``x1 < x2``."""


@op
def less_equal(x1, x2):
    """Element-wise ``x1 <= x2``."""


@op
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop``; with ``retstep``, also the spacing.

    Example:
        >>> kbridge.ops.linspace(0, 1, 5)   # [0, 0.25, 0.5, 0.75, 1]
    """


@op
def log(x):
    """Element-wise natural logarithm."""


@op
def log10(x):
    """Element-wise base-10 logarithm."""


@op
def log1p(x):
    """Element-wise ``log(1 + x)``, accurate near zero."""


@op
def log2(x):
    """Element-wise base-2 logarithm."""


@op
def logaddexp(x1, x2):
    """Element-wise ``log(exp(x1) + exp(x2))`` without overflow."""


@op
def logaddexp2(x1, x2):
    """Element-wise ``log2(2**x1 + 2**x2)`` without overflow."""


@op
def logical_and(x1, x2):
    """Element-wise truth of ``x1 and x2``."""


@op
def logical_not(x):
    """Element-wise truth of ``not x``."""


@op
def logical_or(x1, x2):
    """Element-wise truth of ``x1 or x2``."""


@op
def logical_xor(x1, x2):
    """Element-wise truth of exactly one of ``x1``, ``x2``."""


@op
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """``num`` values ``base ** t`` for ``t`` evenly spaced from ``start`` to ``stop``.

    Example:
        >>> kbridge.ops.logspace(0, 2, 3)   # [1, 10, 100]
    """


@op(spec=_specs.matmul)
def matmul(x1, x2):
    """Matrix product of ``x1`` and ``x2`` (batched over leading dims, as ``np.matmul``)."""


@op
def maximum(x1, x2):
    """Element-wise larger of ``x1`` and ``x2`` (NaN wins)."""


@op
def minimum(x1, x2):
    """Element-wise smaller of ``x1`` and ``x2`` (NaN wins)."""


@op
def mod(x1, x2):
    """Element-wise remainder with the sign of ``x2`` (Python ``%``).

    Example:
        >>> kbridge.ops.mod(np.array([-5, 5]), 3)   # [1, 2]
    """


@op
def multiply(x1, x2):
    """Element-wise ``x1 * x2``."""


@op
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """Replace NaN by ``nan`` and infinities by ``posinf``/``neginf`` (default: dtype extremes)."""


@op
def negative(x):
    """Element-wise ``-x``."""


@op
def nextafter(x1, x2):
    """Element-wise next representable float after ``x1`` in the direction of ``x2``."""


@op
def not_equal(x1, x2):
    """Element-wise ``x1 != x2``."""


@op
def ones(shape, dtype=None):
    """A tensor of ``shape`` filled with ones (``floatx()`` by default)."""


@op
def ones_like(x, dtype=None):
    """A tensor of ones shaped like ``x``, in ``x``'s dtype by default."""


@op
def power(x1, x2):
    """Element-wise ``x1 ** x2``."""


@op
def rad2deg(x):
    """Convert angles from radians to degrees."""


@op
def real(x):
    """Element-wise real part (real input is returned as is)."""


@op
def reciprocal(x):
    """Element-wise ``1 / x``; integer inputs keep their dtype (the result truncates)."""


@op
def right_shift(x, y):
    """Shift the bits of ``x`` right by ``y`` places (same as ``bitwise_right_shift``)."""


@op
def round(x, decimals=0):
    """Round to ``decimals`` decimal places, halves to the nearest even value.

    Example:
        >>> kbridge.ops.round(np.array([0.5, 1.5, 2.5]))   # [0, 2, 2]
    """


@op
def sign(x):
    """Element-wise sign: -1, 0 or 1 (NaN stays NaN)."""


@op
def signbit(x):
    """Element-wise test of the sign bit (True for -0.0)."""


@op
def sin(x):
    """Element-wise sine."""


@op
def sinc(x):
    """Element-wise normalised sinc, ``sin(pi x) / (pi x)`` with value 1 at 0."""


@op
def sinh(x):
    """Element-wise hyperbolic sine."""


@op
def sqrt(x):
    """Element-wise square root; integer inputs give ``floatx()``."""


@op
def square(x):
    """Element-wise ``x * x`` (bool input gives int32)."""


@op
def subtract(x1, x2):
    """Element-wise ``x1 - x2``."""


@op
def tan(x):
    """Element-wise tangent."""


@op
def tanh(x):
    """Element-wise hyperbolic tangent."""


@op
def tri(N, M=None, k=0, dtype=None):
    """An ``N x M`` matrix with ones at and below diagonal ``k``, zeros above.

    Example:
        >>> kbridge.ops.tri(3, k=-1)   # strictly lower triangle of ones
    """


@op
def true_divide(x1, x2):
    """Element-wise true division (same as ``divide``)."""


@op
def trunc(x):
    """Element-wise rounding toward zero; integer inputs are returned unchanged."""


@op
def zeros(shape, dtype=None):
    """A tensor of ``shape`` filled with zeros (``floatx()`` by default)."""


@op
def zeros_like(x, dtype=None):
    """A tensor of zeros shaped like ``x``, in ``x``'s dtype by default."""


def _reexport_array_ops():
    # ``keras.ops.numpy`` also holds the shape/indexing/reduction ops, which kbridge declares
    # in ``array.py``; expose them here too (the same objects). ``rearrange`` is einops', not
    # numpy's, and stays in ``kbridge.ops`` only.
    import sys

    import kbridge.ops.array  # noqa: F401 (the module; ``kbridge.ops.array`` is also an op)

    for name, obj in vars(sys.modules["kbridge.ops.array"]).items():
        if hasattr(obj, "__kbridge_op__") and name != "rearrange":
            globals().setdefault(name, obj)


_reexport_array_ops()
del op_decorator
