"""numpy backend: numpy ops."""

import numpy as np

from kbridge.backend.numpy.core import promote


def add(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.add(x1, x2)


def matmul(x1, x2):
    x1, x2 = promote(x1, x2)
    return np.matmul(x1, x2)
