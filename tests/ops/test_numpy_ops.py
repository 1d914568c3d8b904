"""The numpy-namespace ops (elementwise, creation, comparisons): every backend vs numpy.

The numpy backend is the reference; ``test_reference_*`` below pin it to plain numpy or to
hand-computed values, so the reference itself is checked.
"""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.ops.harness import Case, case_tests, rand

X = rand(2, 3)
Y = rand(2, 3, seed=1)
POS = rand(2, 3, low=0.5, high=2.0, seed=2)
UNIT = rand(2, 3, low=-0.9, high=0.9, seed=3)
I8 = rand(2, 3, dtype="int8", low=-5, high=5)
I32 = rand(2, 3, dtype="int32", low=-50, high=50, seed=4)
NZ32 = np.array([[3, -7, 5], [9, 2, -4]], "int32")
U8 = rand(2, 3, dtype="uint8", low=0, high=200, seed=5)
B = rand(2, 3, dtype="bool")
B2 = rand(2, 3, dtype="bool", seed=6)
F16 = rand(2, 3, dtype="float16")
F64 = rand(2, 3, dtype="float64", seed=7)
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5], "float32")
C64 = rand(2, 3, dtype="complex64")

ARITH = ["add", "subtract", "multiply", "maximum", "minimum", "fmax", "fmin"]
COMPARE = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
LOGIC = ["logical_and", "logical_or", "logical_xor"]
FLOAT_UNARY = ["sqrt", "exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arctan",
               "arcsinh", "exp2", "expm1", "log1p", "log2", "log10", "floor", "ceil",
               "deg2rad", "rad2deg", "cbrt", "fabs", "i0", "sinc"]
KEEP_UNARY = ["negative", "absolute", "abs", "square", "sign", "round", "trunc", "reciprocal",
              "copy", "array", "real", "imag", "conj", "conjugate", "nan_to_num"]
BITS = ["bitwise_and", "bitwise_or", "bitwise_xor"]
SHIFTS = ["bitwise_left_shift", "left_shift", "bitwise_right_shift", "right_shift"]

CASES = [
    Case("add", rand(2, 3), rand(2, 3, seed=1)),
    Case("add", rand(2, 3, dtype="int8", low=-5, high=5), 3, _id="weak-int"),
    Case("add", rand(3, dtype="int32", low=0, high=9), rand(3, dtype="float16"), _id="promote"),
    Case("matmul", rand(2, 3, 4), rand(4, 5, seed=1)),
    Case("matmul", rand(3), rand(3, 4, seed=1), _id="vector-matrix"),
    Case("matmul", rand(2, 3, 4), rand(4, seed=1), _id="matrix-vector"),
    Case("matmul", rand(4), rand(4, seed=1), _id="vector-vector"),
    Case("matmul", I32, NZ32.T, _id="int"),
]
for name in ARITH:
    CASES += [
        Case(name, X, Y),
        Case(name, X, rand(3, seed=9), _id="broadcast"),
        Case(name, I8, 2, _id="weak-int"),
        Case(name, I8, U8, _id="int8-uint8"),
        Case(name, I32, 2.5, _id="int-weak-float"),
        Case(name, F16, X, _id="f16-f32"),
        Case(name, F64, X, _id="f64"),
        Case(name, U8, U8[::-1], _id="uint8"),
    ]
CASES += [Case(n, B, B2, _id="bool") for n in ("add", "multiply", "maximum", "minimum")]
CASES += [Case(n, SPECIAL, SPECIAL[::-1], _id="nan", _grad=False) for n in ("fmax", "fmin")]
U32 = rand(2, 3, dtype="uint32", low=1, high=1000, seed=10)
for name in ("add", "subtract", "multiply", "maximum", "minimum", "floor_divide", "mod",
             "power", "equal", "less", "bitwise_and", "left_shift", "gcd", "clip"):
    args = (U32, 3, 900) if name == "clip" else (U32, U32 % 7 + 1)
    CASES.append(Case(name, *args, _id="uint32"))
CASES += [Case(n, U32, _id="uint32") for n in ("abs", "sign", "square", "negative", "signbit",
                                               "sqrt", "round", "bitwise_invert")]
for name in ("divide", "true_divide"):
    CASES += [Case(name, X, POS), Case(name, I32, NZ32, _id="int"),
              Case(name, I8, 4, _id="weak-int"), Case(name, F16, 2.0, _id="f16")]
