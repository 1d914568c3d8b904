"""kbridge.export.ExportArchive: endpoints and variable collections written as a TensorFlow
SavedModel from a model on any backend, reloaded with tf.saved_model.load."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.conftest import BACKENDS

tf = pytest.importorskip("tensorflow")

X = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")


def _model(backend):
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(0)
        model = kbridge.Sequential([kbridge.Input((5,)), kbridge.layers.Dense(8),
                                    kbridge.layers.BatchNormalization(),
                                    kbridge.layers.Dropout(0.5), kbridge.layers.Dense(2)])
    bn = model.layers[1]
    bn.moving_mean.assign(np.linspace(-1, 1, 8).astype("float32"))
    return model


@pytest.mark.parametrize("source", BACKENDS)
def test_write_out_and_reload(source, tmp_path):
    model = _model(source)
    expected = ops.convert_to_numpy(model(X))
    archive = kbridge.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", model.call,
                         input_signature=[tf.TensorSpec((None, 5), tf.float32)])
    archive.add_endpoint("serve_symbolic", model.__call__,
                         input_signature=[kbridge.KerasTensor((None, 5), "float32")])
    archive.add_variable_collection("my_weights", model.weights)
    assert len(archive.variables) == len(model.weights)
    path = archive.write_out(tmp_path / "archive", verbose=False)

    loaded = tf.saved_model.load(path)
    for endpoint in (loaded.serve, loaded.serve_symbolic):
        np.testing.assert_allclose(endpoint(tf.constant(X[:4])).numpy(), expected[:4],
                                   rtol=1e-5, atol=1e-5)
    assert sorted(loaded.signatures) == ["serve", "serve_symbolic", "serving_default"]
    (out,) = loaded.signatures["serving_default"](tf.constant(X)).values()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    for saved, weight in zip(loaded.my_weights, model.get_weights()):
        np.testing.assert_array_equal(saved.numpy(), weight)


def test_tf_function_endpoints_and_trackables(tmp_path, capsys):
    if "tensorflow" not in BACKENDS:
        pytest.skip("needs the tensorflow backend")
    model = _model("tensorflow")
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(["a", "b"]), tf.constant([0, 1],
                                                                                tf.int64)), -1)
    archive = kbridge.export.ExportArchive()
    archive.track(table)
    archive.track_and_add_endpoint("call", model,
                                   [tf.TensorSpec((None, 5), tf.float32, name="features")])

    @tf.function
    def lookup(keys):
        return table.lookup(keys)

    lookup(tf.constant(["a", "a"]))  # traced once: no input_signature needed
    archive.add_endpoint("lookup", lookup)
    archive.write_out(tmp_path / "tf", verbose=True)
    printed = capsys.readouterr().out
    assert "Saved artifact at" in printed and "* Endpoint 'lookup'" in printed

    loaded = tf.saved_model.load(str(tmp_path / "tf"))
    np.testing.assert_array_equal(loaded.lookup(tf.constant(["b", "z"])).numpy(), [1, -1])
    np.testing.assert_allclose(loaded.call(tf.constant(X)).numpy(),
                               ops.convert_to_numpy(model(X)), rtol=1e-5, atol=1e-5)
    # The archive holds the tensorflow model's own variables: later training is not in it.
    assert archive.variables[0] is model.weights[0].value


def test_errors(tmp_path):
    model = _model(BACKENDS[-1])
    archive = kbridge.export.ExportArchive()
    with pytest.raises(kbridge.KbridgeError, match="No endpoints"):
        archive.write_out(tmp_path / "empty")
    with pytest.raises(kbridge.KbridgeError, match="not tracked: call archive.track"):
        archive.add_endpoint("serve", model.call, [tf.TensorSpec((None, 5))])
    with pytest.raises(kbridge.KbridgeError, match="needs `input_signature`"):
        archive.add_endpoint("serve", lambda x: x)
    with pytest.raises(kbridge.ArgumentError, match="kbridge Layer/Model or a TensorFlow"):
        archive.track("model")
    with kbridge.backend.use(BACKENDS[-1]):
        unbuilt = kbridge.Sequential([kbridge.layers.Dense(2)])
    with pytest.raises(kbridge.KbridgeError, match="not built yet"):
        archive.track(unbuilt)
    archive.track(model)
    archive.add_endpoint("serve", model.call, [tf.TensorSpec((None, 5))])
    with pytest.raises(kbridge.KbridgeError, match="already taken"):
        archive.add_endpoint("serve", model.call, [tf.TensorSpec((None, 5))])
    with pytest.raises(kbridge.ArgumentError, match="jax2tf"):
        archive.add_endpoint("other", model.call, [tf.TensorSpec((None, 5))], is_static=True)
    with pytest.raises(kbridge.ArgumentError, match="list, tuple or set"):
        archive.add_variable_collection("v", model.weights[0])
