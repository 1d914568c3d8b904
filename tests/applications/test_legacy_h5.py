"""kbridge.saving.legacy_h5: Keras's legacy HDF5 weights format, both directions."""

import h5py
import numpy as np
import pytest

import kbridge
from kbridge.hub.errors import ReleaseError
from kbridge.saving import legacy_h5


def _small_app(backend="numpy", **kwargs):
    from kbridge import applications

    with kbridge.backend.use(backend):
        return applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35,
                                        classes=3, **kwargs)


@pytest.fixture(scope="module")
def keras_model():
    import keras

    return keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35,
                                          classes=3)


def _values(model):
    return [np.asarray(kbridge.ops.convert_to_numpy(w.value)) for w in model.weights]


def test_layer_order_is_keras_order(keras_model):
    model = _small_app()
    # Unnamed layers are named by per-session counters: compare classes, and the names of
    # the layers with weights (the ones a weights file pairs).
    def summary(layers):
        return [(type(la).__name__, la.name if la.weights else None) for la in layers]

    assert summary(legacy_h5.keras_layer_order(model)) == summary(keras_model.layers)


def test_kbridge_file_loads_in_keras(tmp_path, keras_model, backend):
    from keras.src.legacy.saving import legacy_h5_format

    model = _small_app(backend)
    path = tmp_path / "model.h5"
    legacy_h5.save_weights_to_hdf5(model, path)
    with h5py.File(path, "r") as f:
        legacy_h5_format.load_weights_from_hdf5_group(f, keras_model)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    with kbridge.backend.use(backend):
        ours = kbridge.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(ours, np.asarray(keras_model(x)), atol=1e-5)


def test_round_trip_and_by_name(tmp_path):
    source, target = _small_app(), _small_app()
    path = tmp_path / "w.h5"
    legacy_h5.save_weights_to_hdf5(source, path)
    assert legacy_h5.is_legacy_h5(path)
    legacy_h5.load_weights_from_hdf5(target, path)
    for a, b in zip(_values(source), _values(target)):
        np.testing.assert_array_equal(a, b)
    legacy_h5.load_weights_from_hdf5(_small_app(), path, by_name=True)


def test_by_name_skip_mismatch(tmp_path):
    source = _small_app()
    path = tmp_path / "w.h5"
    legacy_h5.save_weights_to_hdf5(source, path)
    from kbridge import applications

    with kbridge.backend.use("numpy"):
        wider = applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35,
                                         classes=5)
    with pytest.raises(ReleaseError, match="predictions"):
        legacy_h5.load_weights_from_hdf5(wider, path, by_name=True)
    before = _values(wider)[-2:]
    with pytest.warns(UserWarning, match="Skipping layer 'predictions'"):
        legacy_h5.load_weights_from_hdf5(wider, path, by_name=True, skip_mismatch=True)
    for a, b in zip(before, _values(wider)[-2:]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(_values(wider)[0], _values(source)[0])


def test_positional_mismatch_is_clear(tmp_path):
    path = tmp_path / "w.h5"
    legacy_h5.save_weights_to_hdf5(_small_app(), path)
    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((4,)), kbridge.layers.Dense(2)])
    with pytest.raises(ReleaseError, match="weights for 105 layers, the model has 1 layers"):
        legacy_h5.load_weights_from_hdf5(model, path)


def test_chunked_attributes_round_trip(tmp_path):
    names = [f"layer_with_a_long_name_{i:05d}" for i in range(4000)]
    with h5py.File(tmp_path / "a.h5", "w") as f:
        legacy_h5.write_attribute(f, "layer_names", names)
        assert "layer_names" not in f.attrs and "layer_names0" in f.attrs
        assert legacy_h5.read_attribute(f, "layer_names") == names


@pytest.mark.parametrize("link", ["soft", "external"])
def test_links_are_refused(tmp_path, link):
    path = tmp_path / "w.h5"
    legacy_h5.save_weights_to_hdf5(_small_app(), path)
    with h5py.File(path, "a") as f:
        if link == "soft":
            f["sneaky"] = h5py.SoftLink("/Conv1")
        else:
            f["sneaky"] = h5py.ExternalLink("/etc/other.h5", "/data")
    with pytest.raises(ReleaseError, match=f"{link} link"):
        legacy_h5.load_weights_from_hdf5(_small_app(), path)


def test_external_storage_is_refused(tmp_path):
    path = tmp_path / "w.h5"
    legacy_h5.save_weights_to_hdf5(_small_app(), path)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.zeros(4, "float32").tobytes())
    with h5py.File(path, "a") as f:
        f.create_dataset("outside", shape=(4,), dtype="float32", external=[(str(raw), 0, 16)])
    with pytest.raises(ReleaseError, match="outside the file"):
        legacy_h5.load_weights_from_hdf5(_small_app(), path)


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "w.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(ReleaseError, match="not a readable HDF5 file"):
        legacy_h5.load_weights_from_hdf5(_small_app(), path)
