"""kbridge writes Keras 3 files that real Keras loads (on its jax, torch and tensorflow
backends, one subprocess each), and loads what Keras wrote, on every kbridge backend."""

import functools
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.conftest import BACKENDS, DIFFERENTIABLE
from tests.saving import twin_classes

KERAS_BACKENDS = ["jax", "torch", "tensorflow"]
HERE = os.path.dirname(os.path.abspath(__file__))


Scale, MLP = twin_classes.define(kbridge)  # keras_side.py defines the same over keras


def _perturb(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype)
                       for w in model.get_weights()])


def cnn():
    L = kbridge.layers
    return kbridge.Sequential([kbridge.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"),
                               L.BatchNormalization(), L.MaxPooling2D(), L.Flatten(),
                               L.Dense(3, activation="softmax")])


def multi_input():
    L = kbridge.layers
    seq = kbridge.Input((5, 3), name="seq")
    vec = kbridge.Input((4,), name="vec")
    h = L.Bidirectional(L.GRU(3, return_sequences=True))(seq)
    h = L.MultiHeadAttention(2, 2)(h, h)
    h = L.GlobalAveragePooling1D()(h)
    v = L.Dense(3, activation="tanh")(vec)
    return kbridge.Model([seq, vec], L.Dense(2)(Scale(1.5)(L.Concatenate()([h, v]))))


def small():
    L = kbridge.layers
    return kbridge.Sequential([kbridge.Input((4,)), L.Dense(5, activation="relu"),
                               L.BatchNormalization(), L.Dense(2)])


def _optimizer_steps(model, n, seed=6):
    """``n`` optimizer steps on made-up gradients: real optimizer state without a fit."""
    rng = np.random.default_rng(seed)
    variables = model.trainable_variables
    model.optimizer.build(variables)
    for _ in range(n):
        model.optimizer.apply([rng.normal(size=v.shape).astype("float32") for v in variables],
                              variables)


def _optimizer_values(model):
    return np.concatenate([np.ravel(np.asarray(v.numpy(), np.float64))
                           for v in model.optimizer.variables])


