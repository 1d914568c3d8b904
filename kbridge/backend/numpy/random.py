"""numpy backend: random ops on ``np.random.default_rng`` seeded by the ``[seed, counter]``
pair."""

import numpy as np

from kbridge.backend.common.dtypes import numpy_dtype
from kbridge.backend.common.shared import include
from kbridge.random.seed_generator import as_int_pair, seed_pair

include("random", globals(), native_dtype=numpy_dtype)

_MASK64 = 2**64 - 1


def next_seed(state):
    """The current ``[seed, counter]`` of the variable ``state`` (numpy), then advance it."""
    seed, counter = state.value.tolist()
    state.assign(np.array([seed, counter + 1], state.value.dtype))
    return seed, counter


def _rng(seed):
    s, c = as_int_pair(seed_pair(seed, "numpy"))
    return np.random.default_rng((s & _MASK64, c & _MASK64))


def _cast(x, dtype):
    return np.asarray(x).astype(numpy_dtype(dtype), copy=False)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "normal")
    x = _rng(seed).standard_normal(_shape(shape))
    return _cast(x * stddev + mean, dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "uniform")
    x = _rng(seed).random(_shape(shape))
    return _cast(x * (np.asarray(maxval) - np.asarray(minval)) + minval, dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "truncated_normal")
    rng = _rng(seed)
    x = rng.standard_normal(_shape(shape))
    outside = np.abs(x) > 2.0
    while outside.any():  # redraw until every value lies within two standard deviations
        x[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(x) > 2.0
    return _cast(x * stddev + mean, dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    x = _rng(seed).integers(np.asarray(minval), np.asarray(maxval), size=_shape(shape))
    return _cast(x, dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    inputs = np.asarray(inputs)
    keep_prob = 1.0 - rate
    noise_shape = concrete_noise_shape(inputs.shape, noise_shape)
    keep = _rng(seed).random(_shape(noise_shape)) < keep_prob
    return np.where(keep, inputs / np.asarray(keep_prob, inputs.dtype),
                    np.zeros((), inputs.dtype)).astype(inputs.dtype, copy=False)


def shuffle(x, axis=0, seed=None):
    return _rng(seed).permutation(np.asarray(x), axis=axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    logits = np.asarray(logits, dtype=np.float64)
    # Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits).
    noise = _rng(seed).gumbel(size=(logits.shape[0], int(num_samples), logits.shape[1]))
    out = np.argmax(logits[:, None, :] + noise, axis=-1)
    return _cast(out, dtype)


def gamma(shape, alpha, dtype=None, seed=None):
    dtype = float_dtype(dtype, "gamma")
    return _cast(_rng(seed).standard_gamma(np.asarray(alpha, np.float64), _shape(shape)), dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    dtype = float_dtype(dtype, "beta")
    x = _rng(seed).beta(np.asarray(alpha, np.float64), np.asarray(beta, np.float64),
                        _shape(shape))
    return _cast(x, dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    dtype = output_dtype(dtype)
    x = _rng(seed).binomial(np.asarray(counts).astype(np.int64),
                            np.asarray(probabilities, np.float64), _shape(shape))
    return _cast(x, dtype)
