"""TensorFlow backend: image ops, written once in kbridge/backend/shared/image.py."""

import tensorflow as tf

from kbridge.backend.common.shared import include

include("image", globals())


def _gather(x, index):  # tf.gather batches over a batch size that may be unknown in a graph
    index = tf.broadcast_to(index, tf.concat([tf.shape(x)[:1], tf.shape(index)[1:]], 0))
    return tf.gather(x, index, axis=1, batch_dims=1)
