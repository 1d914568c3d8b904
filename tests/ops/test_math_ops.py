"""math ops: every backend vs the numpy backend, plus direct checks of the numpy reference."""

import math

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.ops.harness import Case, case_tests, rand

X = rand(3, 5)
SEG_IDS = np.array([0, 0, 2, 1, 2, 2], "int32")
SIGNAL = rand(2, 40, seed=4)
SPEC = (rand(2, 6, seed=5), rand(2, 6, seed=6))

CASES = [
    Case("logsumexp", X),
    Case("logsumexp", X, axis=1, _id="axis"),
    Case("logsumexp", X, axis=-2, keepdims=True, _id="keepdims"),
    Case("logsumexp", rand(2, 3, 4, seed=1), axis=[0, 2], _id="axes"),
    Case("logsumexp", rand(4, dtype="int32", low=-3, high=3), _id="int"),
    Case("erf", X * 2),
    Case("erf", rand(2, 3, dtype="float64", seed=2), _id="f64"),
    Case("erf", rand(4, dtype="int32", low=-2, high=2), _id="int"),
    Case("erfc", X * 2),
    Case("erfinv", X * 0.95, _rtol=1e-4),
    Case("rsqrt", rand(3, 4, low=0.2, high=3.0)),
    Case("rsqrt", np.array([1, 4, 16], "int32"), _id="int"),
    Case("top_k", rand(3, 7, seed=3), 3),
    Case("top_k", rand(7, dtype="int32", low=-50, high=50, seed=2), 2, _id="int"),
    Case("in_top_k", np.array([2, 0, 4], "int32"), rand(3, 5, seed=8), 2),
    Case("segment_sum", rand(6, 2), SEG_IDS, _symbolic=False),  # data-dependent length
    Case("segment_sum", rand(6, 2), SEG_IDS, num_segments=4, _id="num"),
    Case("segment_sum", rand(6, dtype="int32", low=-5, high=5), SEG_IDS, num_segments=3, sorted=False,
         _id="int"),
    Case("segment_max", rand(6, 2), SEG_IDS, num_segments=4, _grad=False),
    Case("segment_max", rand(6, 2), np.array([0, 0, 1, 1, 2, 2], "int32"), sorted=True, _id="sorted",
         _symbolic=False),
    Case("segment_min", rand(6, 2), SEG_IDS, num_segments=4, _grad=False),
    Case("segment_prod", rand(6, 2), SEG_IDS, _symbolic=False),
    Case("extract_sequences", SIGNAL, 8, 3),
    Case("extract_sequences", rand(10, seed=2), 4, 4, _id="1d"),
    Case("fft", (X, rand(3, 5, seed=9)), _rtol=1e-4, _atol=1e-5),
    Case("fft2", (X, rand(3, 5, seed=9)), _rtol=1e-4, _atol=1e-5),
    Case("ifft2", (X, rand(3, 5, seed=9)), _rtol=1e-4, _atol=1e-5),
    Case("rfft", SIGNAL, _rtol=1e-4, _atol=1e-5),
    Case("rfft", SIGNAL, fft_length=16, _id="crop", _rtol=1e-4, _atol=1e-5),
    Case("rfft", rand(2, 10, seed=1), fft_length=16, _id="pad", _rtol=1e-4, _atol=1e-5),
    Case("irfft", SPEC, _rtol=1e-4, _atol=1e-5),
    Case("irfft", SPEC, fft_length=11, _id="odd", _rtol=1e-4, _atol=1e-5),
    Case("stft", SIGNAL, 10, 4, 16, _rtol=1e-4, _atol=1e-5),
    Case("stft", SIGNAL, 16, 5, 16, window="hamming", center=False, _id="hamming",
         _rtol=1e-4, _atol=1e-5),
    Case("stft", SIGNAL, 8, 4, 8, window=None, _id="nowin", _rtol=1e-4, _atol=1e-5),
    Case("istft", (rand(2, 9, 9, seed=1), rand(2, 9, 9, seed=2)), 10, 4, 16, _rtol=1e-4,
         _atol=1e-5),
    Case("istft", (rand(2, 9, 9, seed=1), rand(2, 9, 9, seed=2)), 16, 4, 16, length=30,
         center=False, window="hamming", _id="length", _rtol=1e-4, _atol=1e-5),
    Case("logdet", np.eye(3, dtype="float32") * 2 + rand(3, 3) * 0.3),
    Case("cdist", rand(4, 3), rand(5, 3, seed=1)),
    Case("cdist", rand(2, 4, 3), rand(2, 5, 3, seed=1), _id="batched"),
    Case("view_as_complex", rand(3, 2), _grad=False),
    Case("view_as_real", (rand(3) + 1j * rand(3, seed=1)).astype("complex64"), _grad=False),
]


test_matches_numpy, test_symbolic, test_gradients_agree = case_tests(CASES)


# ---------------------------------------------------------------- the numpy reference itself

def _np(fn, *args, **kwargs):
    with kbridge.backend.use("numpy"):
        return fn(*args, **kwargs)


def test_reference_special_functions():
    x = np.linspace(-0.99, 0.99, 41)
    np.testing.assert_allclose(_np(ops.erf, x), [math.erf(v) for v in x], rtol=1e-12)
    np.testing.assert_allclose(_np(ops.erf, _np(ops.erfinv, x)), x, rtol=1e-12, atol=1e-14)
    assert np.isinf(_np(ops.erfinv, np.array([1.0])))[0]
    np.testing.assert_allclose(_np(ops.logsumexp, np.array([1000.0, 1000.0])),
                               1000.0 + math.log(2.0))


def test_reference_segments_and_top_k():
    out = _np(ops.segment_sum, np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 0, -1, 2]))
    np.testing.assert_array_equal(out, [3.0, 0.0, 4.0])
    out = _np(ops.segment_max, np.array([1.0, 5.0]), np.array([1, 1]), num_segments=3)
    np.testing.assert_array_equal(out, [-np.inf, 5.0, -np.inf])
    values, indices = _np(ops.top_k, np.array([1.0, 3.0, 2.0, 3.0]), 2)
    np.testing.assert_array_equal(values, [3.0, 3.0])
    np.testing.assert_array_equal(indices, [1, 3])
    assert indices.dtype == np.int32
    hits = _np(ops.in_top_k, np.array([0, 1]), np.array([[0.2, 0.5, 0.3], [0.2, 0.5, 0.3]]), 1)
    np.testing.assert_array_equal(hits, [False, True])


def test_reference_stft_round_trip():
    x = rand(1, 64, seed=3).astype("float64")
    spec = _np(ops.stft, x, 16, 4, 16)
    np.testing.assert_allclose(_np(ops.istft, spec, 16, 4, 16, length=64), x, atol=1e-12)
    frames = _np(ops.extract_sequences, np.arange(10.0), 4, 3)
    np.testing.assert_array_equal(frames, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    re, im = _np(ops.rfft, np.array([1.0, 0.0, -1.0, 0.0]))
    np.testing.assert_allclose(re + 1j * im, np.fft.rfft([1.0, 0.0, -1.0, 0.0]))


def test_segment_symbolic_length_unknown_without_num_segments():
    out = ops.segment_sum(kbridge.KerasTensor((6, 2)), kbridge.KerasTensor((6,), "int32"))
    assert out.shape == (None, 2)


def test_complex_pair_errors():
    with pytest.raises(ValueError, match="tuple"):
        _np(ops.fft, np.zeros(3))
    with pytest.raises(ValueError, match="fft_length"):
        _np(ops.stft, np.zeros(32, "float32"), 16, 4, 8)