@functools.lru_cache(maxsize=None)
def _kbridge_files(root):
    """kbridge's files, from every backend, and the manifest keras_side.py checks."""
    rng = np.random.default_rng(0)
    x_img = rng.random((2, 8, 8, 1)).astype("float32")
    x_seq, x_vec = rng.random((2, 5, 3)).astype("float32"), rng.random((2, 4)).astype("float32")
    xs = rng.random((16, 4)).astype("float32")
    xm = rng.random((2, 3)).astype("float32")
    for name, value in [("img", x_img), ("seq", x_seq), ("vec", x_vec), ("xs", xs),
                        ("xm", xm)]:
        np.save(os.path.join(root, f"{name}.npy"), value)
    manifest = {}

    def expect(case, model, inputs, **spec):
        x = [np.load(os.path.join(root, f"{n}.npy")) for n in inputs]
        np.save(os.path.join(root, f"{case}_out.npy"),
                ops.convert_to_numpy(model(x[0] if len(x) == 1 else x)))
        manifest[case] = {"inputs": [f"{n}.npy" for n in inputs],
                          "expected": f"{case}_out.npy", **spec}

    for backend in BACKENDS:  # weights go through numpy: one big model is enough
        with kbridge.backend.use(backend):
            model = cnn()
            _perturb(model, 1)
            model.save(os.path.join(root, f"cnn_{backend}.keras"))
            expect(f"cnn_{backend}", model, ["img"], kind="model", file=f"cnn_{backend}.keras")
    with kbridge.backend.use(BACKENDS[-1]):
        model = multi_input()
        _perturb(model, 2)
        model.save(os.path.join(root, "multi.keras"))
        expect("multi", model, ["seq", "vec"], kind="model", file="multi.keras")
        _perturb(model, 3)  # the weights file differs from the archive's weights
        model.save_weights(os.path.join(root, "multi.weights.h5"))
        expect("multi_weights", model, ["seq", "vec"], kind="weights",
               file="multi.weights.h5", arch="multi.keras")
    with kbridge.backend.use(BACKENDS[0]):
        model = MLP()
        model(np.load(os.path.join(root, "xm.npy")))
        _perturb(model, 7)
        model.save_weights(os.path.join(root, "mlp.weights.h5"))
        expect("subclassed", model, ["xm"], kind="subclassed", file="mlp.weights.h5")
    for backend in DIFFERENTIABLE:
        with kbridge.backend.use(backend):
            model = small()
            model.compile(optimizer=kbridge.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
            _optimizer_steps(model, 2)
            model.save(os.path.join(root, f"compiled_{backend}.keras"))
            np.save(os.path.join(root, f"compiled_{backend}_opt.npy"), _optimizer_values(model))
            expect(f"compiled_{backend}", model, ["xs"], kind="model",
                   file=f"compiled_{backend}.keras", optimizer=f"compiled_{backend}_opt.npy")
    with kbridge.backend.use(BACKENDS[0]), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "HDF5 is legacy"
        model = cnn()
        _perturb(model, 4)
        model.save(os.path.join(root, "cnn.h5"))
        _perturb(model, 5)
        model.save_weights(os.path.join(root, "cnn_weights.h5"))
        expect("legacy_h5", model, ["img"], kind="legacy", file="cnn.h5",
               weights="cnn_weights.h5")
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return manifest


@functools.lru_cache(maxsize=None)
def _run_keras(keras_backend, root):
    """One subprocess: Keras on ``keras_backend`` loads kbridge's files (and, on jax, writes
    its own into ``root/keras``)."""
    _kbridge_files(root)
    command = [sys.executable, os.path.join(HERE, "keras_side.py"), root]
    if keras_backend == "jax":
        command += ["--write", os.path.join(root, "keras")]
    env = dict(os.environ, KERAS_BACKEND=keras_backend, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    pytest.importorskip("keras")
    return str(tmp_path_factory.mktemp("keras_files"))


@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
def test_keras_loads_what_kbridge_wrote(root, keras_backend):
    results = _run_keras(keras_backend, root)
    assert set(results) == set(_kbridge_files(root))
    for case, result in results.items():
        assert isinstance(result, dict), f"Keras ({keras_backend}) could not load {case}: " \
                                         f"{result}"
        assert result["output"] < 1e-5, (case, result)
        if "optimizer" in result:
            assert not isinstance(result["optimizer"], str), (case, result)
            assert result["optimizer"] < 1e-5, (case, result)


def test_kbridge_loads_what_keras_wrote(root, backend):
    _run_keras("jax", root)
    keras_dir = os.path.join(root, "keras")
    load = functools.partial(np.load, allow_pickle=False)
    model = kbridge.saving.load_model(os.path.join(keras_dir, "functional.keras"))
    assert isinstance(model.layers[-2], Scale) and model.layers[-2].factor == 1.5
    # kbridge's layout of the model is the file's, group for group
    editor = kbridge.saving.KerasFileEditor(os.path.join(keras_dir, "functional.keras"))
    assert editor.compare(model)["status"] == "success"
    x = [load(os.path.join(keras_dir, "functional_seq.npy")),
         load(os.path.join(keras_dir, "functional_vec.npy"))]
    np.testing.assert_allclose(ops.convert_to_numpy(model(x)),
                               load(os.path.join(keras_dir, "functional_out.npy")),
                               rtol=1e-5, atol=1e-5)
    mlp = MLP()
    xm = load(os.path.join(keras_dir, "mlp_x.npy"))
    mlp(xm)
    mlp.load_weights(os.path.join(keras_dir, "mlp.weights.h5"))
    np.testing.assert_allclose(ops.convert_to_numpy(mlp(xm)),
                               load(os.path.join(keras_dir, "mlp_out.npy")), rtol=1e-5, atol=1e-5)
    model = kbridge.models.load_model(os.path.join(keras_dir, "compiled.keras"))
    xs = load(os.path.join(keras_dir, "compiled_x.npy"))
    np.testing.assert_allclose(ops.convert_to_numpy(model(xs)),
                               load(os.path.join(keras_dir, "compiled_out.npy")),
                               rtol=1e-5, atol=1e-5)
    assert model.compiled and type(model.optimizer).__name__ == "Adam"
    np.testing.assert_allclose(_optimizer_values(model),
                               load(os.path.join(keras_dir, "compiled_opt.npy")), atol=1e-6)
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 2
    legacy = kbridge.saving.load_model(os.path.join(keras_dir, "compiled.h5"))
    np.testing.assert_allclose(ops.convert_to_numpy(legacy(xs)),
                               load(os.path.join(keras_dir, "compiled_out.npy")),
                               rtol=1e-5, atol=1e-5)
    assert legacy.compiled and type(legacy.optimizer).__name__ == "Adam"
