"""Datasets from arrays and directories against Keras 3 on real files written here: the
tf.data path element by element, and the PyDataset path (no TensorFlow) against it."""

import os
import wave

import keras
import numpy as np
import pytest
from PIL import Image

import kbridge
from kbridge.data.py_dataset import PyDataset
from kbridge.errors import ArgumentError
from kbridge.utils import dataset_utils

utils = kbridge.utils


@pytest.fixture
def no_tf(monkeypatch):
    """Runs the code as if TensorFlow were not installed."""
    monkeypatch.setattr(dataset_utils, "_tf", lambda: None)


def _np(x):
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def assert_same_batches(ours, theirs, exact=True):
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        a, b = (a, b) if isinstance(b, tuple) else ((a,), (b,))
        assert len(a) == len(b)
        for x, y in zip(a, b):
            x, y = _np(x), _np(y)
            assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, y.shape, x.dtype, y.dtype)
            if exact or x.dtype.kind in "OSU":
                np.testing.assert_array_equal(x, y)
            else:
                np.testing.assert_allclose(x, y, atol=1.5)  # 0..255; TF and Pillow round gray apart


# --- timeseries ------------------------------------------------------------------------------

DATA = np.arange(60, dtype="float32").reshape(30, 2)
TARGETS = np.arange(100, 130)


@pytest.mark.parametrize("kwargs", [
    {"targets": TARGETS},
    {"targets": None, "sequence_stride": 3, "sampling_rate": 2, "batch_size": 4},
    {"targets": TARGETS, "start_index": 4, "end_index": 25, "batch_size": 3},
    {"targets": TARGETS, "shuffle": True, "seed": 7, "batch_size": 2},
    {"targets": TARGETS, "shuffle": True, "seed": 3, "batch_size": None},
])
def test_timeseries_matches_keras(kwargs):
    kwargs = {"sequence_length": 5, "batch_size": 8, **kwargs}
    ours = utils.timeseries_dataset_from_array(DATA, **kwargs)
    theirs = keras.utils.timeseries_dataset_from_array(DATA, **kwargs)
    assert_same_batches(ours, theirs)
    if not kwargs.get("shuffle"):  # the PyDataset path cuts the same windows
        assert_same_batches(
            [ours_py for ours_py in _batches(kbridge.preprocessing.timeseries_dataset_from_array(
                DATA, format="grain", **kwargs))], theirs)


def _batches(py_dataset):
    assert isinstance(py_dataset, PyDataset)
    return [py_dataset[i] for i in range(len(py_dataset))]


def test_timeseries_pydataset_shuffle_keeps_the_windows(no_tf):
    ds = utils.timeseries_dataset_from_array(DATA, TARGETS, 4, batch_size=5, shuffle=True,
                                             seed=1)
    batches = _batches(ds)
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert sorted(y) == list(range(100, 127)) and not np.array_equal(y, np.sort(y))
    np.testing.assert_array_equal(x[:, 0, 0], (y - 100) * 2)


def test_timeseries_errors():
    with pytest.raises(ArgumentError, match="sampling_rate"):
        utils.timeseries_dataset_from_array(DATA, None, 3, sampling_rate=0)
    with pytest.raises(ArgumentError, match="end_index"):
        utils.timeseries_dataset_from_array(DATA, None, 3, start_index=5, end_index=4)
    with pytest.raises(ArgumentError, match="format"):
        utils.timeseries_dataset_from_array(DATA, None, 3, format="torch")


