"""CIFAR-100: 50,000 + 10,000 colour 32x32 images of 100 fine (20 coarse) classes."""

import os

import numpy as np

from kbridge.datasets._cifar import load_batch, to_image_format
from kbridge.errors import ArgumentError
from kbridge.utils.file_utils import get_file

__all__ = ["load_data"]

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(label_mode="fine"):
    """Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images (``(n, 32, 32, 3)`` for
    channels_last) and labels ``(n, 1)`` of the ``"fine"`` (100) or ``"coarse"`` (20) classes.

    Example:
        >>> (x_train, y_train), _ = kbridge.datasets.cifar100.load_data(label_mode="coarse")
    """
    if label_mode not in ("fine", "coarse"):
        raise ArgumentError(f"`label_mode` must be 'fine' or 'coarse'. Received: "
                            f"label_mode={label_mode!r}")
    path = get_file(fname="cifar-100-python-target", origin=ORIGIN, extract=True,
                    file_hash=FILE_HASH)
    path = os.path.join(path, "cifar-100-python")
    x_train, y_train = load_batch(os.path.join(path, "train"), f"{label_mode}_labels")
    x_test, y_test = load_batch(os.path.join(path, "test"), f"{label_mode}_labels")
    x_train, x_test = to_image_format(x_train, x_test)
    return ((x_train, np.reshape(y_train, (len(y_train), 1))),
            (x_test, np.reshape(y_test, (len(y_test), 1))))
