"""kbridge.datasets loaders on tiny fake files in Keras's formats, placed in a temporary Keras
cache; compared with Keras's own loaders reading the same files."""

import gzip
import hashlib
import importlib
import io
import json
import pickle
import tarfile

import numpy as np
import pytest

import kbridge
from kbridge import datasets
from kbridge.utils.file_utils import DownloadError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """``$KERAS_HOME/datasets`` in a temporary folder."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    return tmp_path / "datasets"


def _trust(monkeypatch, module, path, attr="FILE_HASH"):
    """Makes ``module`` accept the fake file at ``path`` (its real hash is Keras's)."""
    monkeypatch.setattr(module, attr, hashlib.sha256(path.read_bytes()).hexdigest())


def _keras_loader(monkeypatch, name, path):
    """Keras's ``keras.datasets.<name>`` reading ``path`` instead of downloading."""
    module = importlib.import_module(f"keras.src.datasets.{name}")
    monkeypatch.setattr(module, "get_file", lambda *a, **k: str(path))
    return module


def _assert_same(ours, theirs):
    for a, b in zip(ours, theirs):
        for x, y in zip(a, b):
            assert x.dtype == y.dtype and x.shape == y.shape
            if x.dtype == object:
                assert [list(s) for s in x] == [list(s) for s in y]
            else:
                np.testing.assert_array_equal(x, y)


def test_mnist(cache, monkeypatch):
    rng = np.random.RandomState(0)
    path = cache / "mnist.npz"
    np.savez(path, x_train=rng.randint(0, 256, (5, 28, 28)).astype("uint8"),
             y_train=np.arange(5, dtype="uint8"), x_test=np.zeros((2, 28, 28), "uint8"),
             y_test=np.array([7, 8], "uint8"))
    _trust(monkeypatch, datasets.mnist, path)
    ours = datasets.mnist.load_data()
    _assert_same(ours, _keras_loader(monkeypatch, "mnist", path).load_data())
    assert ours[0][0].shape == (5, 28, 28) and ours[1][1].tolist() == [7, 8]


@pytest.mark.parametrize("name, kwargs", [
    ("boston_housing", {}), ("boston_housing", {"test_split": 0.3, "seed": 1}),
    ("california_housing", {"version": "small"}), ("california_housing", {"test_split": 0.0})])
def test_housing(cache, monkeypatch, name, kwargs):
    rng = np.random.RandomState(1)
    path = cache / f"{name}.npz"
    np.savez(path, x=rng.rand(700, 8), y=rng.rand(700).astype("float32"))
    module = getattr(datasets, name)
    _trust(monkeypatch, module, path)
    ours = module.load_data(**kwargs)
    _assert_same(ours, _keras_loader(monkeypatch, name, path).load_data(**kwargs))
    total = 600 if kwargs.get("version") == "small" else 700
    assert len(ours[0][0]) + len(ours[1][0]) == total
    with pytest.raises(kbridge.errors.ArgumentError, match="test_split"):
        module.load_data(test_split=1.0)


def _sequences(rng, n):
    return np.array([rng.randint(1, 30, rng.randint(2, 9)).tolist() for _ in range(n)],
                    dtype=object)


@pytest.mark.parametrize("kwargs", [
    {}, {"num_words": 12, "skip_top": 2, "maxlen": 8},
    {"oov_char": None, "start_char": None, "index_from": 0, "num_words": 20, "seed": 5}])
def test_imdb(cache, monkeypatch, kwargs):
    rng = np.random.RandomState(2)
    path = cache / "imdb.npz"
    np.savez(path, x_train=_sequences(rng, 9), y_train=rng.randint(0, 2, 9),
             x_test=_sequences(rng, 6), y_test=rng.randint(0, 2, 6))
    _trust(monkeypatch, datasets.imdb, path)
    ours = datasets.imdb.load_data(**kwargs)
    _assert_same(ours, _keras_loader(monkeypatch, "imdb", path).load_data(**kwargs))


@pytest.mark.parametrize("kwargs", [{}, {"num_words": 15, "maxlen": 7, "test_split": 0.5}])
def test_reuters(cache, monkeypatch, kwargs):
    rng = np.random.RandomState(3)
    path = cache / "reuters.npz"
    np.savez(path, x=_sequences(rng, 12), y=rng.randint(0, 46, 12))
    _trust(monkeypatch, datasets.reuters, path)
    ours = datasets.reuters.load_data(**kwargs)
    _assert_same(ours, _keras_loader(monkeypatch, "reuters", path).load_data(**kwargs))
    assert datasets.reuters.get_label_names()[:3] == ("cocoa", "grain", "veg-oil")
    assert len(datasets.reuters.get_label_names()) == 46


@pytest.mark.parametrize("name", ["imdb", "reuters"])
def test_word_index(cache, monkeypatch, name):
    path = cache / f"{name}_word_index.json"
    path.write_text(json.dumps({"the": 1, "and": 2}))
    module = getattr(datasets, name)
    monkeypatch.setattr(module, "WORD_INDEX_HASH", hashlib.md5(path.read_bytes()).hexdigest())
    assert module.get_word_index() == {"the": 1, "and": 2}


def test_npz_with_code_is_refused(cache, monkeypatch):
    path = cache / "imdb.npz"
    np.savez(path, x_train=np.array([print], dtype=object), y_train=np.zeros(1),
             x_test=np.array([print], dtype=object), y_test=np.zeros(1))
    _trust(monkeypatch, datasets.imdb, path)
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        datasets.imdb.load_data()


def test_fashion_mnist(cache):
    folder = cache / "fashion-mnist"
    folder.mkdir()
    rng = np.random.RandomState(4)
    arrays = {"train": (rng.randint(0, 256, (3, 28, 28)), np.array([1, 2, 3])),
              "t10k": (rng.randint(0, 256, (2, 28, 28)), np.array([9, 0]))}
    for split, (images, labels) in arrays.items():
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + labels.astype("uint8").tobytes())
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + images.astype("uint8").tobytes())
    (x_train, y_train), (x_test, y_test) = datasets.fashion_mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["train"][0])
    np.testing.assert_array_equal(y_test, [9, 0])
    assert x_test.dtype == np.uint8 and x_test.shape == (2, 28, 28)


