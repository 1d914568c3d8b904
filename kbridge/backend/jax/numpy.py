"""jax backend: numpy ops."""

import jax.numpy as jnp

from kbridge.backend.jax.core import promote


def add(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.add(x1, x2)


def matmul(x1, x2):
    x1, x2 = promote(x1, x2)
    return jnp.matmul(x1, x2)
