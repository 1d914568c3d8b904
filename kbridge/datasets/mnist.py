"""MNIST handwritten digits: 60,000 + 10,000 grayscale 28x28 images of 10 digits."""

import numpy as np

from kbridge.datasets._common import TF_KERAS_DATASETS
from kbridge.utils.file_utils import get_file

__all__ = ["load_data"]

ORIGIN = TF_KERAS_DATASETS + "mnist.npz"
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_data(path="mnist.npz"):
    """Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 28, 28)`` and
    uint8 labels 0-9, from ``path`` in the Keras cache (``~/.keras/datasets/``).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = kbridge.datasets.mnist.load_data()
    """
    path = get_file(fname=path, origin=ORIGIN, file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
