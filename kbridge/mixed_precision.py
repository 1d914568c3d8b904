"""``kbridge.mixed_precision``: Keras 3's ``keras.mixed_precision`` names.

``Policy`` is ``DTypePolicy``; ``global_policy``/``set_global_policy`` are the older names of
``dtype_policy``/``set_dtype_policy``.

Example:
    >>> kbridge.mixed_precision.set_global_policy("mixed_float16")
    >>> kbridge.layers.Dense(4).compute_dtype
    'float16'
    >>> kbridge.mixed_precision.set_global_policy(None)     # back to floatx()
"""

from kbridge.dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy

__all__ = ["DTypePolicy", "LossScaleOptimizer", "Policy", "dtype_policy", "global_policy",
           "set_dtype_policy", "set_global_policy"]

Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy


def __getattr__(name):
    # The optimizer package is heavier than this module; load it when first asked for.
    if name == "LossScaleOptimizer":
        from kbridge.optimizers.loss_scale_optimizer import LossScaleOptimizer

        return LossScaleOptimizer
    raise AttributeError(f"module 'kbridge.mixed_precision' has no attribute {name!r}")