def _pickled_batch(tar, name, n, rng, label_keys):
    batch = {b"data": rng.randint(0, 256, (n, 3072)).astype("uint8")}
    for key in label_keys:
        batch[key.encode()] = rng.randint(0, 100, n).tolist()
    data = pickle.dumps(batch, protocol=4)
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
    return batch


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cifar10(cache, monkeypatch, data_format):
    rng = np.random.RandomState(5)
    archive = cache / "cifar-10-batches-py-target_archive"
    with tarfile.open(archive, "w:gz") as tar:
        batches = [_pickled_batch(tar, f"cifar-10-batches-py/data_batch_{i}", 2, rng,
                                  ["labels"]) for i in range(1, 6)]
        test = _pickled_batch(tar, "cifar-10-batches-py/test_batch", 3, rng, ["labels"])
    _trust(monkeypatch, datasets.cifar10, archive)
    monkeypatch.setattr(kbridge.backend, "image_data_format", lambda: data_format)
    (x_train, y_train), (x_test, y_test) = datasets.cifar10.load_data()
    first = batches[0][b"data"][0].reshape(3, 32, 32)
    if data_format == "channels_last":
        first = first.transpose(1, 2, 0)
    assert x_train.shape == ((10, 32, 32, 3) if data_format == "channels_last"
                             else (10, 3, 32, 32))
    np.testing.assert_array_equal(x_train[0], first)
    assert y_train.shape == (10, 1) and y_train.dtype == np.uint8
    np.testing.assert_array_equal(y_test[:, 0], np.array(test[b"labels"], "uint8"))


def test_cifar100(cache, monkeypatch):
    rng = np.random.RandomState(6)
    archive = cache / "cifar-100-python-target_archive"
    with tarfile.open(archive, "w:gz") as tar:
        train = _pickled_batch(tar, "cifar-100-python/train", 4, rng,
                               ["fine_labels", "coarse_labels"])
        _pickled_batch(tar, "cifar-100-python/test", 2, rng, ["fine_labels", "coarse_labels"])
    _trust(monkeypatch, datasets.cifar100, archive)
    (x_train, y_train), (x_test, _) = datasets.cifar100.load_data(label_mode="coarse")
    np.testing.assert_array_equal(y_train[:, 0], train[b"coarse_labels"])
    assert x_train.shape == (4, 32, 32, 3) and x_test.shape == (2, 32, 32, 3)
    with pytest.raises(kbridge.errors.ArgumentError, match="label_mode"):
        datasets.cifar100.load_data(label_mode="medium")


def test_missing_or_wrong_file_names_the_path(cache, monkeypatch, tmp_path):
    monkeypatch.setattr(datasets.mnist, "ORIGIN", (tmp_path / "nowhere.npz").as_uri())
    with pytest.raises(DownloadError) as info:
        datasets.mnist.load_data()
    assert str(cache / "mnist.npz") in str(info.value)
    (cache / "mnist.npz").write_bytes(b"not mnist")  # Keras's real hash will not match
    with pytest.raises(DownloadError, match="does not match the expected hash"):
        datasets.mnist.load_data()
