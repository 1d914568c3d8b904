"""kbridge.applications' names, signatures, parameter counts, preprocessing and errors vs Keras."""

import inspect
import os

import numpy as np
import pytest

import kbridge
from kbridge import applications
from kbridge.errors import ArgumentError, KbridgeError

# Counted in the default run (building at the default size is slow); the rest are slow tests.
_SMALL = ["MobileNet", "MobileNetV3Small"]
_ALL = sorted(n for n in dir(applications) if n[0].isupper())


def _public(module):
    return sorted(n for n in dir(module) if not n.startswith("_"))


def test_names_match_keras():
    import keras

    assert _public(applications) == _public(keras.applications)
    assert len(_public(applications)) == 57
    for name in _public(keras.applications):
        if not name[0].isupper():
            theirs = set(_public(getattr(keras.applications, name)))
            assert theirs <= set(_public(getattr(applications, name))), name


@pytest.mark.parametrize("name", _ALL)
def test_signature_matches_keras(name):
    import keras

    ours = inspect.signature(getattr(applications, name)).parameters
    theirs = inspect.signature(getattr(keras.applications, name)).parameters
    assert [(p.name, p.default) for p in ours.values()] == \
        [(p.name, p.default) for p in theirs.values()]


def _count_case(name):
    marks = () if name in _SMALL else (pytest.mark.slow,)
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_count_case(n) for n in _ALL])
def test_parameter_count_matches_keras(name):
    import keras

    expected = getattr(keras.applications, name)(weights=None).count_params()
    with kbridge.backend.use("numpy"):
        model = getattr(applications, name)(weights=None)
    assert model.count_params() == expected


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format,shape", [("channels_last", (2, 4, 5, 3)),
                                               ("channels_first", (2, 3, 4, 5)),
                                               ("channels_first", (3, 4, 5)),
                                               ("channels_last", (4, 5, 3))])
def test_preprocess_input_numpy_matches_keras(mode, data_format, shape):
    import keras

    x = np.random.default_rng(1).uniform(0, 255, shape).astype("float32")
    expected = keras.applications.imagenet_utils.preprocess_input(x.copy(), data_format, mode)
    out = applications.imagenet_utils.preprocess_input(x.copy(), data_format, mode)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_input_tensor_matches_keras(mode, backend):
    import keras

    x = np.random.default_rng(2).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    expected = np.asarray(keras.applications.imagenet_utils.preprocess_input(
        keras.ops.convert_to_tensor(x), "channels_last", mode))
    out = applications.imagenet_utils.preprocess_input(kbridge.ops.convert_to_tensor(x),
                                                       "channels_last", mode)
    assert kbridge.backend.of(out) == backend
    np.testing.assert_allclose(kbridge.ops.convert_to_numpy(out), expected, rtol=1e-6, atol=1e-5)


def test_per_model_preprocessing_modes():
    x = np.full((1, 2, 2, 3), 255.0, "float32")
    assert np.all(applications.mobilenet_v2.preprocess_input(x.copy()) == 1.0)
    np.testing.assert_allclose(applications.densenet.preprocess_input(x.copy())[0, 0, 0],
                               (1 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225],
                               rtol=1e-6)
    np.testing.assert_allclose(applications.vgg16.preprocess_input(x.copy())[0, 0, 0],
                               255 - np.array([103.939, 116.779, 123.68]), rtol=1e-6)
    assert applications.efficientnet.preprocess_input(x) is x


def test_preprocess_input_bad_mode():
    with pytest.raises(ArgumentError, match="mode"):
        applications.imagenet_utils.preprocess_input(np.zeros((1, 2, 2, 3)), mode="bgr")


def test_bad_weights_argument(tmp_path):
    with pytest.raises(ArgumentError, match="weights"):
        applications.MobileNetV2(weights=str(tmp_path / "missing.h5"), input_shape=(32, 32, 3))


def test_bad_input_shape():
    with pytest.raises(ArgumentError, match="at least 32x32"):
        applications.ResNet50(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ArgumentError, match="at least 71x71"):
        applications.Xception(weights=None, include_top=False, input_shape=(64, 64, 3))
    with pytest.raises(ArgumentError, match="three integers"):
        applications.VGG16(weights=None, include_top=False, input_shape=(32, 32))
    with pytest.raises(ArgumentError, match="3 channels"):
        applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 1))
    with pytest.raises(ArgumentError, match="classes"):
        applications.VGG16(weights="imagenet", classes=10)


def test_imagenet_weights_missing_names_file_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(KbridgeError) as info:
        applications.MobileNetV2(weights="imagenet", include_top=False,
                                 input_shape=(96, 96, 3), alpha=0.35)
    message = str(info.value)
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert name in message
    assert f"https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/{name}" \
        in message
    assert os.path.join(str(tmp_path), "models", name) in message


def test_imagenet_weights_read_from_keras_cache(tmp_path, monkeypatch):
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    reference = keras.applications.MobileNet(weights=None, include_top=False, alpha=0.25,
                                             input_shape=(128, 128, 3))
    with h5py.File(tmp_path / "models" / "mobilenet_2_5_128_tf_no_top.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    with kbridge.backend.use("numpy"):
        model = applications.MobileNet(weights="imagenet", include_top=False, alpha=0.25,
                                       input_shape=(128, 128, 3))
    for ours, theirs in zip(model.weights, reference.weights):
        np.testing.assert_array_equal(kbridge.ops.convert_to_numpy(ours.value), theirs.numpy())


def test_decode_predictions(tmp_path, monkeypatch):
    import json

    from kbridge.applications import imagenet_utils

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)
    with pytest.raises(KbridgeError, match="imagenet_class_index.json"):
        applications.resnet.decode_predictions(np.zeros((1, 1000)))
    (tmp_path / "models").mkdir(exist_ok=True)
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    preds = np.zeros((2, 1000), "float32")
    preds[0, [3, 7]] = [0.5, 0.9]
    preds[1, 999] = 1.0
    top = applications.resnet.decode_predictions(preds, top=2)
    assert [t[:2] for t in top[0]] == [("n00000007", "class_7"), ("n00000003", "class_3")]
    assert top[1][0][1] == "class_999" and top[1][0][2] == 1.0
    with pytest.raises(ArgumentError, match=r"\(samples, 1000\)"):
        applications.resnet.decode_predictions(np.zeros((2, 10)))


def test_input_tensor():
    x = kbridge.Input((32, 32, 3))
    with kbridge.backend.use("numpy"):
        model = applications.MobileNetV2(weights=None, input_tensor=x, alpha=0.35,
                                         include_top=False, pooling="avg")
    assert model.inputs[0] is x
    assert model.output_shape == (None, 1280)
