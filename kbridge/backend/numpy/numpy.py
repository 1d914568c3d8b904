"""numpy backend: numpy ops (elementwise math, creation, comparisons, logic, bitwise).

This backend is the reference the other backends are tested against; the ops are written once
over ``xp`` in ``kbridge/backend/shared/numpy.py`` (with jax), and run here without numpy's
floating-point warnings.
"""

import functools

import numpy as np

from kbridge.backend.common.dtypes import numpy_dtype
from kbridge.backend.common.shared import include
from kbridge.backend.numpy.core import convert_to_tensor, promote


def _quiet(op):
    """``op`` run without numpy's floating-point warnings (other backends give none)."""

    @functools.wraps(op)
    def run(*args, **kwargs):
        with np.errstate(all="ignore"):
            return op(*args, **kwargs)

    return run


include("numpy_composite", globals(), xp=np, tensor_type=np.ndarray, to_dtype=numpy_dtype,
        convert_to_tensor=convert_to_tensor, promote=promote)
include("numpy", globals(), quiet=_quiet)

unchanged = np.copy  # op results never alias their inputs, even where they equal them
