"""to_categorical, normalize, pad_sequences against Keras 3 (numpy results; backend tensors)."""

import keras
import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.errors import ArgumentError


@pytest.mark.parametrize("labels, num_classes", [
    ([0, 2, 1, 2], None), (np.array([[1], [0], [3]]), 5), (np.array([[0, 1], [2, 1]]), 3)])
def test_to_categorical_matches_keras(labels, num_classes):
    # Keras on its numpy backend treats arrays as tensors (float32); lists give the float64
    # numpy result every Keras backend gives for numpy input, as kbridge does for both.
    ours = kbridge.utils.to_categorical(labels, num_classes)
    theirs = keras.utils.to_categorical(np.asarray(labels).tolist(), num_classes)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_to_categorical_tensor_stays_on_its_backend(backend):
    x = ops.convert_to_tensor(np.array([[2], [0], [1]], "int32"))
    out = kbridge.utils.to_categorical(x, 3)
    assert kbridge.backend.of(out) == backend
    np.testing.assert_array_equal(ops.convert_to_numpy(out), np.eye(3)[[2, 0, 1]])


def test_to_categorical_rejects_out_of_range():
    with pytest.raises(ArgumentError, match=r"\[0, 3\)"):
        kbridge.utils.to_categorical([0, 3], num_classes=3)


@pytest.mark.parametrize("axis, order", [(-1, 2), (-2, 1), (1, np.inf)])
def test_normalize_numpy_matches_keras(axis, order):
    x = np.random.RandomState(0).randn(4, 3)
    x[1] = 0.0  # a zero row stays zero
    np.testing.assert_allclose(kbridge.utils.normalize(x, axis, order),
                               keras.utils.normalize(x, axis, order))


def test_normalize_axis_zero():
    # Keras turns axis=0 into -1 (``axis or -1``) and fails to broadcast; kbridge uses axis 0.
    x = np.array([[3.0, 1.0], [4.0, 0.0]])
    np.testing.assert_allclose(kbridge.utils.normalize(x, axis=0), [[0.6, 1.0], [0.8, 0.0]])


def test_normalize_tensor(backend):
    x = np.random.RandomState(1).randn(3, 4).astype("float32")
    out = kbridge.utils.normalize(ops.convert_to_tensor(x))
    assert kbridge.backend.of(out) == backend
    np.testing.assert_allclose(ops.convert_to_numpy(out), keras.utils.normalize(x), rtol=1e-5)


SEQS = [[1, 2, 3, 4], [5], [], [6, 7]]


@pytest.mark.parametrize("kwargs", [
    {}, {"maxlen": 3}, {"maxlen": 3, "padding": "post", "truncating": "post"},
    {"maxlen": 5, "value": -1, "dtype": "float32"}, {"padding": "post", "truncating": "pre",
                                                     "maxlen": 2}])
def test_pad_sequences_matches_keras(kwargs):
    ours = kbridge.utils.pad_sequences(SEQS, **kwargs)
    theirs = keras.utils.pad_sequences(SEQS, **kwargs)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_vectors_and_strings():
    seqs = [np.ones((2, 3)), np.zeros((1, 3))]
    np.testing.assert_array_equal(kbridge.preprocessing.sequence.pad_sequences(seqs, maxlen=3),
                                  keras.preprocessing.sequence.pad_sequences(seqs, maxlen=3))
    words = [["a", "bb"], ["ccc"]]
    np.testing.assert_array_equal(
        kbridge.utils.pad_sequences(words, dtype=object, value=""),
        keras.utils.pad_sequences(words, dtype=object, value=""))
    with pytest.raises(ArgumentError, match="dtype=object"):
        kbridge.utils.pad_sequences(words, value="")
    with pytest.raises(ArgumentError, match="padding"):
        kbridge.utils.pad_sequences(SEQS, padding="middle")
