"""F-beta and F1 scores for (batch, classes) multi-class / multi-label predictions."""

from kbridge import ops
from kbridge.backend.common.config import epsilon
from kbridge.metrics.metric import Metric, MetricError


class FBetaScore(Metric):
    """F-beta score: ``(1 + beta^2) * P * R / (beta^2 * P + R)``.

    Its per-class variables are created by the first ``update_state`` (the class count is
    not known before), as in Keras.

    Args:
        average: ``None`` (one score per class), ``"micro"`` (counts pooled over classes),
            ``"macro"`` (mean over classes) or ``"weighted"`` (mean weighted by support).
        beta: weight of recall relative to precision (a float > 0).
        threshold: predictions above it are positive; ``None`` marks each row's maximum.

    Example:
        >>> kbridge.metrics.FBetaScore(beta=2.0, threshold=0.5)(onehot, probs)
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        if average not in (None, "micro", "macro", "weighted"):
            raise MetricError("`average` must be one of None, 'micro', 'macro', 'weighted'. "
                              f"Received: average={average!r}")
        if not isinstance(beta, float):
            raise MetricError(f"`beta` must be a Python float. Received: beta={beta!r}")
        if beta <= 0.0:
            raise MetricError(f"`beta` must be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise MetricError("`threshold` must be a Python float. Received: "
                                  f"threshold={threshold!r}")
            if threshold > 1.0 or threshold <= 0.0:
                raise MetricError("`threshold` must satisfy 0 < threshold <= 1. Received: "
                                  f"threshold={threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise MetricError(f"{type(self).__name__} expects 2D inputs (batch_size, "
                              f"output_dim). Received: y_true.shape={tuple(y_true_shape)}, "
                              f"y_pred.shape={tuple(y_pred_shape)}")
        if y_pred_shape[-1] is None or y_true_shape[-1] is None:
            raise MetricError(f"{type(self).__name__} needs a known output_dim. Received: "
                              f"y_pred.shape={tuple(y_pred_shape)}")
        shape = () if self.average == "micro" else (int(y_pred_shape[-1]),)
        self.true_positives = self.add_variable(shape, "zeros", name="true_positives")
        self.false_positives = self.add_variable(shape, "zeros", name="false_positives")
        self.false_negatives = self.add_variable(shape, "zeros", name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, "zeros",
                                                      name="intermediate_weights")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, self.dtype)
        y_pred = ops.cast(y_pred, self.dtype)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if self.threshold is None:
            row_max = ops.max(y_pred, axis=-1, keepdims=True)
            y_pred = ops.logical_and(ops.greater_equal(y_pred, row_max),
                                     ops.greater(ops.abs(y_pred), 1e-9))
        else:
            y_pred = ops.greater(y_pred, self.threshold)
        y_pred = ops.cast(y_pred, self.dtype)
        if sample_weight is not None:
            sample_weight = ops.expand_dims(ops.cast(sample_weight, self.dtype), 1)

        def weighted_sum(val):
            if sample_weight is not None:
                val = val * sample_weight
            return ops.sum(val, axis=self.axis)

        self.true_positives.assign_add(weighted_sum(y_pred * y_true))
        self.false_positives.assign_add(weighted_sum(y_pred * (1.0 - y_true)))
        self.false_negatives.assign_add(weighted_sum((1.0 - y_pred) * y_true))
        self.intermediate_weights.assign_add(weighted_sum(y_true))

    def result(self):
        tp = self.true_positives.value
        precision = tp / (tp + self.false_positives.value + epsilon())
        recall = tp / (tp + self.false_negatives.value + epsilon())
        b2 = self.beta ** 2
        score = (1.0 + b2) * (precision * recall) / (b2 * precision + recall + epsilon())
        if self.average == "weighted":
            w = self.intermediate_weights.value
            return ops.sum(score * (w / (ops.sum(w) + epsilon())))
        if self.average is not None:
            return ops.mean(score)
        return score

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """F1 score (F-beta with beta = 1). Example: ``F1Score(average="macro")(onehot, probs)``."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name,
                         dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
