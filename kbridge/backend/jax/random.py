"""jax backend: random ops on ``jax.random`` keys built from the ``[seed, counter]`` pair.

The pair may be traced (a SeedGenerator whose state is passed through ``jax.jit``, or a seed
tensor), so every op here also works inside jitted functions.
"""

import jax
import jax.numpy as jnp
import numpy as np

from kbridge.backend.common.shared import include
from kbridge.backend.jax.core import convert_to_tensor, to_jax_dtype
from kbridge.errors import KbridgeError
from kbridge.random.seed_generator import seed_pair

include("random", globals(), native_dtype=to_jax_dtype)

_INCREMENT = np.array([0, 1], "int32")

_TRACED_STATE_ERROR = (
    "A SeedGenerator (or `seed=None`, which uses the global one) was used inside a traced "
    "JAX function while its state is a concrete array: its counter cannot advance there. "
    "Pass an int seed or a seed tensor, or carry the generator's state through the "
    "function (e.g. with the stateless API), for example:\n"
    "    @jax.jit\n"
    "    def f(x, seed):\n"
    "        return kbridge.random.dropout(x, 0.5, seed=seed)"
)


def next_seed(state):
    """The current ``[seed, counter]`` of ``state`` (a jax Variable), then advance it."""
    value = state.value
    advanced = value + _INCREMENT
    if isinstance(advanced, jax.core.Tracer) and not isinstance(value, jax.core.Tracer):
        raise KbridgeError(_TRACED_STATE_ERROR)
    state.assign(advanced)
    return value


def _key(seed):
    pair = seed_pair(seed, "jax")
    if isinstance(pair, tuple):
        data = np.array(pair, np.uint32)
    else:
        if not isinstance(pair, jax.Array):
            pair = np.asarray(pair)  # a generator of another backend
        data = jnp.asarray(pair).astype(jnp.uint32).reshape(-1)
        if data.shape[0] == 1:
            data = jnp.concatenate([data, jnp.zeros((1,), jnp.uint32)])
    return jax.random.wrap_key_data(data, impl="threefry2x32")


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "normal")
    return jax.random.normal(_key(seed), tuple(shape), dtype) * stddev + mean


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "uniform")
    return jax.random.uniform(_key(seed), tuple(shape), dtype, minval, maxval)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "truncated_normal")
    x = jax.random.truncated_normal(_key(seed), -2.0, 2.0, tuple(shape), dtype)
    return x * stddev + mean


def randint(shape, minval, maxval, dtype="int32", seed=None):
    dtype = to_jax_dtype(dtype)
    return jax.random.randint(_key(seed), tuple(shape), minval, maxval, dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    inputs = convert_to_tensor(inputs)
    keep_prob = 1.0 - rate
    noise_shape = concrete_noise_shape(inputs.shape, noise_shape)
    keep = jax.random.bernoulli(_key(seed), keep_prob, noise_shape)
    keep = jnp.broadcast_to(keep, inputs.shape)
    return jnp.where(keep, inputs / jnp.asarray(keep_prob, inputs.dtype),
                     jnp.zeros((), inputs.dtype))


def shuffle(x, axis=0, seed=None):
    return jax.random.permutation(_key(seed), convert_to_tensor(x), axis=axis, independent=False)


def categorical(logits, num_samples, dtype="int32", seed=None):
    logits = convert_to_tensor(logits)
    out = jax.random.categorical(_key(seed), logits, axis=-1,
                                 shape=(int(num_samples), logits.shape[0]))
    return out.T.astype(to_jax_dtype(dtype))


def gamma(shape, alpha, dtype=None, seed=None):
    dtype = float_dtype(dtype, "gamma")
    return jax.random.gamma(_key(seed), alpha, tuple(shape), dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    dtype = float_dtype(dtype, "beta")
    return jax.random.beta(_key(seed), alpha, beta, tuple(shape), dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    dtype = output_dtype(dtype)
    counts = jnp.asarray(counts, jnp.float32)
    probabilities = jnp.asarray(probabilities, jnp.float32)
    return jax.random.binomial(_key(seed), counts, probabilities, tuple(shape)).astype(dtype)
