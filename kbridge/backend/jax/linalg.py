"""JAX backend: linear algebra ops."""

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from kbridge.backend.common.shared import include
from kbridge.backend.jax.math import _as_float  # noqa: F401 - read by the shared modules

include("linalg", globals())
include("linalg_xp", globals(), xp=jnp)


def _solve_triangular(a, b, lower):
    return jsl.solve_triangular(a, b, lower=lower)


def lu_factor(x):
    lu, pivots, _ = jax.lax.linalg.lu(_matrix(x))
    return lu, pivots.astype("int32")


def jvp(fun, primals, tangents, has_aux=False):
    return jax.jvp(fun, tuple(primals), tuple(tangents), has_aux=has_aux)
