"""export_saved_model / from_saved_model: a model (any backend) as a plain TF SavedModel that
loads without kbridge (TF and TFLite), and a SavedModel signature as a kbridge layer."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.errors import BackendError, KbridgeError
from tests.conftest import BACKENDS

tf = pytest.importorskip("tensorflow")

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(7, 8, 8, 1)).astype("float32")
FEATURES = RNG.normal(size=(7, 5)).astype("float32")
BATCHES = (3, 7)  # two batch sizes through one signature: the batch dimension is dynamic

# Runs in a fresh interpreter that never imports kbridge: loads each SavedModel, serves the
# inputs saved by the test through the serving_default signature and through real Keras's
# TFSMLayer (which calls the `serve` endpoint with the input structure as one argument), and
# writes the outputs (plus the signature names) back.
_SERVE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    import keras

    def flat(prefix, value):
        if isinstance(value, dict):
            return {f"{prefix}{k}": v for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return {f"{prefix}output_{i}": v for i, v in enumerate(value)}
        return {f"{prefix}output_0": value}

    jobs = json.load(open(sys.argv[1]))
    report = {}
    for key, job in jobs.items():
        fn = tf.saved_model.load(job["path"]).signatures["serving_default"]
        tfsm = keras.layers.TFSMLayer(job["path"])
        feeds = dict(np.load(job["inputs"]))
        outputs = {}
        for n in job["batches"]:
            result = fn(**{k: tf.constant(v[:n]) for k, v in feeds.items()})
            outputs.update({f"{name}@{n}": t.numpy() for name, t in result.items()})
            cut = {k: v[:n] for k, v in feeds.items()}
            structure = job["structure"]
            x = (cut if structure == "dict" else [cut[k] for k in structure]
                 if isinstance(structure, list) else cut[structure])
            outputs.update({f"{name}@{n}": keras.ops.convert_to_numpy(t)
                            for name, t in flat("keras/", tfsm(x)).items()})
        np.savez(job["outputs"], **outputs)
        report[key] = {"inputs": sorted(fn.structured_input_signature[1]),
                       "input_shapes": {k: s.shape.as_list() for k, s in
                                        fn.structured_input_signature[1].items()},
                       "outputs": sorted(fn.structured_outputs)}
    # The other direction: Keras's own export, for kbridge's TFSMLayer (see the test below).
    inputs = keras.Input((5,), name="features")
    h = keras.layers.Dense(4, activation="relu")(keras.layers.Dense(6)(inputs))
    keras_model = keras.Model(inputs, h)
    keras_model.export(sys.argv[2], verbose=False)
    x = np.linspace(-1, 1, 35, dtype="float32").reshape(7, 5)
    np.save(sys.argv[2] + ".npy", keras_model.predict(x, verbose=0))
    assert "kbridge" not in sys.modules, "the consumer process imported kbridge"
    print(json.dumps(report))
""")


