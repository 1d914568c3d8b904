"""Losses with Keras 3 names: a ``Loss`` class and a per-sample function for each.

Example:
    >>> loss = kbridge.losses.get("sparse_categorical_crossentropy")   # the function
    >>> loss = kbridge.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> value = loss(labels, logits, sample_weight=weights)           # a scalar
"""

from kbridge.losses.loss import (
    Loss,
    LossError,
    LossFunctionWrapper,
    reduce_weighted_values,
    squeeze_or_expand_to_same_rank,
)
from kbridge.losses.loss import resolve_identifier as _resolve_identifier
from kbridge.losses.metric_learning import Circle, circle
from kbridge.losses.probabilistic import (
    CTC,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    Dice,
    SparseCategoricalCrossentropy,
    Tversky,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
    ctc,
    dice,
    sparse_categorical_crossentropy,
    tversky,
)
from kbridge.losses.regression import (
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SquaredHinge,
    categorical_hinge,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    squared_hinge,
)
from kbridge.saving import registry as _registry

_CLASSES = (
    Loss, LossFunctionWrapper, MeanSquaredError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity, Huber, LogCosh,
    Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy,
    BinaryFocalCrossentropy, CategoricalCrossentropy, CategoricalFocalCrossentropy,
    SparseCategoricalCrossentropy, CTC, Dice, Tversky, Circle, CategoricalGeneralizedCrossEntropy,
)
_FUNCTIONS = (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, cosine_similarity, huber, log_cosh, hinge, squared_hinge,
    categorical_hinge, kl_divergence, poisson, binary_crossentropy, binary_focal_crossentropy,
    categorical_crossentropy, categorical_focal_crossentropy, sparse_categorical_crossentropy,
    ctc, dice, tversky, circle, categorical_generalized_cross_entropy,
)

ALL_OBJECTS = {obj.__name__: obj for obj in _CLASSES + _FUNCTIONS}
ALIASES = {
    "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "kld": kl_divergence, "KLD": kl_divergence,
    "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mse": mean_squared_error, "MSE": mean_squared_error,
    "mape": mean_absolute_percentage_error, "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error, "MSLE": mean_squared_logarithmic_error,
    "logcosh": log_cosh, "huber_loss": huber, "kullback_leibler_divergence": kl_divergence,
}
ALL_OBJECTS_DICT = {**ALL_OBJECTS, **ALIASES}

for _fn in _FUNCTIONS:
    _registry.register(_fn)


def serialize(loss):
    """A config dict (for a ``Loss``) or the registered name (for a loss function)."""
    return _registry.serialize(loss)


def deserialize(name, custom_objects=None):
    """The ``Loss`` or loss function ``name`` describes (a config dict or a name)."""
    return _registry.deserialize(name, custom_objects={**ALL_OBJECTS_DICT,
                                                       **(custom_objects or {})})


def get(identifier):
    """A loss from a name (``"mse"``, ``"categorical_crossentropy"``, ``"Huber"``), a config
    dict, a ``Loss`` or a callable. A class name gives an instance with default arguments, a
    function name gives the function.

    Example:
        >>> kbridge.losses.get("CategoricalCrossentropy")     # an instance
        >>> kbridge.losses.get({"class_name": "Huber", "config": {"delta": 0.5}})
    """
    if identifier is None:
        return None
    obj = _resolve_identifier(identifier, ALL_OBJECTS_DICT, deserialize)
    if obj is None:
        raise LossError(f"Could not interpret loss identifier: {identifier!r}. Expected a loss "
                        f"name such as 'mse' or 'categorical_crossentropy', a config dict, a "
                        "Loss or a callable.")
    return obj


__all__ = sorted(ALL_OBJECTS) + [
    "ALL_OBJECTS", "ALL_OBJECTS_DICT", "LossError", "deserialize", "get",
    "reduce_weighted_values", "serialize", "squeeze_or_expand_to_same_rank",
]
