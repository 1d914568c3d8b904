"""Keras 3 .keras archives and .weights.h5 files load in kbridge with Keras's outputs."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.hub import ReleaseError
from tests.layers.harness import keras_module

X = np.random.default_rng(1).normal(size=(3, 6, 4)).astype("float32")


def _keras_models(keras):
    seq = keras.Sequential([
        keras.Input((6, 4)),
        keras.layers.Conv1D(5, 3, padding="same", activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.LSTM(4, return_sequences=True),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(3, activation="softmax"),
    ], name="seq")
    x = keras.Input((6, 4), name="x")
    h = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True))(x)
    a = keras.layers.MultiHeadAttention(2, 4)(h, h)
    y = keras.layers.Dense(2)(keras.layers.Concatenate()([keras.layers.Flatten()(a),
                                                          keras.layers.Flatten()(x)]))
    functional = keras.Model(x, y, name="fn")
    for m in (seq, functional):  # non-trivial batch-norm statistics and weights
        m.set_weights([w + np.random.default_rng(0).normal(0, 0.1, w.shape).astype(w.dtype)
                       if "variance" not in p else np.abs(w) + 0.5
                       for w, p in zip(m.get_weights(), [v.path for v in m.weights])])
    return {"sequential": seq, "functional": functional}


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_dot_keras_archive(tmp_path, kind, backend):
    keras = keras_module()
    kmodel = _keras_models(keras)[kind]
    expected = np.asarray(kmodel(X))
    kmodel.save(tmp_path / "m.keras")
    model = kbridge.hub.load(str(tmp_path / "m.keras"), backend=backend)
    np.testing.assert_allclose(ops.convert_to_numpy(model(X)), expected, rtol=1e-4, atol=1e-5)
    same = kbridge.saving.load_model(str(tmp_path / "m.keras"), backend=backend)
    assert len(same.weights) == len(kmodel.weights)


def test_weights_h5_into_same_architecture(tmp_path):
    keras = keras_module()
    kmodel = _keras_models(keras)["sequential"]
    kmodel.save_weights(tmp_path / "m.weights.h5")
    kmodel.save(tmp_path / "m.keras")
    model = kbridge.hub.load(str(tmp_path / "m.keras"), backend="numpy")
    for v in model.weights:
        v.assign(np.zeros(v.shape, v.dtype))
    model.load_weights(str(tmp_path / "m.weights.h5"))
    np.testing.assert_allclose(ops.convert_to_numpy(model(X)), np.asarray(kmodel(X)), rtol=1e-4,
                               atol=1e-5)
    with pytest.raises(ReleaseError, match="weights only"):
        kbridge.hub.load(str(tmp_path / "m.weights.h5"))


def test_corrupt_archive_is_a_clear_error(tmp_path):
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    with pytest.raises(ReleaseError, match="bad.keras: not a .keras archive"):
        kbridge.hub.load(str(tmp_path / "bad.keras"))
