"""jax backend: numpy ops (elementwise math, creation, comparisons, logic, bitwise), written
once over ``xp`` in ``kbridge/backend/shared/numpy.py`` (with numpy)."""

import jax
import jax.numpy as jnp

from kbridge.backend.common.shared import include
from kbridge.backend.jax.core import convert_to_tensor, promote, to_jax_dtype


def _identity(x):
    return x


include("numpy_composite", globals(), xp=jnp, tensor_type=jax.Array, to_dtype=to_jax_dtype,
        convert_to_tensor=convert_to_tensor, promote=promote)
include("numpy", globals(), quiet=_identity)