CASES += [
    Case("divide_no_nan", X, np.array([[0.0, 2.0, -1.5], [0.5, 0.0, 3.0]], "float32")),
    Case("divide_no_nan", I32, np.array([[0, 2, 1], [5, 0, 3]], "int32"), _id="int"),
    Case("floor_divide", X, POS, _grad=False),
    Case("floor_divide", I32, NZ32, _id="int"),
    Case("floor_divide", I8, 3, _id="weak-int"),
    Case("mod", X * 5, POS),
    Case("mod", I32, NZ32, _id="int"),
    Case("mod", I8, 3, _id="weak-int"),
    Case("fmod", X * 5, POS),
    Case("fmod", I32, NZ32, _id="int"),
    Case("fmod", X * 5, -POS, _id="neg-divisor"),
    Case("mod", X * 5, -POS, _id="neg-divisor"),
    Case("power", POS, Y),
    Case("power", I8 // 2, 2, _id="int"),
    Case("power", POS, 3, _id="weak-int"),
    Case("power", rand(2, 3, dtype="int32", low=0, high=5), rand(2, 3, dtype="int32", low=0,
                                                               high=4, seed=1), _id="int-int"),
    Case("square", X), Case("square", I8, _id="int8"), Case("square", B, _id="bool"),
    Case("negative", X), Case("negative", I32, _id="int"),
    Case("absolute", X), Case("abs", I8, _id="int"), Case("abs", U8, _id="uint8"),
    Case("abs", F64, _id="f64"), Case("abs", B, _id="bool"),
    Case("sign", X), Case("sign", I32, _id="int"), Case("sign", SPECIAL, _id="special", _grad=False),
    Case("sign", U8, _id="uint8"),
    Case("reciprocal", POS), Case("reciprocal", NZ32, _id="int"),
    Case("clip", X, -0.5, 0.5), Case("clip", I32, -10, 10, _id="int"),
    Case("clip", I32, -2.5, 7.5, _id="int-float-bounds"),
    Case("clip", B, 0, 1, _id="bool"), Case("clip", X, None, 0.2, _id="no-min"),
    Case("clip", X, rand(3, seed=4) * 0.1 - 0.5, 0.5, _id="tensor-bound"),
    Case("round", np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1.25, 0.37], "float32"),
         _grad=False),
    Case("round", X * 10, decimals=1, _id="decimals", _grad=False),
    Case("round", np.array([15, 25, -35, 44], "int32"), decimals=-1, _id="int-neg"),
    Case("round", I8, _id="int"),
    Case("trunc", X * 5, _grad=False), Case("trunc", I32, _id="int"),
    Case("floor", X * 5, _grad=False), Case("ceil", X * 5, _grad=False),
    Case("floor", I8, _id="int"), Case("ceil", I8, _id="int"),
]
for name in FLOAT_UNARY:
    x = POS if name in ("sqrt", "log", "log2", "log10", "cbrt") else UNIT
    CASES += [Case(name, x, _grad=name not in ("floor", "ceil")),
              Case(name, rand(2, 3, dtype="int32", low=1, high=5), _id="int"),
              Case(name, F64 if name != "i0" else F64 * 0.5, _id="f64",
                   _grad=name not in ("floor", "ceil", "sqrt", "log", "log2", "log10", "cbrt"))]
