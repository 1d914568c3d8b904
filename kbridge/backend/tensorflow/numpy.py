"""tensorflow backend: numpy ops."""

import tensorflow as tf

from kbridge.backend.tensorflow.core import promote


def add(x1, x2):
    x1, x2 = promote(x1, x2)
    return tf.add(x1, x2)


def matmul(x1, x2):
    x1, x2 = promote(x1, x2)
    return tf.linalg.matmul(x1, x2)
