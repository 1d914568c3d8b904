"""Loading a release: ``kbridge.hub.load`` against reading the same safetensors file raw.

Run by :mod:`benchmarks.run` in its own process. A ~117 MB float32 release (an MLP
2048-4096-4096-1000) is loaded on each backend; the reference is ``safetensors``' own
``load_file`` for that framework (numpy, flax, torch, tensorflow), its tensors copied where
the loader only maps the file (torch), in the same process, medians of ``repeat``
interleaved loads. Peak memory is the resident-set growth of one load in a fresh process,
against the file size.
"""

import os
import subprocess
import sys
import tempfile
import time

__all__ = ["measure"]

_LOADERS = {"numpy": "safetensors.numpy", "jax": "safetensors.flax",
            "torch": "safetensors.torch", "tensorflow": "safetensors.tensorflow"}


def _materialise(backend, tensors):
    """Copies the framework owns: what a model's weights are (torch's ``load_file`` only
    maps the file)."""
    import numpy as np

    if backend == "torch":
        return {k: v.clone() for k, v in tensors.items()}
    if backend == "numpy":
        return {k: np.array(v) for k, v in tensors.items()}
    return tensors  # flax and tensorflow loaders already return device arrays


def _release(directory, quick):
    import kbridge

    width = 512 if quick else 4096
    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((width // 2,)), kbridge.layers.Dense(width),
                                    kbridge.layers.Dense(width), kbridge.layers.Dense(1000)])
    path = os.path.join(directory, "release")
    kbridge.hub.save(model, path)
    return path


def _peak_growth_mb(path, backend):
    code = ("import resource, kbridge, sys\n"
            "kbridge.backend.load(sys.argv[2])\n"
            "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
            "before = rss()\n"
            "model = kbridge.hub.load(sys.argv[1], backend=sys.argv[2])\n"
            "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
            "print(max(peak, rss()) - before)")
    done = subprocess.run([sys.executable, "-c", code, path, backend], capture_output=True,
                          text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if done.returncode != 0:
        return None
    return float(done.stdout.strip().splitlines()[-1])


def measure(backends, quick=False, repeat=5):
    """``{backend: {"kbridge_s", "raw_s", "ratio", "peak_mb", "file_mb"}}``."""
    import importlib

    import kbridge

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = _release(tmp, quick)
        weights = os.path.join(path, "model.safetensors")
        file_mb = os.path.getsize(weights) / 2**20
        for backend in backends:
            loader = importlib.import_module(_LOADERS[backend]).load_file
            kbridge.hub.load(path, backend=backend)  # warm: imports, first-call setup
            _materialise(backend, loader(weights))
            ours, raw = [], []
            for _ in range(1 if quick else repeat):
                start = time.perf_counter()
                kbridge.hub.load(path, backend=backend)
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                _materialise(backend, loader(weights))
                raw.append(time.perf_counter() - start)
            ours.sort()
            raw.sort()
            kb, rw = ours[len(ours) // 2], raw[len(raw) // 2]
            out[backend] = {"kbridge_s": kb, "raw_s": rw, "ratio": kb / rw,
                            "peak_mb": _peak_growth_mb(path, backend), "file_mb": file_mb}
    return out
