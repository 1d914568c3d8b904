"""CIFAR-10: 50,000 + 10,000 colour 32x32 images of 10 classes."""

import os

import numpy as np

from kbridge.datasets._cifar import load_batch, to_image_format
from kbridge.utils.file_utils import get_file

__all__ = ["load_data"]

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"


def load_data():
    """Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images (``(n, 32, 32, 3)`` for
    channels_last) and uint8 labels ``(n, 1)``; the archive is cached and extracted as Keras
    does (``~/.keras/datasets/cifar-10-batches-py-target``).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = kbridge.datasets.cifar10.load_data()
    """
    path = get_file(fname="cifar-10-batches-py-target", origin=ORIGIN, extract=True,
                    file_hash=FILE_HASH)
    path = os.path.join(path, "cifar-10-batches-py")
    batches = [load_batch(os.path.join(path, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in batches]).astype("uint8")
    y_train = np.concatenate([np.asarray(y) for _, y in batches]).astype("uint8")
    x_test, y_test = load_batch(os.path.join(path, "test_batch"))
    x_train, x_test = to_image_format(x_train, x_test.astype("uint8"))
    return ((x_train, y_train.reshape(-1, 1)),
            (x_test, np.asarray(y_test).astype("uint8").reshape(-1, 1)))
