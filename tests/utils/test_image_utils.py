"""load_img / img_to_array / array_to_img / save_img / smart_resize against Keras 3 on real
PNG and JPEG files."""

import io

import keras
import numpy as np
import pytest
from PIL import Image

import kbridge
from kbridge import ops
from kbridge.errors import ArgumentError

RGB = np.random.RandomState(0).randint(0, 256, (10, 16, 3)).astype("uint8")


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(RGB).save(folder / "a.png")
    Image.fromarray(RGB).save(folder / "a.jpg", quality=90)
    Image.fromarray(np.dstack([RGB, RGB[..., :1]])).save(folder / "rgba.png")
    return folder


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "rgba.png"])
@pytest.mark.parametrize("kwargs", [
    {}, {"color_mode": "grayscale"}, {"color_mode": "rgba"},
    {"target_size": (6, 7), "interpolation": "bilinear"},
    {"target_size": (8, 8), "keep_aspect_ratio": True, "interpolation": "bicubic"}])
def test_load_img_matches_keras(image_files, name, kwargs):
    ours = kbridge.utils.load_img(image_files / name, **kwargs)
    theirs = keras.utils.load_img(str(image_files / name), **kwargs)
    assert ours.mode == theirs.mode and ours.size == theirs.size
    np.testing.assert_array_equal(kbridge.utils.img_to_array(ours),
                                  keras.utils.img_to_array(theirs))


def test_load_img_from_bytes_and_errors(image_files):
    data = io.BytesIO((image_files / "a.png").read_bytes())
    np.testing.assert_array_equal(np.asarray(kbridge.utils.load_img(data)), RGB)
    with pytest.raises(ArgumentError, match="color_mode"):
        kbridge.utils.load_img(image_files / "a.png", color_mode="cmyk")
    with pytest.raises(ArgumentError, match="interpolation"):
        kbridge.utils.load_img(image_files / "a.png", target_size=(3, 3), interpolation="cubic")
    with pytest.raises(ArgumentError, match="BytesIO"):
        kbridge.utils.load_img(3)


@pytest.mark.parametrize("shape, data_format, scale", [
    ((5, 4, 3), "channels_last", True), ((5, 4, 1), "channels_last", False),
    ((4, 5, 4), "channels_first", True), ((5, 4, 1), "channels_last", True)])
def test_array_img_round_trip_matches_keras(shape, data_format, scale):
    x = np.random.RandomState(2).uniform(0, 255, shape).astype("float32")
    ours = kbridge.utils.array_to_img(x, data_format=data_format, scale=scale)
    theirs = keras.utils.array_to_img(x, data_format=data_format, scale=scale)
    assert ours.mode == theirs.mode
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    back = kbridge.utils.img_to_array(ours, data_format=data_format, dtype="uint8")
    np.testing.assert_array_equal(back, keras.utils.img_to_array(theirs, data_format,
                                                                 dtype="uint8"))
    with pytest.raises(ArgumentError, match="rank 3"):
        kbridge.utils.array_to_img(x[0])


def test_save_img_writes_what_keras_writes(tmp_path):
    x = np.random.RandomState(3).uniform(0, 1, (6, 5, 4)).astype("float32")
    kbridge.utils.save_img(tmp_path / "ours.png", x)
    keras.utils.save_img(tmp_path / "theirs.png", x)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "ours.png")),
                                  np.asarray(Image.open(tmp_path / "theirs.png")))
    with pytest.warns(UserWarning, match="alpha"):
        kbridge.utils.save_img(tmp_path / "ours.jpg", x)
    assert Image.open(tmp_path / "ours.jpg").mode == "RGB"


@pytest.mark.parametrize("shape, size, data_format", [
    ((30, 60, 3), (20, 20), "channels_last"), ((2, 40, 25, 1), (10, 16), "channels_last"),
    ((3, 21, 35), (7, 9), "channels_first")])
def test_smart_resize_matches_keras(shape, size, data_format):
    x = np.random.RandomState(4).rand(*shape).astype("float32")
    ours = kbridge.preprocessing.image.smart_resize(x, size, data_format=data_format)
    theirs = keras.preprocessing.image.smart_resize(x, size, data_format=data_format)
    assert isinstance(ours, np.ndarray) and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_smart_resize_tensor(backend):
    x = np.random.RandomState(5).rand(12, 30, 2).astype("float32")
    out = kbridge.utils.smart_resize(ops.convert_to_tensor(x), (6, 6))
    assert kbridge.backend.of(out) == backend
    np.testing.assert_allclose(ops.convert_to_numpy(out),
                               keras.preprocessing.image.smart_resize(x, (6, 6)), atol=1e-5)