def _serve_without_kbridge(tmp_path, jobs):
    """``{key: (report, {f"{output}@{batch}": array})}`` computed in a kbridge-free process.

    ``jobs``: ``{key: (path, feeds, structure)}``; ``structure`` says how Keras's TFSMLayer
    gets the feeds: one feed's name, a list of names, or ``"dict"``. Its outputs come back
    as ``keras/<output name>@<batch>``.
    """
    spec = {}
    for key, (path, feeds, structure) in jobs.items():
        np.savez(tmp_path / f"{key}-in.npz", **feeds)
        spec[key] = {"path": str(path), "inputs": str(tmp_path / f"{key}-in.npz"),
                     "outputs": str(tmp_path / f"{key}-out.npz"), "batches": list(BATCHES),
                     "structure": structure}
    (tmp_path / "jobs.json").write_text(json.dumps(spec))
    (tmp_path / "serve.py").write_text(_SERVE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["KERAS_BACKEND"] = "tensorflow"
    done = subprocess.run([sys.executable, str(tmp_path / "serve.py"), str(tmp_path / "jobs.json"),
                           str(tmp_path / "keras_export")],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    results = {key: (report[key], dict(np.load(spec[key]["outputs"]))) for key in jobs}
    results["keras_export"] = str(tmp_path / "keras_export")
    return results


def _cnn(backend):
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(0)
        return kbridge.Sequential([
            kbridge.Input((8, 8, 1)),
            kbridge.layers.Conv2D(4, 3, activation="relu"),
            kbridge.layers.MaxPooling2D(),
            kbridge.layers.Flatten(),
            kbridge.layers.Dense(3),
        ])


def _two_head_mlp(backend):
    """Functional, input named 'features', a list of two outputs."""
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(1)
        x = kbridge.Input((5,), name="features")
        h = kbridge.layers.Dense(16, activation="tanh")(x)
        return kbridge.Model(x, [kbridge.layers.Dense(2)(h), kbridge.layers.Dense(1)(h)])


def _dict_model():
    """Functional with dict inputs and dict outputs (tensorflow backend)."""
    with kbridge.backend.use("tensorflow"):
        kbridge.utils.set_random_seed(2)
        image = kbridge.Input((8, 8, 1), name="image")
        meta = kbridge.Input((5,), name="meta")
        h = kbridge.layers.Concatenate()([kbridge.layers.Flatten()(image),
                                          kbridge.layers.Dense(4)(meta)])
        return kbridge.Model({"image": image, "meta": meta},
                             {"logits": kbridge.layers.Dense(3)(h),
                              "score": kbridge.layers.Dense(1, activation="sigmoid")(h)})


def _list_model(backend):
    """Functional with a list of two inputs and one output."""
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(4)
        a, b = kbridge.Input((5,), name="left"), kbridge.Input((8, 8, 1), name="right")
        h = kbridge.layers.Concatenate()([a, kbridge.layers.Flatten()(b)])
        return kbridge.Model([a, b], kbridge.layers.Dense(3)(h))


def _numpy(x):
    return ops.convert_to_numpy(x)


def _bn_dropout_model():
    with kbridge.backend.use("tensorflow"):
        kbridge.utils.set_random_seed(3)
        model = kbridge.Sequential([
            kbridge.Input((5,)), kbridge.layers.Dense(8), kbridge.layers.BatchNormalization(),
            kbridge.layers.Dropout(0.5), kbridge.layers.Dense(2)])
    bn = model.layers[1]
    bn.moving_mean.assign(RNG.normal(size=(8,)).astype("float32"))
    bn.moving_variance.assign(RNG.uniform(0.5, 2.0, size=(8,)).astype("float32"))
    return model


# --- export, loaded in a process without kbridge ---------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Every exported model of the tests below, served by ONE kbridge-free process (a fresh
    TensorFlow import per model would dominate the run time)."""
    tmp_path = tmp_path_factory.mktemp("served")
    models, jobs = {}, {}
    for source in BACKENDS:
        for kind, build, feeds, structure in (
                ("cnn", _cnn, {"inputs": IMAGES}, "inputs"),
                ("mlp", _two_head_mlp, {"features": FEATURES}, "features")):
            models[source, kind] = build(source)
            path = kbridge.adapters.export_saved_model(models[source, kind],
                                                       tmp_path / f"{source}-{kind}")
            jobs[f"{source}-{kind}"] = (path, feeds, structure)
    models["dict"] = _dict_model()
    jobs["dict"] = (kbridge.adapters.export_saved_model(models["dict"], tmp_path / "dict"),
                    {"image": IMAGES, "meta": FEATURES}, "dict")
    models["list"] = _list_model(BACKENDS[-1])
    jobs["list"] = (models["list"].export(tmp_path / "list"),
                    {"left": FEATURES, "right": IMAGES}, ["left", "right"])
    return models, jobs, _serve_without_kbridge(tmp_path, jobs)


@pytest.mark.parametrize("source", BACKENDS)
def test_export_from_every_backend_serves_without_kbridge(source, served):
    models, jobs, results = served
    cnn, mlp = models[source, "cnn"], models[source, "mlp"]
    report, outputs = results[f"{source}-cnn"]
    assert report == {"inputs": ["inputs"], "input_shapes": {"inputs": [None, 8, 8, 1]},
                      "outputs": ["output_0"]}
    for n in BATCHES:
        np.testing.assert_allclose(outputs[f"output_0@{n}"], _numpy(cnn(IMAGES[:n])),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(outputs[f"keras/output_0@{n}"], outputs[f"output_0@{n}"])
    report, outputs = results[f"{source}-mlp"]
    assert report["inputs"] == ["features"] and report["outputs"] == ["output_0", "output_1"]
    for n in BATCHES:
        expected = [_numpy(y) for y in mlp(FEATURES[:n])]
        np.testing.assert_allclose(outputs[f"output_0@{n}"], expected[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(outputs[f"output_1@{n}"], expected[1], rtol=1e-5, atol=1e-5)
        for name in ("output_0", "output_1"):  # Keras's TFSMLayer returns the list
            np.testing.assert_array_equal(outputs[f"keras/{name}@{n}"], outputs[f"{name}@{n}"])
    saved = open(os.path.join(jobs[f"{source}-cnn"][0], "saved_model.pb"), "rb").read()
    assert b"kbridge" not in saved


def test_dict_inputs_and_outputs_keep_their_keys(served):
    models, jobs, results = served
    model, (report, outputs) = models["dict"], results["dict"]
    feeds = jobs["dict"][1]
    assert report["inputs"] == ["image", "meta"] and report["outputs"] == ["logits", "score"]
    for n in BATCHES:
        expected = model({k: v[:n] for k, v in feeds.items()})
        for key in ("logits", "score"):
            np.testing.assert_allclose(outputs[f"{key}@{n}"], _numpy(expected[key]),
                                       rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(outputs[f"keras/{key}@{n}"], _numpy(expected[key]),
                                       rtol=1e-5, atol=1e-5)


def test_kbridge_tfsm_layer_reads_a_keras_export(served):
    if "tensorflow" not in BACKENDS:
        pytest.skip("needs the tensorflow backend")
    path = served[2]["keras_export"]
    x = np.linspace(-1, 1, 35, dtype="float32").reshape(7, 5)
    with kbridge.backend.use("tensorflow"):
        layer = kbridge.layers.TFSMLayer(path)
        np.testing.assert_allclose(layer(x).numpy(), np.load(path + ".npy"), rtol=1e-5,
                                   atol=1e-6)
        assert len(layer.trainable_weights) == 4


def test_list_inputs_serve_through_keras_tfsm_layer(served):
    models, jobs, results = served
    model, (report, outputs) = models["list"], results["list"]
    assert report["inputs"] == ["left", "right"] and report["outputs"] == ["output_0"]
    for n in BATCHES:
        expected = _numpy(model([FEATURES[:n], IMAGES[:n]]))
        np.testing.assert_allclose(outputs[f"output_0@{n}"], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(outputs[f"keras/output_0@{n}"], expected, rtol=1e-5,
                                   atol=1e-5)


def test_batch_norm_and_dropout_export_in_inference_mode(tmp_path):
    model = _bn_dropout_model()
    path = kbridge.adapters.export_saved_model(model, tmp_path / "bn")
    serve = tf.saved_model.load(path).signatures["serving_default"]
    expected = _numpy(model(FEATURES, training=False))
    first = serve(inputs=tf.constant(FEATURES))["output_0"].numpy()
    second = serve(inputs=tf.constant(FEATURES))["output_0"].numpy()
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(first, second)  # no dropout noise
    # the export is a snapshot: training on (which moves the statistics) leaves it as it was
    assert not np.allclose(_numpy(model(FEATURES, training=True)), expected)
    assert not np.allclose(_numpy(model(FEATURES, training=False)), expected)
    np.testing.assert_array_equal(serve(inputs=tf.constant(FEATURES))["output_0"].numpy(), first)


# --- TFLite -------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
@pytest.mark.parametrize("source", [b for b in ("torch", "tensorflow") if b in BACKENDS])
def test_tflite_conversion_runs_with_dynamic_batch(source, tmp_path):
    model = _cnn(source)
    path = kbridge.adapters.export_saved_model(model, tmp_path / "cnn")
    flatbuffer = tf.lite.TFLiteConverter.from_saved_model(path).convert()
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["inputs"], "outputs": ["output_0"]}}
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert list(inp["shape_signature"]) == [-1, 8, 8, 1]
    for n in BATCHES:
        interpreter.resize_tensor_input(inp["index"], [n, 8, 8, 1])
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], IMAGES[:n])
        interpreter.invoke()
        np.testing.assert_allclose(interpreter.get_tensor(out["index"]),
                                   _numpy(model(IMAGES[:n])), rtol=1e-5, atol=1e-5)


# --- model.export, signatures, errors, atomic writes ---------------------------------------
def test_model_export_alias(tmp_path, capsys):
    model = _two_head_mlp(BACKENDS[0])
    model.export(tmp_path / "alias", verbose=True)
    assert "* Endpoint 'serve'" in capsys.readouterr().out
    serve = tf.saved_model.load(str(tmp_path / "alias")).signatures["serving_default"]
    result = serve(features=tf.constant(FEATURES))
    np.testing.assert_allclose(result["output_1"].numpy(), _numpy(model(FEATURES)[1]),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(KbridgeError, match="tf_saved_model"):
        model.export(tmp_path / "other", format="onnx")


def test_unknown_input_shape_needs_input_signature(tmp_path):
    with kbridge.backend.use(BACKENDS[0]):
        model = kbridge.Sequential([kbridge.layers.Dense(2)])
    with pytest.raises(KbridgeError, match="input_signature"):
        kbridge.adapters.export_saved_model(model, tmp_path / "nope")
    assert not (tmp_path / "nope").exists()
    model.build((None, 5))
    path = kbridge.adapters.export_saved_model(
        model, tmp_path / "sig", input_signature=[tf.TensorSpec((None, 5), tf.float32, name="x")])
    serve = tf.saved_model.load(path).signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["x"]
    np.testing.assert_allclose(serve(x=tf.constant(FEATURES))["output_0"].numpy(),
                               _numpy(model(FEATURES)), rtol=1e-5, atol=1e-5)


def test_model_built_on_data_exports_with_dynamic_batch(tmp_path):
    with kbridge.backend.use("tensorflow"):
        model = kbridge.Sequential([kbridge.layers.Dense(2)])
        model(FEATURES[:4])  # built for batch 4; the signature still takes any batch
    serve = tf.saved_model.load(kbridge.adapters.export_saved_model(
        model, tmp_path / "m")).signatures["serving_default"]
    assert serve.structured_input_signature[1]["inputs"].shape.as_list() == [None, 5]
    assert serve(inputs=tf.constant(FEATURES))["output_0"].shape == (7, 2)


def test_bad_input_signature_and_names(tmp_path):
    model = _cnn("tensorflow")
    with pytest.raises(KbridgeError, match="tf.TensorSpec"):
        kbridge.adapters.export_saved_model(model, tmp_path / "a", input_signature=[(None, 8)])
    with pytest.raises(KbridgeError, match="not a valid SavedModel signature name"):
        kbridge.adapters.export_saved_model(
            model, tmp_path / "b",
            input_signature=[tf.TensorSpec((None, 8, 8, 1), tf.float32, name="bad name")])


def test_export_replaces_atomically(tmp_path):
    model = _cnn("tensorflow")
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    kbridge.adapters.export_saved_model(model, target)
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no temp or backup directory left
    assert not (target / "stale.txt").exists() and (target / "saved_model.pb").exists()
    assert os.stat(target).st_mode & 0o055  # readable by a server running as another user
    (tmp_path / "file").write_text("x")
    with pytest.raises(KbridgeError, match="not a directory"):
        kbridge.adapters.export_saved_model(model, tmp_path / "file")


# --- from_saved_model ----------------------------------------------------------------------
def test_from_saved_model_in_a_functional_model(tmp_path):
    source = _two_head_mlp(BACKENDS[0])
    kbridge.adapters.export_saved_model(source, tmp_path / "mlp")
    with kbridge.backend.use("tensorflow"):
        layer = kbridge.adapters.from_saved_model(tmp_path / "mlp")
        x = kbridge.Input((5,), name="features")
        heads = layer(x)
        assert [h.shape for h in heads] == [(None, 2), (None, 1)]
        model = kbridge.Model(x, kbridge.layers.Concatenate()(heads))
        assert model.output_shape == (None, 3)
        y = model(FEATURES)
    assert tf.is_tensor(y)
    expected = np.concatenate([_numpy(h) for h in source(FEATURES)], axis=-1)
    np.testing.assert_allclose(_numpy(y), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(FEATURES, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert layer.get_weights() == [] and layer.input_names == ["features"]


def test_from_saved_model_dict_signature(tmp_path):
    source = _dict_model()
    kbridge.adapters.export_saved_model(source, tmp_path / "dict")
    with kbridge.backend.use("tensorflow"):
        layer = kbridge.adapters.from_saved_model(tmp_path / "dict")
        inputs = {"image": kbridge.Input((8, 8, 1)), "meta": kbridge.Input((5,))}
        outputs = layer(inputs)
        assert {k: v.shape for k, v in outputs.items()} == {"logits": (None, 3),
                                                           "score": (None, 1)}
        model = kbridge.Model(inputs, outputs["logits"])
    feeds = {"image": IMAGES, "meta": FEATURES.astype("float64")}  # floats are cast
    np.testing.assert_allclose(_numpy(model(feeds)), _numpy(source(feeds)["logits"]),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(KbridgeError, match="lacks"):
        layer({"image": IMAGES})
    with pytest.raises(KbridgeError, match="dict keyed"):
        layer(IMAGES)


def test_from_saved_model_errors(tmp_path):
    path = kbridge.adapters.export_saved_model(_cnn("tensorflow"), tmp_path / "cnn")
    other = next((b for b in BACKENDS if b != "tensorflow"), None)
    if other is not None:
        with kbridge.backend.use(other), pytest.raises(BackendError, match="tensorflow"):
            kbridge.adapters.from_saved_model(path)
    with kbridge.backend.use("tensorflow"):
        with pytest.raises(KbridgeError, match="no signature 'serve_v2'"):
            kbridge.adapters.from_saved_model(path, endpoint="serve_v2")
        layer = kbridge.adapters.from_saved_model(path)
        with pytest.raises(KbridgeError, match="must have shape"):
            layer(kbridge.Input((4, 4, 1)))
    if "torch" in BACKENDS:
        import torch

        with pytest.raises(BackendError, match="torch.Tensor"):
            layer(torch.zeros(2, 8, 8, 1))
