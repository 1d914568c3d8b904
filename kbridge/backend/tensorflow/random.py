"""tensorflow backend: random ops on ``tf.random.stateless_*`` with the ``[seed, counter]``
pair as the stateless seed, so they work inside ``tf.function`` with graph seeds too."""

import numpy as np
import tensorflow as tf

from kbridge.backend.common.shared import include
from kbridge.backend.common.variables import Variable
from kbridge.backend.tensorflow.core import convert_to_tensor, to_tf_dtype
from kbridge.random.seed_generator import SEED_DTYPE, seed_pair

include("random", globals(), native_dtype=to_tf_dtype)

# A plain array, not a tf.constant: a constant made at import would be a graph tensor when
# this module is first imported inside tf.data or a tf.function.
_INCREMENT = np.array([0, 1], np.int32)
# Integer dtypes tf.random.stateless_uniform can draw directly.
_RANDINT_DTYPES = (tf.int32, tf.int64, tf.uint32, tf.uint64)


def make_state_variable(value):
    # init_scope: the global generator may be created first inside a tf.function.
    with tf.init_scope():
        return Variable(value, dtype=SEED_DTYPE, trainable=False, name="seed_generator_state")


def next_seed(state):
    """The current ``[seed, counter]`` of ``state`` (a tf Variable), then advance it."""
    value = tf.identity(state.value)
    state.assign(value + _INCREMENT)
    return value


def _seed(seed):
    pair = seed_pair(seed, "tensorflow")
    if isinstance(pair, tuple):
        return tf.constant(pair, tf.int32)
    if not tf.is_tensor(pair):
        pair = np.asarray(pair)  # a generator of another backend
    pair = tf.reshape(tf.cast(pair, tf.int32), [-1])
    if pair.shape[0] == 1:
        pair = tf.concat([pair, [0]], 0)
    return pair


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "normal")
    return tf.random.stateless_normal(shape, _seed(seed), mean, stddev, dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "uniform")
    return tf.random.stateless_uniform(shape, _seed(seed), minval, maxval, dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "truncated_normal")
    return tf.random.stateless_truncated_normal(shape, _seed(seed), mean, stddev, dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    dtype = to_tf_dtype(dtype)
    draw = dtype if dtype in _RANDINT_DTYPES else tf.int64
    x = tf.random.stateless_uniform(shape, _seed(seed), tf.cast(minval, draw),
                                    tf.cast(maxval, draw), draw)
    return tf.cast(x, dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    inputs = convert_to_tensor(inputs)
    keep_prob = 1.0 - rate
    # The dynamic shape: inside a tf.function a partial last batch has size None statically.
    dynamic = tf.shape(inputs)
    if noise_shape is None:
        noise_shape = dynamic
    else:
        noise_shape = tf.stack([dynamic[i] if n is None else tf.constant(n, tf.int32)
                                for i, n in enumerate(noise_shape)])
    keep = tf.random.stateless_uniform(noise_shape, _seed(seed)) < keep_prob
    keep = tf.broadcast_to(keep, tf.shape(inputs))
    return tf.where(keep, inputs / tf.cast(keep_prob, inputs.dtype), tf.zeros_like(inputs))


def shuffle(x, axis=0, seed=None):
    x = convert_to_tensor(x)
    order = tf.argsort(tf.random.stateless_uniform([tf.shape(x)[axis]], _seed(seed)))
    return tf.gather(x, order, axis=axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    logits = convert_to_tensor(logits)
    out = tf.random.stateless_categorical(logits, num_samples, _seed(seed), dtype=tf.int64)
    return tf.cast(out, to_tf_dtype(dtype))


def gamma(shape, alpha, dtype=None, seed=None):
    dtype = float_dtype(dtype, "gamma")
    return tf.random.stateless_gamma(shape, _seed(seed), alpha=tf.cast(alpha, dtype), dtype=dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    dtype = float_dtype(dtype, "beta")
    seeds = tf.random.experimental.stateless_split(_seed(seed), 2)
    x = tf.random.stateless_gamma(shape, seeds[0], alpha=tf.cast(alpha, dtype), dtype=dtype)
    y = tf.random.stateless_gamma(shape, seeds[1], alpha=tf.cast(beta, dtype), dtype=dtype)
    return x / (x + y)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    dtype = output_dtype(dtype)
    out = tf.random.stateless_binomial(shape, _seed(seed), tf.cast(counts, tf.float32),
                                       tf.cast(probabilities, tf.float32),
                                       output_dtype=tf.float32)
    return tf.cast(out, dtype)
