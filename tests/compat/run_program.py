"""Run a Keras program from ``programs/`` with real Keras or with kbridge.

A program is plain Keras 3 code (``import keras``, ``from keras import layers, ops``). For kbridge
only its keras import lines are rewritten (``import keras`` -> ``import kbridge as keras``,
``from keras.x import y`` -> ``from kbridge.x import y``); nothing else changes. A program
records what it wants compared in the global dict ``RESULTS`` (numbers or nested lists).

    python tests/compat/run_program.py keras|kbridge <backend> <results.json> [<program>...]
"""

import json
import os
import re
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "programs")

_IMPORT = re.compile(r"^(\s*)import keras\s*$", re.M)
_FROM = re.compile(r"^(\s*)from keras(\.[\w.]+)? import", re.M)


def program_names():
    return sorted(f[:-3] for f in os.listdir(PROGRAMS) if f.endswith(".py") and f[0] != "_")


def kbridge_source(source):
    """The program with its keras imports pointed at kbridge; everything else unchanged."""
    source = _IMPORT.sub(r"\1import kbridge as keras", source)
    return _FROM.sub(lambda m: f"{m.group(1)}from kbridge{m.group(2) or ''} import", source)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "shape") or isinstance(value, (np.generic, float, int, bool)):
        return np.asarray(value).tolist()
    return value


def deterministic_weights(model, seed=0):
    """Give ``model`` the same weights under Keras and kbridge (their initializers' random
    streams differ): uniform(-0.3, 0.3), variances in (0.5, 1.5)."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        shape = tuple(int(d) for d in w.shape)
        path = getattr(w, "path", None) or w.name
        low, high = (0.5, 1.5) if "variance" in path else (-0.3, 0.3)
        values.append(rng.uniform(low, high, shape).astype(str(w.dtype).replace("torch.", "")))
    model.set_weights(values)


def run(name, flavour, workdir):
    """``RESULTS`` of program ``name`` run with ``flavour`` ('keras' or 'kbridge') in ``workdir``."""
    with open(os.path.join(PROGRAMS, name + ".py")) as f:
        source = f.read()
    if flavour == "kbridge":
        source = kbridge_source(source)
    namespace = {"__name__": "__main__", "RESULTS": {}, "WORKDIR": workdir,
                 "deterministic_weights": deterministic_weights}
    cwd = os.getcwd()
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    try:
        exec(compile(source, f"{name}.py", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return _plain(namespace["RESULTS"])


def main(argv):
    flavour, backend, out_path, names = argv[0], argv[1], argv[2], argv[3:] or program_names()
    os.environ["KERAS_BACKEND" if flavour == "keras" else "KBRIDGE_BACKEND"] = backend
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            start = time.perf_counter()
            try:
                out[name] = {"results": run(name, flavour, os.path.join(tmp, name))}
            except Exception as exc:  # reported, compared by the test
                import traceback

                out[name] = {"error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()[-3000:]}
            out[name]["seconds"] = round(time.perf_counter() - start, 2)
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1:])
