"""Loading a release: ``kbridge.hub.load`` against reading the same safetensors file raw.

Run by :mod:`benchmarks.run` in its own process. A ~117 MB float32 release (an MLP
2048-4096-4096-1000) is loaded on each backend; the reference is ``safetensors``' own
``load_file`` for that framework (numpy, flax, torch, tensorflow), its tensors copied where
the loader only maps the file (torch), in the same process, medians of ``repeat``
interleaved loads. Peak memory is the resident-set growth of one load in a fresh process
whose imports and first-call setup a small load has already done (the kernel's peak-RSS
mark is reset just before), against the file size; the raw loader is measured the same way.
"""

import os
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


def _release(directory, quick, width=None):
    import kbridge

    width = width or (512 if quick else 4096)
    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((width // 2,)), kbridge.layers.Dense(width),
                                    kbridge.layers.Dense(width), kbridge.layers.Dense(1000)])
    path = os.path.join(directory, f"release-{width}")
    kbridge.hub.save(model, path)
    return path


_LOAD = """
import importlib, os
import kbridge
from benchmarks.hub_load import _LOADERS, _materialise
backend, what = sys.argv[3:5]
def load(p):
    if what == "kbridge":
        return kbridge.hub.load(p, backend=backend)
    return _materialise(backend, importlib.import_module(_LOADERS[backend]).load_file(
        os.path.join(p, "model.safetensors")))
"""


def _peak_growth_mb(path, small, backend, what):
    """Peak resident-set growth (MiB) of loading ``path`` with ``what`` ("kbridge" or "raw"),
    None if the load failed."""
    from benchmarks.peak_memory import peak_growth_mb

    return peak_growth_mb(_LOAD, path, small, backend, what)[0]


def measure(backends, quick=False, repeat=5):
    """``{backend: {"kbridge_s", "raw_s", "ratio", "peak_mb", "raw_peak_mb", "file_mb"}}``."""
    import importlib

    import kbridge

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = _release(tmp, quick)
        small = _release(tmp, quick, width=64)
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
                            "peak_mb": _peak_growth_mb(path, small, backend, "kbridge"),
                            "raw_peak_mb": _peak_growth_mb(path, small, backend, "raw"),
                            "file_mb": file_mb}
    return out
