"""Accuracy metrics: exact, binary (thresholded), categorical, sparse and top-k."""

from kbridge import ops
from kbridge.backend.common import dtypes
from kbridge.losses.loss import squeeze_or_expand_to_same_rank
from kbridge.metrics.reduction_metrics import KeywordMetricWrapper


def _floatx_matches(a, b):
    return ops.cast(ops.equal(a, b), dtypes.floatx())


def accuracy(y_true, y_pred):
    """1.0 where ``y_pred == y_true`` exactly, else 0.0."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return _floatx_matches(y_true, y_pred)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``(y_pred > threshold)`` equals the 0/1 label."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = ops.cast(ops.greater(y_pred, threshold), ops.dtype(y_true))
    return _floatx_matches(y_true, y_pred)


def _sparse_matches(y_true, y_pred):
    """Shared by categorical/sparse accuracy: compare integer labels to argmax(y_pred)."""
    y_true_shape = ops.shape(y_true)
    reshape = len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1
    if reshape:
        y_true = ops.squeeze(y_true, -1)
    y_pred = ops.cast(ops.argmax(y_pred, axis=-1), ops.dtype(y_true))
    matches = _floatx_matches(y_true, y_pred)
    if reshape:
        matches = ops.reshape(matches, y_true_shape)
    return matches


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred) == argmax(y_true)`` (one-hot labels)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.argmax(y_true, axis=-1), ops.dtype(y_pred))
    return _sparse_matches(y_true, y_pred)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_pred)`` equals the integer label."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    matches = _sparse_matches(y_true, y_pred)
    if len(matches.shape) > 1 and matches.shape[-1] == 1:
        matches = ops.squeeze(matches, -1)
    return matches


def _flatten_for_top_k(y_true, y_pred):
    y_true_shape = ops.shape(y_true)
    if len(y_pred.shape) > 2:
        y_pred = ops.reshape(y_pred, (-1, y_pred.shape[-1]))
    reshape = len(y_true.shape) > 1
    if reshape:
        y_true = ops.reshape(y_true, (-1,))
    return y_true, y_pred, (y_true_shape if reshape else None)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the one-hot label's class is among the ``k`` largest predictions."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.argmax(y_true, axis=-1)
    y_true, y_pred, shape = _flatten_for_top_k(y_true, y_pred)
    matches = ops.cast(ops.in_top_k(ops.cast(y_true, "int32"), y_pred, k), dtypes.floatx())
    return matches if shape is None else ops.reshape(matches, shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label is among the top ``k`` (``from_sorted_ids``: ``y_pred``
    already lists class ids, best first)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred) if from_sorted_ids else "int32")
    y_true, y_pred, shape = _flatten_for_top_k(y_true, y_pred)
    if from_sorted_ids:
        matches = ops.any(ops.equal(ops.expand_dims(y_true, 1), y_pred[:, :k]), axis=1)
    else:
        matches = ops.in_top_k(y_true, y_pred, k)
    matches = ops.cast(matches, dtypes.floatx())
    return matches if shape is None else ops.reshape(matches, shape)


class Accuracy(KeywordMetricWrapper):
    """How often ``y_pred`` equals ``y_true``. Example: ``Accuracy()([1, 2], [1, 3])`` is 0.5."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype, "up")


class BinaryAccuracy(KeywordMetricWrapper):
    """How often thresholded predictions match 0/1 labels. Example: ``BinaryAccuracy(0.7)``."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, "up", threshold=threshold)


class CategoricalAccuracy(KeywordMetricWrapper):
    """How often ``argmax(y_pred)`` matches one-hot labels. Example: ``CategoricalAccuracy()``."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype, "up")


class SparseCategoricalAccuracy(KeywordMetricWrapper):
    """How often ``argmax(y_pred)`` matches integer labels.
    Example: ``SparseCategoricalAccuracy()([2, 1], probs)``."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype, "up")


class TopKCategoricalAccuracy(KeywordMetricWrapper):
    """How often the one-hot label is in the top ``k``. Example: ``TopKCategoricalAccuracy(k=2)``."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, "up", k=k)


class SparseTopKCategoricalAccuracy(KeywordMetricWrapper):
    """How often the integer label is in the top ``k``.
    Example: ``SparseTopKCategoricalAccuracy(k=3)``."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, "up", k=k,
                         from_sorted_ids=from_sorted_ids)

    def get_config(self):
        config = super().get_config()
        if not self.from_sorted_ids:  # Keras adds it only when set
            del config["from_sorted_ids"]
        return config
