"""The ``backend`` fixture: every installed backend (narrow with KBRIDGE_TEST_BACKENDS)."""

import os
import tracemalloc

os.environ.setdefault("KERAS_BACKEND", "numpy")  # Keras 3 is a test reference only

import pytest

import kbridge

_selected = os.environ.get("KBRIDGE_TEST_BACKENDS")
BACKENDS = [
    b for b in kbridge.backend.available()
    if not _selected or b in [s.strip() for s in _selected.split(",")]
]
DIFFERENTIABLE = [b for b in BACKENDS if b != "numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Runs the test once per backend, with that backend active."""
    with kbridge.backend.use(request.param):
        yield request.param


@pytest.fixture(params=DIFFERENTIABLE)
def trainable_backend(request):
    """Runs the test once per backend that has gradients (jax, torch, tensorflow)."""
    with kbridge.backend.use(request.param):
        yield request.param


def traced_numpy_load(path, **kwargs):
    """``kbridge.hub.load(path, backend="numpy", **kwargs)`` and the peak of the Python (so
    numpy) allocations it made. An untraced load first keeps imports and caches out."""
    kbridge.hub.load(path, backend="numpy", **kwargs)
    tracemalloc.start()
    try:
        model = kbridge.hub.load(path, backend="numpy", **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return model, peak
