"""Regression, hinge and probabilistic metrics: means of the loss functions over all samples
seen, plus ``RootMeanSquaredError`` and ``R2Score``."""

import warnings

from kbridge import losses, ops
from kbridge.losses.loss import squeeze_or_expand_to_same_rank
from kbridge.metrics.metric import Metric, MetricError
from kbridge.metrics.reduction_metrics import KeywordMetricWrapper, Mean, MeanMetricWrapper


def cosine_similarity(y_true, y_pred, axis=-1):
    """Cosine similarity along ``axis`` (1 = same direction)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = ops.normalize(y_pred, axis=axis, order=2)
    y_true = ops.normalize(y_true, axis=axis, order=2)
    return ops.sum(y_true * y_pred, axis=axis)


class _FnMetric(KeywordMetricWrapper):
    """The mean of the loss function ``fn`` named in the class statement, with no options of
    its own: ``__init__(name, dtype)``, where ``name`` defaults to ``default_name`` or else to
    the function's name."""

    def __init_subclass__(cls, fn=None, default_name=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if fn is None:  # a subclass of a concrete metric keeps its parent's __init__
            return
        default_name = default_name or fn.__name__

        def __init__(self, name=default_name, dtype=None):
            KeywordMetricWrapper.__init__(self, fn, name or default_name, dtype, "down")

        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__


class MeanSquaredError(_FnMetric, fn=losses.mean_squared_error):
    """Mean squared error over all samples seen. Example: ``MeanSquaredError()(y, y_hat)``."""


class MeanAbsoluteError(_FnMetric, fn=losses.mean_absolute_error):
    """Mean absolute error over all samples seen. Example: ``MeanAbsoluteError()(y, y_hat)``."""


class MeanAbsolutePercentageError(_FnMetric, fn=losses.mean_absolute_percentage_error):
    """Mean absolute percentage error. Example: ``MeanAbsolutePercentageError()(y, y_hat)``."""


class MeanSquaredLogarithmicError(_FnMetric, fn=losses.mean_squared_logarithmic_error):
    """Mean squared log error. Example: ``MeanSquaredLogarithmicError()(y, y_hat)``."""


class LogCoshError(_FnMetric, fn=losses.log_cosh, default_name="logcosh"):
    """Mean of log(cosh(error)). Example: ``LogCoshError()(y, y_hat)``."""


class Hinge(_FnMetric, fn=losses.hinge):
    """Mean hinge loss (0/1 labels become -1/1). Example: ``Hinge()(y, scores)``."""


class SquaredHinge(_FnMetric, fn=losses.squared_hinge):
    """Mean squared hinge loss. Example: ``SquaredHinge()(y, scores)``."""


class CategoricalHinge(_FnMetric, fn=losses.categorical_hinge):
    """Mean categorical hinge loss. Example: ``CategoricalHinge()(onehot, scores)``."""


class KLDivergence(_FnMetric, fn=losses.kl_divergence):
    """Mean Kullback-Leibler divergence. Example: ``KLDivergence()(p, q)``."""


class Poisson(_FnMetric, fn=losses.poisson):
    """Mean Poisson loss. Example: ``Poisson()(counts, rates)``."""


class CosineSimilarity(MeanMetricWrapper):
    """Mean cosine similarity along ``axis``. Example: ``CosineSimilarity(axis=1)(a, b)``."""

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)
        self._direction = "up"

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class BinaryCrossentropy(KeywordMetricWrapper):
    """Mean binary cross-entropy. Example: ``BinaryCrossentropy(from_logits=True)(y, logits)``."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0):
        super().__init__(losses.binary_crossentropy, name, dtype, "down",
                         from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(KeywordMetricWrapper):
    """Mean categorical cross-entropy. Example: ``CategoricalCrossentropy()(onehot, probs)``."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):
        super().__init__(losses.categorical_crossentropy, name, dtype, "down",
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(KeywordMetricWrapper):
    """Mean sparse categorical cross-entropy.
    Example: ``SparseCategoricalCrossentropy(from_logits=True)(labels, logits)``."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 ignore_class=None, axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name, dtype, "down",
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)


class RootMeanSquaredError(Mean):
    """Square root of the mean squared error. Example: ``RootMeanSquaredError()(y, y_hat)``."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, self.dtype)
        y_pred = ops.cast(y_pred, self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        super().update_state(ops.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return ops.sqrt(super().result())


class R2Score(Metric):
    """Coefficient of determination for (batch, outputs) targets.

    Its per-output variables are created by the first ``update_state`` (the number of outputs
    is not known before), as in Keras.

    Args:
        class_aggregation: ``"uniform_average"`` (default), ``"variance_weighted_average"`` or
            ``None`` (one score per output).
        num_regressors: > 0 gives the adjusted R2 for that many independent variables.

    Example:
        >>> kbridge.metrics.R2Score()(y_true, y_pred)
    """

    def __init__(self, class_aggregation="uniform_average", num_regressors=0,
                 name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        allowed = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in allowed:
            raise MetricError(f"`class_aggregation` must be one of {allowed}. Received: "
                              f"class_aggregation={class_aggregation!r}")
        if num_regressors < 0:
            raise MetricError("`num_regressors` must be >= 0. Received: "
                              f"num_regressors={num_regressors}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_samples = self.add_variable((), "zeros", name="num_samples")
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise MetricError("R2Score expects 2D inputs (batch_size, output_dim). Received: "
                              f"y_true.shape={tuple(y_true_shape)}, "
                              f"y_pred.shape={tuple(y_pred_shape)}")
        if y_pred_shape[-1] is None or y_true_shape[-1] is None:
            raise MetricError("R2Score needs a known output_dim. Received: "
                              f"y_pred.shape={tuple(y_pred_shape)}")
        n = int(y_pred_shape[-1])
        self.squared_sum = self.add_variable((n,), "zeros", name="squared_sum")
        self.sum = self.add_variable((n,), "zeros", name="sum")
        self.total_mse = self.add_variable((n,), "zeros", name="residual")
        self.count = self.add_variable((n,), "zeros", name="count")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, self.dtype)
        y_pred = ops.cast(y_pred, self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if not self._built:
            self._build(y_true.shape, y_pred.shape)
        if sample_weight is None:
            sample_weight = ops.ones_like(y_true)
        else:
            sample_weight = ops.cast(sample_weight, self.dtype)
            if len(sample_weight.shape) == 1:
                sample_weight = ops.expand_dims(sample_weight, 1)
            sample_weight = ops.broadcast_to(sample_weight, ops.shape(y_true))
        weighted = y_true * sample_weight
        self.sum.assign_add(ops.sum(weighted, axis=0))
        self.squared_sum.assign_add(ops.sum(y_true * weighted, axis=0))
        self.total_mse.assign_add(ops.sum(ops.square(y_true - y_pred) * sample_weight, axis=0))
        self.count.assign_add(ops.sum(sample_weight, axis=0))
        self.num_samples.assign_add(ops.cast(ops.size(y_true), self.dtype))

    def result(self):
        mean = self.sum.value / self.count.value
        total = self.squared_sum.value - self.sum.value * mean
        raw = 1.0 - self.total_mse.value / total
        raw = ops.where(ops.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = ops.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            score = ops.sum(total * raw) / ops.sum(total)
        else:
            score = raw
        if self.num_regressors:
            # Keras checks the sample count in Python; here it is a tensor (possibly traced),
            # so fall back to the plain score with `where` when the adjustment is undefined.
            n = ops.cast(self.num_samples.value, self.dtype)
            p = float(self.num_regressors)
            adjusted = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
            score = ops.where(ops.greater(n - 1.0, p), adjusted, score)
            try:
                if float(n) - 1 <= p:
                    warnings.warn("Adjusted R2 is undefined for this few samples; returning "
                                  "the plain R2 score.", stacklevel=2)
            except Exception:  # a traced value
                pass
        return score

    def get_config(self):
        config = super().get_config()
        config.update(class_aggregation=self.class_aggregation,
                      num_regressors=self.num_regressors)
        return config
