"""The framework-neutral objects of kbridge.distribution (Keras 3's keras.distribution)."""

import numpy as np
import pytest

import kbridge
from kbridge import distribution as kd
from kbridge.errors import KbridgeError

DEVICES = [f"cpu:{i}" for i in range(8)]


@pytest.fixture(autouse=True)
def no_distribution():
    yield
    kd.set_distribution(None)


class _Var:  # what the distribution reads of a Variable
    def __init__(self, path, shape, layout=None):
        self.path, self.shape, self._layout = path, shape, layout


def mesh_2x4():
    return kd.DeviceMesh((2, 4), ["batch", "model"], DEVICES)


def test_exported_from_kbridge():
    assert kbridge.distribution is kd
    assert issubclass(kd.DistributionError, KbridgeError)
    assert issubclass(kd.DistributionError, ValueError)


def test_device_mesh():
    mesh = mesh_2x4()
    assert mesh.shape == (2, 4) and mesh.axis_names == ["batch", "model"]
    assert mesh.devices.shape == (2, 4) and mesh.devices[1, 0] == "cpu:4"


@pytest.mark.parametrize("shape, names, devices, message", [
    ((2, 4), ["batch"], DEVICES, "same, non-zero length"),
    ((2, 2), ["a", "b"], DEVICES, "needs 4 devices. Received: 8 devices"),
    ((2, 4), ["a", "a"], DEVICES, "must be unique"),
])
def test_device_mesh_errors(shape, names, devices, message):
    with pytest.raises(kd.DistributionError, match=message):
        kd.DeviceMesh(shape, names, devices)


def test_tensor_layout():
    mesh = mesh_2x4()
    layout = kd.TensorLayout((None, "model"))
    assert layout.device_mesh is None
    layout.device_mesh = mesh
    assert layout.axes == (None, "model") and layout.device_mesh is mesh
    with pytest.raises(kd.DistributionError, match="already has a device mesh"):
        layout.device_mesh = mesh
    with pytest.raises(kd.DistributionError, match=r"does not have: \['rows'\]"):
        kd.TensorLayout(("rows", None), mesh)


def test_layout_map_regex_lookup():
    mesh = mesh_2x4()
    layout_map = kd.LayoutMap(mesh)
    layout_map["dense.*kernel"] = (None, "model")
    layout_map["dense.*bias"] = kd.TensorLayout(("model",))
    layout_map["conv2d/kernel"] = (None, None, None, "model")
    assert layout_map["model/dense_1/kernel"].axes == (None, "model")
    assert layout_map["model/dense_1/kernel"].device_mesh is mesh
    assert layout_map["dense/bias"].axes == ("model",)
    assert layout_map["model/embedding/embeddings"] is None
    assert len(layout_map) == 3 and list(layout_map)[0] == "dense.*kernel"
    del layout_map["conv2d/kernel"]
    assert len(layout_map) == 2 and layout_map["conv2d/kernel"] is None


def test_layout_map_exact_key_wins_and_ambiguity_is_an_error():
    layout_map = kd.LayoutMap(mesh_2x4())
    layout_map["dense"] = ("model",)
    layout_map["dense/kernel"] = (None, "model")
    assert layout_map["dense/kernel"].axes == (None, "model")  # exact, though both match
    with pytest.raises(kd.DistributionError, match="matches several keys"):
        layout_map["x/dense/kernel"]


def test_layout_map_errors():
    mesh = mesh_2x4()
    layout_map = kd.LayoutMap(mesh)
    layout_map["k"] = (None, "model")
    with pytest.raises(kd.DistributionError, match="'k' is already in the LayoutMap"):
        layout_map["k"] = (None, None)
    with pytest.raises(kd.DistributionError, match="not one"):
        layout_map["dense(["] = (None,)
    with pytest.raises(kd.DistributionError, match="Received: str"):
        layout_map["b"] = "model"
    other = kd.DeviceMesh((8,), ["batch"], DEVICES)
    with pytest.raises(kd.DistributionError, match="another mesh"):
        layout_map["c"] = kd.TensorLayout(("batch",), other)
    with pytest.raises(kd.DistributionError, match="needs a DeviceMesh"):
        kd.LayoutMap((2, 4))


def test_data_parallel():
    dp = kd.DataParallel(devices=DEVICES)
    assert dp.device_mesh.shape == (8,) and dp.batch_dim_name == "batch"
    assert dp.num_model_replicas == 8
    assert dp.get_data_layout((64, 6)).axes == ("batch", None)
    assert dp.get_variable_layout(_Var("dense/kernel", (6, 3))).axes == (None, None)
    assert dp.get_variable_layout(_Var("v", (6,), layout=("batch",))).axes == ("batch",)
    mesh = kd.DeviceMesh((8,), ["data"], DEVICES)
    assert kd.DataParallel(device_mesh=mesh).batch_dim_name == "data"


