"""Metrics with Keras 3 names, their state in kbridge Variables on the backend active when
they are created (``metric.backend_name``).

Example:
    >>> m = kbridge.metrics.get("accuracy")            # Accuracy()
    >>> m.update_state([1, 2, 3], [1, 2, 0]); m.result()   # 0.667
    >>> state = m.stateless_update_state([v.value for v in m.variables], y_true, y_pred)
"""

from kbridge.backend.common import naming as _naming
from kbridge import losses as _losses
from kbridge.losses.loss import resolve_identifier as _resolve_identifier
from kbridge.metrics.accuracy_metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from kbridge.metrics.confusion_metrics import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from kbridge.metrics.correlation_metrics import (
    ConcordanceCorrelation,
    PearsonCorrelation,
    concordance_correlation,
    pearson_correlation,
)
from kbridge.metrics.f_score_metrics import F1Score, FBetaScore
from kbridge.metrics.iou_metrics import IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from kbridge.metrics.metric import Metric, MetricError
from kbridge.metrics.reduction_metrics import Mean, MeanMetricWrapper, Sum
from kbridge.metrics.regression_metrics import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    R2Score,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    cosine_similarity,
)
from kbridge.saving import registry as _registry

_CLASSES = (
    Metric, Mean, Sum, MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError,
    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
    CosineSimilarity, LogCoshError, R2Score, AUC, FalseNegatives, FalsePositives, Precision,
    PrecisionAtRecall, Recall, RecallAtPrecision, SensitivityAtSpecificity,
    SpecificityAtSensitivity, TrueNegatives, TruePositives, Hinge, SquaredHinge,
    CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, Accuracy, BinaryAccuracy, CategoricalAccuracy,
    SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    F1Score, FBetaScore, IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU,
    PearsonCorrelation, ConcordanceCorrelation,
)
_FUNCTIONS = (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, pearson_correlation,
    concordance_correlation,
)

# The loss functions that Keras also exports from ``keras.metrics``.
_LOSS_FUNCTIONS = (
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "hinge", "huber", "kl_divergence",
    "log_cosh", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "poisson", "sparse_categorical_crossentropy",
    "squared_hinge",
)
globals().update({name: getattr(_losses, name) for name in _LOSS_FUNCTIONS})

ALL_OBJECTS = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT = dict(ALL_OBJECTS)
ALL_OBJECTS_DICT.update({_naming.to_snake_case(cls.__name__): cls for cls in _CLASSES})
ALL_OBJECTS_DICT.update({
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
    # "acc" is the short form Keras's compile() accepts for "accuracy".
    "acc": Accuracy,
})

for _fn in _FUNCTIONS:
    _registry.register(_fn)


def serialize(metric):
    """A config dict for a ``Metric`` (or the registered name of a metric function)."""
    return _registry.serialize(metric)


def deserialize(config, custom_objects=None):
    """The ``Metric`` (or function) that ``config`` describes; metric names win over the loss
    classes of the same name."""
    return _registry.deserialize(config, custom_objects={**ALL_OBJECTS_DICT,
                                                         **(custom_objects or {})})


def get(identifier):
    """A metric from a name (``"accuracy"``, ``"mse"``, ``"AUC"``, ``"f1_score"``), a config
    dict, a ``Metric`` or a callable. Class names give an instance with default arguments
    (on the active backend).

    Example:
        >>> kbridge.metrics.get("sparse_categorical_accuracy")
        >>> kbridge.metrics.get({"class_name": "AUC", "config": {"curve": "PR"}})
    """
    if identifier is None:
        return None
    obj = _resolve_identifier(identifier, ALL_OBJECTS_DICT, deserialize)
    if obj is None:
        raise MetricError(f"Could not interpret metric identifier: {identifier!r}. Expected a "
                          "metric name such as 'accuracy' or 'mse', a config dict, a Metric "
                          "or a callable.")
    return obj


__all__ = sorted(ALL_OBJECTS) + [f.__name__ for f in _FUNCTIONS] + list(_LOSS_FUNCTIONS) + [
    "ALL_OBJECTS", "ALL_OBJECTS_DICT", "MetricError", "cosine_similarity", "deserialize", "get",
    "serialize",
]
