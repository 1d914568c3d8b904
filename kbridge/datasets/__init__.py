"""``kbridge.datasets``: Keras 3's small datasets, read from the Keras cache.

Each submodule has ``load_data(...)`` with Keras's signature. Files are looked up (and, with a
network, downloaded) through :func:`kbridge.utils.get_file` under the names, URLs and hashes
Keras uses, so a cache filled by Keras (``$KERAS_HOME`` or ``~/.keras/datasets``) is reused.
Without a network, the error names the file and the path to place it at.

Example:
    >>> (x_train, y_train), (x_test, y_test) = kbridge.datasets.mnist.load_data()
"""

from kbridge.datasets import (boston_housing, california_housing, cifar10, cifar100,
                              fashion_mnist, imdb, mnist, reuters)

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "fashion_mnist",
           "imdb", "mnist", "reuters"]
