"""Loading a release does not draw random initial values for weights it then overwrites,
still initialises any variable the release does not hold, and holds each weight once."""

import numpy as np
import pytest

import kbridge
from kbridge import initializers
from kbridge.backend.common.variables import AllocationBudget
from tests.conftest import traced_numpy_load


def test_loading_runs_no_initializer_of_a_loaded_weight(tmp_path, monkeypatch):
    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((6,)), kbridge.layers.Dense(5),
                                    kbridge.layers.BatchNormalization(), kbridge.layers.Dense(2)])
    kbridge.hub.save(model, str(tmp_path / "r"))
    calls = []
    for cls in (initializers.GlorotUniform, initializers.Zeros, initializers.Ones):
        original = cls.__call__
        monkeypatch.setattr(cls, "__call__",
                            lambda self, *a, _o=original, **k: calls.append(self) or _o(
                                self, *a, **k))
    for backend in kbridge.backend.available():
        back = kbridge.hub.load(str(tmp_path / "r"), backend=backend)
        for got, want in zip(back.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(got, want)
    assert calls == []


def test_variables_the_release_does_not_hold_are_initialised_after_loading():
    budget = AllocationBudget(10 ** 6, 10, ValueError, defer_initializers=True)
    with kbridge.backend.use("numpy"), budget:
        loaded = kbridge.Variable(initializers.Ones(), shape=(2, 3), name="loaded")
        extra = kbridge.Variable(initializers.Constant(7.0), shape=(4,), name="extra")
    assert not extra.numpy().any()  # zeros until told
    assert extra.numpy().strides == (0,)  # a placeholder: nothing allocated
    loaded.assign(np.full((2, 3), 5.0, "float32"))
    budget.initialize_unassigned()
    np.testing.assert_array_equal(extra.numpy(), np.full(4, 7.0))
    np.testing.assert_array_equal(loaded.numpy(), np.full((2, 3), 5.0))


def test_a_load_allocates_the_weights_once(tmp_path):
    """numpy allocations are traced: building the architecture and reading the weights
    together may not allocate much more than the weights themselves (they used to be
    allocated three times: placeholder arithmetic, zeros, and the copy of the file)."""
    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((512,)), kbridge.layers.Dense(2048),
                                    kbridge.layers.Dense(1024)])
    path = kbridge.hub.save(model, str(tmp_path / "r"))
    weights = sum(w.nbytes for w in model.get_weights())
    back, peak = traced_numpy_load(path)
    assert peak < 1.15 * weights, (peak, weights)
    for got, want in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_torch_variables_keep_the_array_the_loader_read(tmp_path):
    torch = pytest.importorskip("torch")
    from kbridge.hub import safetensors_io

    array = np.arange(12, dtype="float32").reshape(3, 4)
    safetensors_io.write(str(tmp_path / "w.safetensors"), {"w": array})
    lazy, _ = safetensors_io.read_lazy(str(tmp_path / "w.safetensors"))
    budget = AllocationBudget(10 ** 6, 10, ValueError, defer_initializers=True)
    with kbridge.backend.use("torch"), budget:
        v = kbridge.Variable(initializers.Zeros(), shape=(3, 4), name="w")
    read = lazy["w"].read()
    v._load(read)
    assert isinstance(v.value, torch.nn.Parameter)
    assert v.value.data_ptr() == read.ctypes.data  # adopted, not copied
    v.assign(np.ones((3, 4), "float32"))  # later assignments copy in place, as always
    assert v.value.data_ptr() == read.ctypes.data
    np.testing.assert_array_equal(v.numpy(), np.ones((3, 4)))


def test_read_only_scalars_stay_scalars_on_every_backend():
    """A 0-d weight read from a file (read-only, like a memory map) keeps shape ``()``."""
    value = np.array(2.5, "float32")
    value.flags.writeable = False
    for backend in kbridge.backend.available():
        with kbridge.backend.use(backend):
            v = kbridge.Variable(value, name="scale")
            assert v.shape == () and kbridge.ops.convert_to_tensor(value).shape == ()
            np.testing.assert_array_equal(v.numpy(), 2.5)
