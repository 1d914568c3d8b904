"""kbridge.layers.TFSMLayer (Keras's name and semantics) over SavedModels written by kbridge's
export and ExportArchive: the `serve` endpoint, signatures, training endpoint, fit, config."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.saving import registry
from tests.conftest import BACKENDS

tf = pytest.importorskip("tensorflow")
if "tensorflow" not in BACKENDS:
    pytest.skip("needs the tensorflow backend", allow_module_level=True)

A = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
B = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")
Y = np.random.default_rng(2).normal(size=(6, 2)).astype("float32")


def _two_input_model(backend):
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(0)
        a, b = kbridge.Input((5,), name="a"), kbridge.Input((3,), name="b")
        h = kbridge.layers.Concatenate()([a, b])
        h = kbridge.layers.Dropout(0.5)(kbridge.layers.Dense(8, activation="relu")(h))
        return kbridge.Model({"a": a, "b": b}, kbridge.layers.Dense(2)(h))


def test_serve_endpoint_signature_and_fit(tmp_path):
    model = _two_input_model(BACKENDS[0])
    path = kbridge.adapters.export_saved_model(model, tmp_path / "sm")
    expected = ops.convert_to_numpy(model({"a": A, "b": B}))
    with kbridge.backend.use("tensorflow"):
        layer = kbridge.layers.TFSMLayer(path)
        np.testing.assert_allclose(layer({"a": A, "b": B}).numpy(), expected, rtol=1e-5,
                                   atol=1e-5)
        assert len(layer.trainable_weights) == len(model.trainable_weights)
        by_signature = kbridge.layers.TFSMLayer(path, call_endpoint="serving_default")
        out = by_signature([A, B])  # a list in the signature's (sorted) input order
        np.testing.assert_allclose(out["output_0"].numpy(), expected, rtol=1e-5, atol=1e-5)

        a, b = kbridge.Input((5,)), kbridge.Input((3,))
        wrapper = kbridge.Model({"a": a, "b": b}, layer({"a": a, "b": b}))
        wrapper.compile(optimizer=kbridge.optimizers.SGD(0.1), loss="mse")
        before = wrapper.evaluate({"a": A, "b": B}, Y, verbose=0)
        wrapper.fit({"a": A, "b": B}, Y, epochs=5, batch_size=6, verbose=0)
        assert wrapper.evaluate({"a": A, "b": B}, Y, verbose=0) < before
        frozen = kbridge.layers.TFSMLayer(path, trainable=False)
        assert not frozen.trainable_weights


def test_training_endpoint_and_config(tmp_path):
    model = _two_input_model("tensorflow")
    spec = {"a": tf.TensorSpec((None, 5)), "b": tf.TensorSpec((None, 3))}
    archive = kbridge.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda x: model(x, training=False), [spec])
    archive.add_endpoint("serve_train", lambda x: model(x, training=True), [spec])
    archive.write_out(tmp_path / "sm", verbose=False)
    with kbridge.backend.use("tensorflow"):
        layer = kbridge.layers.TFSMLayer(tmp_path / "sm", call_training_endpoint="serve_train",
                                         name="tfsm")
        x = {"a": A, "b": B}
        inference = layer(x).numpy()
        np.testing.assert_array_equal(layer(x).numpy(), inference)
        assert not np.allclose(layer(x, training=True).numpy(), inference)  # dropout on
        config = registry.serialize(layer)
        with pytest.raises(registry.UnsafeDeserializationError, match="safe_mode=False"):
            registry.deserialize(config)
        rebuilt = registry.deserialize(config, safe_mode=False)
        assert rebuilt.name == "tfsm" and rebuilt.call_training_endpoint == "serve_train"
        np.testing.assert_allclose(rebuilt(x).numpy(), inference, rtol=1e-6)
        with pytest.raises(kbridge.KbridgeError, match="no attribute or signature 'nope'"):
            kbridge.layers.TFSMLayer(tmp_path / "sm", call_endpoint="nope")
    with kbridge.backend.use("numpy"):
        with pytest.raises(kbridge.BackendError, match="tensorflow-backend layer"):
            kbridge.layers.TFSMLayer(tmp_path / "sm")
