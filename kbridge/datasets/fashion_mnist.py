"""Fashion-MNIST: 60,000 + 10,000 grayscale 28x28 images of 10 kinds of clothing."""

import gzip
import os

import numpy as np

from kbridge.datasets._common import TF_KERAS_DATASETS
from kbridge.utils.file_utils import get_file

__all__ = ["load_data"]

ORIGIN = TF_KERAS_DATASETS
FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")


def _read(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_data():
    """Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 28, 28)`` and
    uint8 labels 0-9, read from the four IDX files in ``~/.keras/datasets/fashion-mnist/``.

    Example:
        >>> (x_train, y_train), _ = kbridge.datasets.fashion_mnist.load_data()
    """
    subdir = os.path.join("datasets", "fashion-mnist")
    paths = [get_file(name, origin=ORIGIN + name, cache_subdir=subdir) for name in FILES]
    y_train, y_test = _read(paths[0], 8), _read(paths[2], 8)
    x_train = _read(paths[1], 16).reshape(len(y_train), 28, 28)
    x_test = _read(paths[3], 16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
