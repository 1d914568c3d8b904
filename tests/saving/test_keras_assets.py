"""A Keras archive's assets reach their layers: a TextVectorization adapted in real Keras keeps
its vocabulary (stored under assets/, not in the config) when kbridge loads the archive."""

import numpy as np
import pytest

import kbridge

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")  # Keras's TextVectorization needs it


def test_text_vectorization_vocabulary_from_keras_assets(tmp_path, backend):
    corpus = np.array(["the cat sat", "the dog ran fast", "a cat ran"])
    vectorizer = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorizer.adapt(corpus)
    inputs = keras.Input((1,), dtype="string")
    keras.Model(inputs, vectorizer(inputs)).save(tmp_path / "tv.keras")

    model = kbridge.models.load_model(tmp_path / "tv.keras")
    loaded = next(l for l in model.layers if type(l).__name__ == "TextVectorization")
    assert loaded.get_vocabulary() == [str(t) for t in vectorizer.get_vocabulary()]
    vocabulary = loaded.get_vocabulary()
    expected = [[vocabulary.index(w) for w in ("the", "dog", "sat")] + [0, 0],
                [vocabulary.index("a"), 1, 0, 0, 0]]  # "bird" is out of vocabulary: 1
    got = kbridge.ops.convert_to_numpy(loaded(np.array([["the dog sat"], ["a bird"]])))
    np.testing.assert_array_equal(got, expected)