def test_data_parallel_errors():
    with pytest.raises(kd.DistributionError, match=r"1D device mesh. Received a mesh of shape "
                                                    r"\(2, 4\)"):
        kd.DataParallel(device_mesh=mesh_2x4())
    with pytest.raises(kd.DistributionError, match="not both"):
        kd.DataParallel(device_mesh=kd.DeviceMesh((8,), ["b"], DEVICES), devices=DEVICES)
    with pytest.raises(kd.DistributionError, match="must be a DeviceMesh"):
        kd.DataParallel(device_mesh=(8,))


def test_model_parallel():
    layout_map = kd.LayoutMap(mesh_2x4())
    layout_map["dense.*kernel"] = (None, "model")
    mp = kd.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    assert mp.num_model_replicas == 2
    assert mp.get_data_layout((16, 3, 5)).axes == ("batch", None, None)
    assert mp.get_variable_layout(_Var("m/dense/kernel", (6, 8))).axes == (None, "model")
    assert mp.get_variable_layout(_Var("m/dense/bias", (8,))).axes == (None,)
    assert mp.get_tensor_layout("m/dense/kernel").axes == (None, "model")
    assert kd.ModelParallel(layout_map=layout_map).batch_dim_name == "batch"  # the first axis
    with pytest.raises(kd.DistributionError, match=r"has 2 axes; the variable has shape \(8,\)"):
        mp.get_variable_layout(_Var("m/dense/kernel", (8,)))


def test_model_parallel_errors():
    layout_map = kd.LayoutMap(mesh_2x4())
    with pytest.raises(kd.DistributionError, match="needs layout_map=LayoutMap"):
        kd.ModelParallel()
    with pytest.raises(kd.DistributionError, match=r"\['batch', 'model'\]. Received: 'data'"):
        kd.ModelParallel(layout_map=layout_map, batch_dim_name="data")
    with pytest.raises(kd.DistributionError, match="Unexpected arguments"):
        kd.ModelParallel(layout_map=layout_map, bogus=1)


def test_set_distribution_and_scope():
    assert kd.distribution() is None
    dp = kd.DataParallel(devices=DEVICES)
    mp = kd.ModelParallel(layout_map=kd.LayoutMap(mesh_2x4()))
    kd.set_distribution(dp)
    assert kd.distribution() is dp
    with mp.scope() as scoped:
        assert scoped is mp and kd.distribution() is mp
    assert kd.distribution() is dp
    with pytest.raises(kd.DistributionError, match="Received: str"):
        kd.set_distribution("data_parallel")


def test_list_devices_per_backend():
    with kbridge.backend.use("jax"):
        assert kd.list_devices() == ["cpu:0"]  # this process's jax has one device
        assert kd.DataParallel().device_mesh.devices.tolist() == ["cpu:0"]
    with kbridge.backend.use("torch"):
        assert kd.list_devices("cpu") == ["cpu:0"]
    with kbridge.backend.use("numpy"), pytest.raises(kd.DistributionError, match="numpy"):
        kd.list_devices()
    with pytest.raises(kd.DistributionError, match="Received: 'fpga'"):
        kd.list_devices("fpga")


def test_one_device_data_parallel_fit_on_jax():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    with kbridge.backend.use("jax"):
        def build(weights=None):
            model = kbridge.Sequential([kbridge.layers.Input((3,)), kbridge.layers.Dense(2)])
            if weights is not None:
                model.set_weights(weights)
            model.compile(optimizer="sgd", loss="mse")
            return model
        reference = build()
        w0 = reference.get_weights()
        reference.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        with kd.DataParallel().scope():
            model = build(w0)
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        assert type(model.weights[0].value.sharding).__name__ == "NamedSharding"
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_initialize_arguments(monkeypatch):
    for name in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID", "MASTER_ADDR", "WORLD_SIZE", "RANK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(kd.DistributionError, match=r"process_id must be in \[0, 2\). "
                                                    r"Received: process_id=2"):
        kd.initialize("h:1", 2, 2)
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "two")
    with pytest.raises(kd.DistributionError, match="num_processes='two'"):
        kd.initialize()
    monkeypatch.delenv("KERAS_DISTRIBUTION_NUM_PROCESSES")
    with kbridge.backend.use("torch"), pytest.raises(kd.DistributionError, match="torchrun"):
        kd.initialize()  # nothing says where the job is
    monkeypatch.setenv("TF_CONFIG", "{}")
    monkeypatch.delenv("TF_CONFIG")
    with kbridge.backend.use("tensorflow"), pytest.raises(kd.DistributionError,
                                                          match="one address per process"):
        kd.initialize("h:1", 2, 0)


def test_alone_every_process_is_rank_zero(tmp_path):
    assert kd.process_info() == (0, 1)
    kd.barrier()  # returns at once
    calls = []
    save = kd.distribution_lib.rank_zero_writes(lambda m, p: calls.append(p) or p)
    assert save(None, tmp_path) == tmp_path and calls == [tmp_path]