CASES += [
    Case("sqrt", F16 * F16, _id="f16", _rtol=1e-3),
    Case("exp", B, _id="bool"),
    Case("cbrt", X * 3, _id="neg"),
    Case("arcsin", UNIT), Case("arccos", UNIT), Case("arctanh", UNIT),
    Case("arccosh", POS + 1.0), Case("arcsin", I8 // 5, _id="int"),
    Case("sinc", np.array([0.0, 0.5, -1.0, 1.0e-3], "float32"), _id="zero", _grad=False),
    Case("arctan2", X, Y), Case("arctan2", I32, NZ32, _id="int"),
    Case("hypot", X, Y), Case("hypot", I32, NZ32, _id="int"),
    Case("heaviside", np.array([-1.0, 0.0, 2.0, np.nan], "float32"), 0.5, _grad=False),
    Case("heaviside", I32, 0.5, _id="int"),
    Case("logaddexp", X, Y), Case("logaddexp", I8, I8, _id="int"),
    Case("logaddexp", np.array([-np.inf, 1.0, np.inf], "float32"),
         np.array([-np.inf, -np.inf, 3.0], "float32"), _id="inf", _grad=False),
    Case("logaddexp2", X, Y),
    Case("logaddexp2", np.array([-np.inf, 1.0], "float32"),
         np.array([-np.inf, -np.inf], "float32"), _id="inf", _grad=False),
    Case("nextafter", X, Y, _grad=False),
    Case("nextafter", F64, 0.0, _id="f64", _grad=False),
    Case("nextafter", np.array([1.0, -1.0, 0.0, 0.0, 2.0, -3.0, np.nan], "float16"),
         np.array([2.0, 2.0, -1.0, 1.0, 2.0, -4.0, 1.0], "float16"), _id="f16", _grad=False),
    Case("maximum", SPECIAL, SPECIAL[::-1], _id="nan", _grad=False),
    Case("minimum", SPECIAL, SPECIAL[::-1], _id="nan", _grad=False),
    Case("ldexp", X, I8), Case("ldexp", I32, I8, _id="int"),
    Case("gcd", I32, NZ32), Case("gcd", I8, 6, _id="weak"),
    Case("gcd", np.array([0, 0, 12, -18], "int32"), np.array([0, 5, 0, 12], "int32"),
         _id="zeros"),
    Case("lcm", I32, NZ32), Case("lcm", np.array([0, 4, -6], "int32"), 3, _id="zeros"),
    Case("angle", X), Case("angle", C64, _id="complex", _grad=False),
    Case("angle", I8, _id="int"),
    Case("real", C64, _id="complex"), Case("imag", C64, _id="complex"),
    Case("conj", C64, _id="complex"), Case("conjugate", X),
    Case("real", X), Case("imag", X, _grad=False), Case("isreal", C64), Case("isreal", X),
    Case("isreal", np.array([1 + 0j, 1 + 1j], "complex64"), _id="mixed"),
]
for name in COMPARE:
    CASES += [Case(name, X, Y), Case(name, I8, 1, _id="weak"),
              Case(name, I32, F16, _id="promote"), Case(name, X, X[:, :1], _id="broadcast"),
              Case(name, SPECIAL, SPECIAL[::-1], _id="nan"),
              Case(name, U8, U8[::-1], _id="uint8")]
for name in LOGIC:
    CASES += [Case(name, B, B2), Case(name, X, I8, _id="numbers"),
              Case(name, B, True, _id="scalar")]
CASES += [
    Case("logical_not", B), Case("logical_not", X, _id="float"),
    Case("isclose", X, X + 1e-6), Case("isclose", SPECIAL, SPECIAL, _id="special"),
    Case("isclose", SPECIAL, SPECIAL, equal_nan=True, _id="equal-nan"),
    Case("isclose", X, Y, rtol=0.5, atol=0.5, _id="tol"),
    Case("isclose", I32, I32 + 1, atol=1.0, _id="int"),
    Case("allclose", X, X + 1e-6), Case("allclose", X, Y, _id="false"),
    Case("allclose", SPECIAL, SPECIAL, equal_nan=True, _id="equal-nan"),
    Case("isfinite", SPECIAL), Case("isinf", SPECIAL), Case("isnan", SPECIAL),
    Case("isneginf", SPECIAL), Case("isposinf", SPECIAL), Case("signbit", SPECIAL),
    Case("isfinite", I32, _id="int"), Case("isinf", I32, _id="int"),
    Case("isnan", I32, _id="int"), Case("isneginf", I32, _id="int"),
    Case("isposinf", U8, _id="uint8"), Case("signbit", I32, _id="int"),
    Case("signbit", U8, _id="uint8"), Case("signbit", F64 - 0.5, _id="f64"),
    Case("nan_to_num", SPECIAL, _grad=False),
    Case("nan_to_num", SPECIAL, nan=1.0, posinf=2.0, neginf=-3.0, _id="values", _grad=False),
    Case("nan_to_num", I32, _id="int"), Case("nan_to_num", X, _id="plain"),
]
for name in BITS:
    CASES += [Case(name, I32, NZ32), Case(name, U8, U8[::-1], _id="uint8"),
              Case(name, B, B2, _id="bool"), Case(name, I8, 3, _id="weak")]
CASES += [
    Case("bitwise_invert", I32), Case("bitwise_not", U8, _id="uint8"),
    Case("bitwise_invert", B, _id="bool"),
]
for name in SHIFTS:
    CASES += [Case(name, I32, rand(2, 3, dtype="int32", low=0, high=5, seed=8)),
              Case(name, U8, 2, _id="uint8"), Case(name, I8, 1, _id="weak")]
CASES += [
    Case("copy", X), Case("copy", I32, _id="int"),
    Case("array", X), Case("array", I32, dtype="float32", _id="cast"),
    Case("array", [1, 2, 3], _id="list", _symbolic=False),
    Case("array", [[1.0, 2.0]], dtype="float16", _id="list-dtype", _symbolic=False),
    # Outputs that do not depend on the input values: nothing to differentiate.
    Case("zeros_like", X, _grad=False), Case("ones_like", I32), Case("empty_like", X, _grad=False),
    Case("zeros_like", X, dtype="int32", _id="dtype"), Case("ones_like", B, dtype="float16",
                                                             _id="dtype"),
    Case("full_like", X, 2.5, _grad=False), Case("full_like", I32, 7.9, _id="int"),
    Case("full_like", X, 3, dtype="int8", _id="dtype"),
]
CREATION = [
    Case("zeros", (2, 3)), Case("zeros", 4, dtype="int32", _id="int"),
    Case("ones", (2, 1)), Case("ones", (3,), dtype="bool", _id="bool"),
    Case("empty", (2, 2)), Case("empty", (2,), dtype="int8", _id="int"),
    Case("full", (2, 3), 1.5), Case("full", (2,), 7, _id="int-value"),
    Case("full", (2, 2), 3, dtype="int32", _id="dtype"),
    Case("full", (2, 3), np.array([1.0, 2.0, 3.0], "float32"), _id="array-value"),
    Case("arange", 5), Case("arange", 1, 7, 2, _id="start-stop-step"),
    Case("arange", 0.0, 1.0, 0.25, _id="float"), Case("arange", 0, 3, 1.0, _id="float-step"),
    Case("arange", 5, 0, -2, _id="negative"), Case("arange", 4, dtype="float32", _id="dtype"),
    Case("arange", 6, dtype="int8", _id="int8"),
    Case("linspace", 0, 1, 5), Case("linspace", 0.0, 1.0, 4, endpoint=False, _id="open"),
    Case("linspace", 0, 10, 4, dtype="int32", _id="int"),
    Case("linspace", -3, 2, 6, retstep=True, _id="retstep"),
    Case("linspace", 2.0, 2.0, 1, _id="one"), Case("linspace", 0, 1, 0, _id="empty"),
    Case("linspace", np.array([0.0, 1.0], "float32"), np.array([2.0, 3.0], "float32"), 3,
         axis=1, _id="array-axis1"),
    Case("linspace", np.array([0.0, 1.0], "float32"), np.array([2.0, 3.0], "float32"), 3,
         axis=-1, endpoint=False, _id="array-axis-neg"),
    Case("logspace", 0, 2, 3), Case("logspace", 0.0, 3.0, 4, base=2.0, _id="base"),
    Case("logspace", 0, 2, 5, endpoint=False, _id="open"),
    Case("logspace", np.array([0.0, 1.0], "float32"), 2.0, 3, axis=1, _id="array"),
    Case("geomspace", 1, 1000, 4), Case("geomspace", -1.0, -16.0, 5, _id="neg"),
    Case("geomspace", 2.0, 32.0, 4, endpoint=False, _id="open"),
    Case("geomspace", np.array([1.0, 2.0], "float32"), 100.0, 3, axis=1, _id="array"),
    Case("eye", 3), Case("eye", 2, 4, k=1, _id="rect"), Case("eye", 3, k=-1, dtype="int32",
                                                            _id="int"),
    Case("identity", 3), Case("identity", 2, dtype="bool", _id="bool"),
    Case("tri", 3), Case("tri", 3, 4, k=1, _id="rect"), Case("tri", 2, k=-1, dtype="int32",
                                                            _id="int"),
    Case("bartlett", 5), Case("blackman", 6), Case("hamming", 7), Case("hanning", 8),
    Case("kaiser", 9, 14.0), Case("kaiser", 4, 2.0, _id="small"), Case("bartlett", 1, _id="one"),
    Case("hamming", 0, _id="empty"),
]
for case in CREATION:  # no tensor arguments: nothing to infer symbolically or differentiate
    case.symbolic = False
    case.grad = False
CASES += CREATION
CASES += [
    Case("linspace", np.array([0.5, 1.0], "float32"), np.array([2.0, 3.0], "float32"), 4,
         _id="grad"),
]


test_matches_numpy, test_symbolic, test_gradients_agree = case_tests(CASES)


# ---------------------------------------------------------------- the reference itself


def _np(fn, *args, **kwargs):
    with kbridge.backend.use("numpy"):
        return np.asarray(fn(*args, **kwargs))


def test_reference_dtype_rules():
    assert _np(ops.sqrt, np.array([4], "int8")).dtype == np.float32
    assert _np(ops.sqrt, np.array([4.0], "float64")).dtype == np.float64
    assert _np(ops.divide, np.array([1], "int32"), 2).dtype == np.float32
    assert _np(ops.multiply, np.array([1], "int8"), 2).dtype == np.int8
    assert _np(ops.multiply, np.array([1], "int8"), 2.0).dtype == np.float32
    assert _np(ops.subtract, np.array([1], "int8"), np.array([1], "uint8")).dtype == np.int16
    assert _np(ops.arange, 3).dtype == np.int32
    assert _np(ops.arange, 0.0, 1.0, 0.5).dtype == np.float32
    assert _np(ops.zeros, 2).dtype == np.float32
    assert _np(ops.full, 2, 1).dtype == np.float32
    assert _np(ops.array, [1, 2]).dtype == np.int32
    assert _np(ops.array, [1.0, 2.0]).dtype == np.float32
    assert _np(ops.square, np.array([True])).dtype == np.int32
    assert _np(ops.clip, np.array([True, False]), 0, 1).dtype == np.int32


def test_reference_values():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5], "float32")
    np.testing.assert_array_equal(_np(ops.round, x), [0.0, 2.0, 2.0, -0.0, -2.0])
    np.testing.assert_array_equal(
        _np(ops.round, np.array([15, 25, -35], "int32"), -1), [20, 20, -40])
    np.testing.assert_array_equal(_np(ops.mod, np.array([-5, 5]), 3), [1, 2])
    np.testing.assert_array_equal(_np(ops.fmod, np.array([-5, 5]), 3), [-2, 2])
    np.testing.assert_array_equal(_np(ops.floor_divide, np.array([-5, 5]), 3), [-2, 1])
    np.testing.assert_array_equal(
        _np(ops.divide_no_nan, np.array([1.0, 2.0]), np.array([0.0, 4.0])), [0.0, 0.5])
    np.testing.assert_array_equal(_np(ops.clip, np.array([1, 5, 9]), 2.5, 7.5), [2, 5, 7])
    np.testing.assert_array_equal(_np(ops.reciprocal, np.array([1, 2, -1])), [1, 0, -1])
    np.testing.assert_allclose(_np(ops.bartlett, 5), [0.0, 0.5, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(_np(ops.kaiser, 4, 2.0), np.kaiser(4, 2.0), rtol=1e-6)
    np.testing.assert_allclose(_np(ops.hanning, 5), [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-7)
    np.testing.assert_array_equal(_np(ops.eye, 2, 3, k=1), [[0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(_np(ops.tri, 3, 2), [[1, 0], [1, 1], [1, 1]])
    np.testing.assert_allclose(_np(ops.linspace, 0, 1, 5), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(_np(ops.linspace, 0, 10, 4, dtype="int32"), [0, 3, 6, 10])
    np.testing.assert_allclose(_np(ops.geomspace, 1, 1000, 4), [1, 10, 100, 1000], rtol=1e-6)
    np.testing.assert_allclose(_np(ops.logspace, 0, 2, 3, base=2), [1, 2, 4])
    np.testing.assert_array_equal(_np(ops.gcd, np.array([12, 0]), np.array([18, 5])), [6, 5])
    np.testing.assert_array_equal(_np(ops.lcm, np.array([4, 0]), np.array([6, 5])), [12, 0])
    np.testing.assert_allclose(_np(ops.logaddexp, 0.0, 0.0), np.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(_np(ops.sinc, np.array([0.0, 0.5])), [1.0, 2 / np.pi],
                               rtol=1e-6)
    assert _np(ops.nextafter, np.float32(1), np.float32(2)) == np.nextafter(
        np.float32(1), np.float32(2))
    assert bool(_np(ops.allclose, np.array([1.0, np.nan]), np.array([1.0, np.nan]),
                    equal_nan=True))
    np.testing.assert_array_equal(_np(ops.signbit, np.array([-0.0, 0.0, -1.0])),
                                  [True, False, True])
    np.testing.assert_array_equal(
        _np(ops.nan_to_num, np.array([np.nan, np.inf], "float32"), posinf=9.0), [0.0, 9.0])
    np.testing.assert_array_equal(_np(ops.right_shift, np.array([-8, 8]), 2), [-2, 2])


@pytest.mark.parametrize("name", ["bitwise_and", "left_shift", "gcd"])
def test_bitwise_rejects_floats(name):
    with kbridge.backend.use("numpy"), pytest.raises(TypeError):
        getattr(ops, name)(np.ones(2, "float32"), np.ones(2, "float32"))


def test_ldexp_rejects_float_exponent(backend):
    with pytest.raises(TypeError, match="integer"):
        ops.ldexp(np.ones(2, "float32"), np.ones(2, "float32"))


def test_window_length_must_be_int(backend):
    with pytest.raises(TypeError, match="window length"):
        ops.hamming("five")
