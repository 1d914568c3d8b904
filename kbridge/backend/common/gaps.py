"""The one list of ops a backend truly cannot provide, with the reason.

The consistency test (tests/ops/test_consistency.py) accepts a missing backend function only
when it is listed here; calling it raises ``kbridge.errors.MissingOpError`` with the reason.
"""

GAPS = {
    # (backend, op name): reason
    ("numpy", "jvp"): "numpy has no automatic differentiation (use jax, torch or tensorflow)",
}

# Known differences in numerics that are not missing ops.
NOTES = {
    "jax": "Without `jax.config.update('jax_enable_x64', True)` (kbridge never flips this "
    "process-wide switch for you), JAX stores int64/uint64/float64/complex128 as their 32-bit "
    "counterparts.",
}


def reason(backend, name):
    return GAPS.get((backend, name))
