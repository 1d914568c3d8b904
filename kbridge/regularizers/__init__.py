"""``kbridge.regularizers``: weight penalties added to a layer's ``losses`` (Keras 3 names).

Example:
    >>> layer = kbridge.layers.Dense(4, kernel_regularizer=kbridge.regularizers.L2(1e-4))
"""

from kbridge import ops
from kbridge.errors import KbridgeError
from kbridge.saving import registry


def _check_factor(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise KbridgeError(f"`{name}` must be a number. Received: {name}={value!r}") from None
    if value < 0:
        raise KbridgeError(f"`{name}` must be non-negative. Received: {name}={value}")
    return value


class Regularizer(registry.Registered):
    """Base class: ``regularizer(weight) -> scalar penalty``.

    Example:
        >>> class Sum(kbridge.regularizers.Regularizer):
        ...     def __call__(self, x): return kbridge.ops.sum(x)
    """

    def __call__(self, x):
        return 0.0

    def get_config(self):
        if not self._config_attrs:  # a user's regularizer says how to rebuild it (as in Keras)
            raise NotImplementedError(f"{type(self).__name__} does not implement get_config().")
        return super().get_config()

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1(Regularizer):
    """Penalty ``l1 * sum(|x|)``. Example: ``L1(0.01)(w)``."""

    _config_attrs = ("l1",)

    def __init__(self, l1=0.01):
        self.l1 = _check_factor(l1, "l1")

    def __call__(self, x):
        return ops.multiply(self.l1, ops.sum(ops.absolute(x)))


class L2(Regularizer):
    """Penalty ``l2 * sum(x ** 2)``. Example: ``L2(0.01)(w)``."""

    _config_attrs = ("l2",)

    def __init__(self, l2=0.01):
        self.l2 = _check_factor(l2, "l2")

    def __call__(self, x):
        return ops.multiply(self.l2, ops.sum(ops.square(x)))


class L1L2(Regularizer):
    """Penalty ``l1 * sum(|x|) + l2 * sum(x ** 2)``. Example: ``L1L2(l1=0.01, l2=0.01)``."""

    _config_attrs = ("l1", "l2")

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _check_factor(l1, "l1")
        self.l2 = _check_factor(l2, "l2")

    def __call__(self, x):
        penalty = 0.0
        if self.l1:
            penalty = ops.multiply(self.l1, ops.sum(ops.absolute(x)))
        if self.l2:
            penalty = ops.add(penalty, ops.multiply(self.l2, ops.sum(ops.square(x))))
        return penalty


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2D weight towards mutual orthogonality.

    The penalty is ``factor`` times the mean absolute cosine similarity over distinct pairs
    of L2-normalised rows (``mode="rows"``) or columns (``mode="columns"``), halved.

    Example:
        >>> OrthogonalRegularizer(factor=0.01, mode="rows")(np.eye(3, dtype="float32"))  # 0
    """

    _config_attrs = ("factor", "mode")

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _check_factor(factor, "factor")
        if mode not in ("rows", "columns"):
            raise KbridgeError("`mode` must be 'rows' or 'columns'. "
                               f"Received: mode={mode!r}")
        self.mode = mode

    def __call__(self, x):
        if len(x.shape) != 2:
            raise KbridgeError("OrthogonalRegularizer needs a 2D weight. "
                               f"Received: shape={tuple(x.shape)}")
        if self.mode == "rows":
            unit = ops.normalize(x, axis=1)
            gram = ops.matmul(unit, ops.transpose(unit))
        else:
            unit = ops.normalize(x, axis=0)
            gram = ops.matmul(ops.transpose(unit), unit)
        size = gram.shape[0]
        off_diagonal = ops.multiply(gram, ops.subtract(1.0, ops.eye(size, dtype=ops.dtype(gram))))
        num_pairs = size * (size - 1) / 2.0
        return ops.divide(ops.multiply(self.factor * 0.5, ops.sum(ops.absolute(off_diagonal))),
                          max(num_pairs, 1.0))


# Keras's lower-case aliases.
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_ALIASES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2,
            "orthogonal_regularizer": OrthogonalRegularizer}


get, deserialize = registry.family_functions(Regularizer, _ALIASES, "regularizer")


def serialize(regularizer):
    return registry.serialize(regularizer)


__all__ = ["L1", "L1L2", "L2", "OrthogonalRegularizer", "Regularizer", "deserialize", "get",
           "l1", "l1_l2", "l2", "orthogonal_regularizer", "serialize"]
