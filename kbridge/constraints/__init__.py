"""``kbridge.constraints``: projections applied to a weight after each optimiser step.

Example:
    >>> layer = kbridge.layers.Dense(4, kernel_constraint=kbridge.constraints.MaxNorm(2.0))
"""

from kbridge import ops
from kbridge.saving import registry

_EPSILON = 1e-7  # Keras's backend.epsilon(): keeps the rescaling finite for zero columns


class Constraint(registry.Registered):
    """Base class: ``constraint(weight) -> projected weight``.

    Example:
        >>> class Clip(kbridge.constraints.Constraint):
        ...     def __call__(self, w): return kbridge.ops.clip(w, -1.0, 1.0)
    """

    def __call__(self, w):
        return w


def _norms(w, axis):
    return ops.sqrt(ops.sum(ops.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescales slices along ``axis`` whose L2 norm exceeds ``max_value``.

    Example:
        >>> MaxNorm(max_value=2, axis=0)(np.full((4, 1), 3.0, "float32"))  # column norm 2
    """

    _config_attrs = ("max_value", "axis")

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = ops.clip(norms, 0, self.max_value)
        return ops.multiply(w, ops.divide(desired, ops.add(norms, _EPSILON)))


class MinMaxNorm(Constraint):
    """Moves slice norms towards ``[min_value, max_value]`` at ``rate`` (1 = fully).

    Example:
        >>> MinMaxNorm(min_value=0.5, max_value=1.0, rate=1.0, axis=0)(w)
    """

    _config_attrs = ("min_value", "max_value", "rate", "axis")

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        clipped = ops.clip(norms, self.min_value, self.max_value)
        desired = ops.add(ops.multiply(self.rate, clipped), ops.multiply(1.0 - self.rate, norms))
        return ops.multiply(w, ops.divide(desired, ops.add(norms, _EPSILON)))


class NonNeg(Constraint):
    """Zeroes negative entries. Example: ``NonNeg()(np.array([-1.0, 2.0]))`` -> ``[0, 2]``."""

    def __call__(self, w):
        return ops.multiply(w, ops.cast(ops.greater_equal(w, 0.0), ops.dtype(w)))


class UnitNorm(Constraint):
    """Rescales each slice along ``axis`` to unit L2 norm. Example: ``UnitNorm(axis=0)(w)``."""

    _config_attrs = ("axis",)

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return ops.divide(w, ops.add(_norms(w, self.axis), _EPSILON))


# Keras's lower-case aliases.
max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
unit_norm = UnitNorm

_ALIASES = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
            "unit_norm": UnitNorm, "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm}


get, deserialize = registry.family_functions(Constraint, _ALIASES, "constraint")


def serialize(constraint):
    return registry.serialize(constraint)


__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "deserialize", "get",
           "max_norm", "min_max_norm", "non_neg", "serialize", "unit_norm"]