# --- images ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.RandomState(0)
    for c, name in enumerate(["cats", "dogs", "owls"]):
        (root / name / "nested").mkdir(parents=True)
        for i in range(3 + c):
            pixels = rng.randint(0, 256, (8 + i, 12 - c, 3)).astype("uint8")
            Image.fromarray(pixels).save(root / name / f"{i}.png")
        Image.fromarray(rng.randint(0, 256, (9, 9)).astype("uint8")).save(
            root / name / "nested" / "gray.PNG")
        (root / name / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


@pytest.mark.parametrize("kwargs", [
    {"seed": 1},
    {"label_mode": "categorical", "color_mode": "grayscale", "crop_to_aspect_ratio": True,
     "seed": 2, "interpolation": "nearest"},
    {"validation_split": 0.25, "subset": "both", "seed": 3, "pad_to_aspect_ratio": True,
     "class_names": ["owls", "cats"], "label_mode": "binary"},
    {"validation_split": 0.3, "subset": "validation", "shuffle": False, "color_mode": "rgba",
     "data_format": "channels_first"},
    {"labels": None, "batch_size": None, "seed": 4},
])
def test_image_dataset_matches_keras(image_dir, kwargs):
    kwargs = {"image_size": (6, 7), "batch_size": 4, "verbose": False, **kwargs}
    ours = utils.image_dataset_from_directory(image_dir, **kwargs)
    theirs = keras.utils.image_dataset_from_directory(str(image_dir), **kwargs)
    ours, theirs = (ours, theirs) if isinstance(theirs, list) else ([ours], [theirs])
    for a, b in zip(ours, theirs):
        assert a.class_names == b.class_names and a.file_paths == b.file_paths
        assert a.element_spec == b.element_spec
        assert_same_batches(a, b)


@pytest.mark.parametrize("kwargs", [
    {"label_mode": "categorical", "crop_to_aspect_ratio": True},
    {"validation_split": 0.25, "subset": "both", "color_mode": "grayscale", "labels": None},
])
def test_image_pydataset_path_matches_keras(image_dir, kwargs, no_tf):
    kwargs = {"image_size": (6, 7), "batch_size": 4, "verbose": False, "shuffle": False,
              **kwargs}
    ours = utils.image_dataset_from_directory(image_dir, **kwargs)
    theirs = keras.utils.image_dataset_from_directory(str(image_dir), **kwargs)
    ours, theirs = (ours, theirs) if isinstance(theirs, list) else ([ours], [theirs])
    for a, b in zip(ours, theirs):
        assert isinstance(a, PyDataset)
        assert a.class_names == b.class_names and a.file_paths == b.file_paths
        assert_same_batches(_batches(a), b, exact=False)


def test_image_labels_list_and_errors(image_dir):
    labels = list(range(15))  # one per image, in sorted path order
    ds = utils.image_dataset_from_directory(image_dir, labels=labels, seed=2,
                                            image_size=4, verbose=False, batch_size=None)
    assert labels == list(range(15))  # shuffled together with the paths, but a copy
    theirs = keras.utils.image_dataset_from_directory(str(image_dir), labels=list(labels),
                                                      seed=2, image_size=4,
                                                      verbose=False, batch_size=None)
    assert ds.class_names == theirs.class_names and ds.file_paths == theirs.file_paths
    assert_same_batches(ds, theirs)
    with pytest.raises(ArgumentError, match="one label per file"):
        utils.image_dataset_from_directory(image_dir, labels=[0, 1], verbose=False)
    with pytest.raises(ArgumentError, match="seed"):
        utils.image_dataset_from_directory(image_dir, validation_split=0.2, subset="training")
    with pytest.raises(ArgumentError, match="exactly 2"):
        utils.image_dataset_from_directory(image_dir, label_mode="binary", verbose=False)
    with pytest.raises(ArgumentError, match="subfolders"):
        utils.image_dataset_from_directory(image_dir, class_names=["cats", "cows"])
    with pytest.raises(ArgumentError, match="existing folder"):
        utils.image_dataset_from_directory(image_dir / "missing")


def test_follow_links(tmp_path, image_dir):
    (tmp_path / "a").mkdir()
    os.symlink(image_dir / "cats", tmp_path / "a" / "linked")
    kwargs = {"image_size": 4, "verbose": False, "shuffle": False}
    with pytest.raises(ArgumentError, match="No image files"):  # Keras: ValueError as well
        utils.image_dataset_from_directory(tmp_path, **kwargs)
    ours = utils.image_dataset_from_directory(tmp_path, follow_links=True, **kwargs)
    theirs = keras.utils.image_dataset_from_directory(str(tmp_path), follow_links=True,
                                                      **kwargs)
    assert ours.file_paths == theirs.file_paths and len(ours.file_paths) == 4


# --- text ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("texts")
    for c, name in enumerate(["neg", "pos"]):
        (root / name).mkdir()
        for i in range(4 + c):
            (root / name / f"{i}.txt").write_text(f"{name} review {i} " + "é" * i)
        (root / name / "skip.md").write_text("ignored")
    return root


@pytest.mark.parametrize("kwargs", [
    {"seed": 5, "max_length": 9},
    {"validation_split": 0.4, "subset": "both", "seed": 6, "label_mode": "categorical"},
    {"labels": None, "shuffle": False, "batch_size": None},
])
def test_text_dataset_matches_keras(text_dir, kwargs):
    kwargs = {"batch_size": 3, "verbose": False, **kwargs}
    ours = utils.text_dataset_from_directory(text_dir, **kwargs)
    theirs = keras.utils.text_dataset_from_directory(str(text_dir), **kwargs)
    ours, theirs = (ours, theirs) if isinstance(theirs, list) else ([ours], [theirs])
    for a, b in zip(ours, theirs):
        assert a.class_names == b.class_names and a.element_spec == b.element_spec
        assert_same_batches(a, b)


def test_text_pydataset_path(text_dir, no_tf):
    ours = utils.text_dataset_from_directory(text_dir, batch_size=4, shuffle=False,
                                             verbose=False)
    theirs = keras.utils.text_dataset_from_directory(str(text_dir), batch_size=4,
                                                     shuffle=False, verbose=False)
    for (x, y), (tx, ty) in zip(_batches(ours), theirs):
        assert list(x) == [t.decode("utf-8") for t in tx.numpy()]
        np.testing.assert_array_equal(y, ty.numpy())


# --- audio -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    rng = np.random.RandomState(1)
    for c, name in enumerate(["no", "yes"]):
        (root / name).mkdir()
        for i in range(3):
            samples = rng.randint(-32768, 32768, (20 + 7 * i + c, 1)).astype("<i2")
            with wave.open(str(root / name / f"{i}.wav"), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(8000)
                f.writeframes(samples.tobytes())
    return root


@pytest.mark.parametrize("kwargs", [
    {"seed": 2},
    {"output_sequence_length": 25, "label_mode": "binary", "validation_split": 0.5,
     "subset": "both", "seed": 1},
])
def test_audio_dataset_matches_keras(audio_dir, kwargs):
    kwargs = {"batch_size": 4, "verbose": False, **kwargs}
    ours = utils.audio_dataset_from_directory(audio_dir, **kwargs)
    theirs = keras.utils.audio_dataset_from_directory(str(audio_dir), **kwargs)
    ours, theirs = (ours, theirs) if isinstance(theirs, tuple) else ((ours,), (theirs,))
    for a, b in zip(ours, theirs):
        assert a.class_names == b.class_names
        assert_same_batches(a, b)


@pytest.mark.parametrize("length", [None, 25])
def test_audio_pydataset_path(audio_dir, length, no_tf):
    kwargs = {"batch_size": 4, "verbose": False, "shuffle": False,
              "output_sequence_length": length}
    ours = utils.audio_dataset_from_directory(audio_dir, **kwargs)
    theirs = keras.utils.audio_dataset_from_directory(str(audio_dir), **kwargs)
    assert_same_batches(_batches(ours), theirs)
    with pytest.raises(kbridge.errors.KbridgeError, match="TensorFlow"):
        utils.audio_dataset_from_directory(audio_dir, ragged=True, verbose=False)


# --- fit on the PyDataset path ---------------------------------------------------------------

def test_fit_takes_the_pydataset_path(image_dir, no_tf, trainable_backend):
    ds = utils.image_dataset_from_directory(image_dir, image_size=(4, 4), batch_size=5, seed=0,
                                            verbose=False)
    model = kbridge.Sequential([kbridge.Input((4, 4, 3)), kbridge.layers.Rescaling(1 / 255),
                                kbridge.layers.Flatten(), kbridge.layers.Dense(3)])
    model.compile("sgd", kbridge.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


# --- split_dataset ---------------------------------------------------------------------------

def test_split_dataset_arrays_match_keras():
    x = np.arange(20, dtype="float32").reshape(10, 2)
    y = np.arange(10)
    with kbridge.backend.use("numpy"):
        ours = utils.split_dataset((x, y), left_size=0.7, shuffle=True, seed=4)
        ours_array = utils.split_dataset(x, right_size=3)
    theirs = keras.utils.split_dataset((x, y), left_size=0.7, shuffle=True, seed=4)
    for a, b in zip(ours, theirs):
        assert a.element_spec == b.element_spec
        assert_same_batches(a, b)
    for a, b in zip(ours_array, keras.utils.split_dataset(x, right_size=3)):
        assert_same_batches(a, b)


def test_split_dataset_batched_tf_dataset_and_dicts():
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(
        {"a": np.arange(12.0), "b": np.arange(24).reshape(12, 2)}).batch(5)
    ours = utils.split_dataset(ds, left_size=8, right_size=3)
    theirs = keras.utils.split_dataset(ds, left_size=8, right_size=3)
    for a, b in zip(ours, theirs):
        got, want = list(a), list(b)
        assert len(got) == len(want)
        for p, q in zip(got, want):
            for key in ("a", "b"):
                np.testing.assert_array_equal(p[key].numpy(), q[key].numpy())


def test_split_dataset_torch_and_without_tf(no_tf):
    x, y = np.arange(10, dtype="float32"), np.arange(10) % 2
    left, right = utils.split_dataset((x, y), left_size=6, shuffle=True, seed=1,
                                      preferred_backend="torch")
    assert len(left) == 6 and len(right) == 4
    seen = sorted(float(left[i][0]) for i in range(6)) + sorted(float(right[i][0])
                                                                for i in range(4))
    assert sorted(seen) == list(range(10))
    with kbridge.backend.use("numpy"):
        (lx, ly), (rx, ry) = utils.split_dataset((x, y), left_size=0.5)
    np.testing.assert_array_equal(lx, x[:5])
    np.testing.assert_array_equal(ry, y[5:])
    with pytest.raises(ArgumentError, match="left_size"):
        utils.split_dataset(x, left_size=12, preferred_backend="tensorflow")
    with pytest.raises(ArgumentError, match="tf.data.Dataset"):
        utils.split_dataset("abc", left_size=1)
