"""The real-Keras half of tests/saving/test_keras_export.py, run in a subprocess per Keras
backend (``KERAS_BACKEND`` set by the caller): never imports kbridge.

``python keras_side.py DIR`` loads every file listed in ``DIR/manifest.json`` (written by
kbridge) with Keras and prints one JSON line ``{case: max abs difference | error}``.
With ``--write OUT`` it also writes Keras archives into ``OUT`` for kbridge to load.
"""

import json
import os
import sys

import numpy as np

import keras

import twin_classes  # this script's folder is on sys.path


Scale, MLP = twin_classes.define(keras)  # the same classes as the kbridge side's


def _inputs(directory, names):
    arrays = [np.load(os.path.join(directory, n)) for n in names]
    return arrays[0] if len(arrays) == 1 else arrays


def _diff(a, b):
    a = keras.ops.convert_to_numpy(a)
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, np.float64))))


def check(directory):
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    results = {}
    for case, spec in manifest.items():
        try:
            path = os.path.join(directory, spec["file"])
            if spec["kind"] == "model":
                model = keras.saving.load_model(path)
            elif spec["kind"] == "subclassed":
                model = MLP()
                model(_inputs(directory, spec["inputs"]))
                model.load_weights(path)
            elif spec["kind"] == "weights":
                model = keras.saving.load_model(os.path.join(directory, spec["arch"]),
                                                compile=False)
                model.load_weights(path)
            else:  # legacy .h5 model (Keras 3 cannot compile its own "mse" string back)
                model = keras.saving.load_model(path, compile=False)
                if spec.get("weights"):
                    model.load_weights(os.path.join(directory, spec["weights"]))
            x = _inputs(directory, spec["inputs"])
            out = {"output": _diff(model(x),
                                   np.load(os.path.join(directory, spec["expected"])))}
            if spec.get("optimizer"):
                theirs = np.concatenate([np.ravel(np.asarray(v.numpy(), np.float64))
                                         for v in model.optimizer.variables])
                ours = np.load(os.path.join(directory, spec["optimizer"]))
                out["optimizer"] = _diff(theirs, ours) if theirs.shape == ours.shape \
                    else f"{theirs.shape} optimizer values, expected {ours.shape}"
            results[case] = out
        except Exception as e:  # reported to the test, which names the case
            results[case] = f"{type(e).__name__}: {e}"[:600]
    return results


def write(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(3)
    seq = keras.Input((5, 3), name="seq")
    vec = keras.Input((4,), name="vec")
    h = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))(seq)
    h = keras.layers.MultiHeadAttention(2, 2)(h, h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    v = keras.layers.Dense(3, activation="tanh")(vec)
    y = keras.layers.Dense(2)(Scale(1.5)(keras.layers.Concatenate()([h, v])))
    functional = keras.Model([seq, vec], y)
    functional.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype)
                            for w in functional.get_weights()])
    x = [rng.random((3, 5, 3)).astype("float32"), rng.random((3, 4)).astype("float32")]
    functional.save(os.path.join(out, "functional.keras"))
    np.save(os.path.join(out, "functional_seq.npy"), x[0])
    np.save(os.path.join(out, "functional_vec.npy"), x[1])
    np.save(os.path.join(out, "functional_out.npy"), keras.ops.convert_to_numpy(functional(x)))

    mlp = MLP()
    xm = rng.random((3, 3)).astype("float32")
    mlp(xm)
    mlp.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype) for w in mlp.get_weights()])
    mlp.save_weights(os.path.join(out, "mlp.weights.h5"))
    np.save(os.path.join(out, "mlp_x.npy"), xm)
    np.save(os.path.join(out, "mlp_out.npy"), keras.ops.convert_to_numpy(mlp(xm)))

    compiled = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu"),
                                 keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    compiled.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    xs = rng.random((16, 4)).astype("float32")
    # Two optimizer steps on made-up gradients: real optimizer state, without a (slow) fit.
    variables = compiled.trainable_variables
    compiled.optimizer.build(variables)
    for _ in range(2):
        compiled.optimizer.apply([rng.normal(size=v.shape).astype("float32") for v in variables],
                                 variables)
    compiled.save(os.path.join(out, "compiled.keras"))
    compiled.save(os.path.join(out, "compiled.h5"))  # Keras 3's legacy HDF5 model
    np.save(os.path.join(out, "compiled_x.npy"), xs)
    np.save(os.path.join(out, "compiled_out.npy"), keras.ops.convert_to_numpy(compiled(xs)))
    np.save(os.path.join(out, "compiled_opt.npy"),
            np.concatenate([np.ravel(np.asarray(v.numpy(), np.float64))
                            for v in compiled.optimizer.variables]))


if __name__ == "__main__":
    report = check(sys.argv[1])
    if "--write" in sys.argv:
        write(sys.argv[sys.argv.index("--write") + 1])
    print(json.dumps(report))
