"""Correlation metrics: Pearson and concordance correlation coefficients, averaged over the
samples seen (each sample's coefficient is taken along ``axis``)."""

from kbridge import ops
from kbridge.backend.common.config import epsilon
from kbridge.losses.loss import squeeze_or_expand_to_same_rank
from kbridge.metrics.reduction_metrics import KeywordMetricWrapper


def _prepare(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson correlation coefficient of ``y_true`` and ``y_pred`` along ``axis``.

    Example:
        >>> kbridge.metrics.pearson_correlation([[1.0, 2.0, 3.0]], [[1.0, 2.0, 4.0]])  # ~[0.98]
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    true_c = y_true - ops.mean(y_true, axis=axis, keepdims=True)
    pred_c = y_pred - ops.mean(y_pred, axis=axis, keepdims=True)
    true_c = true_c / ops.std(true_c, axis=axis, keepdims=True)
    pred_c = pred_c / ops.std(pred_c, axis=axis, keepdims=True)
    return ops.mean(true_c * pred_c, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Concordance correlation coefficient of ``y_true`` and ``y_pred`` along ``axis``:
    ``mean(2 * cov / (var_true + var_pred + (mean_true - mean_pred) ** 2 + epsilon))``.

    As in Keras 3, the covariance term centres both ``y_true`` and ``y_pred`` on the mean of
    ``y_pred``, so values match Keras's metric exactly.

    Example:
        >>> kbridge.metrics.concordance_correlation([[1.0, 2.0, 3.0]], [[1.0, 2.0, 4.0]])
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    true_mean = ops.mean(y_true, axis=axis, keepdims=True)
    pred_mean = ops.mean(y_pred, axis=axis, keepdims=True)
    true_var = ops.var(y_true - true_mean, axis=axis, keepdims=True)
    pred_var = ops.var(y_pred - pred_mean, axis=axis, keepdims=True)
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + ops.square(true_mean - pred_mean)
    return ops.mean(2.0 * covariance / (norm + epsilon()), axis=axis)


class PearsonCorrelation(KeywordMetricWrapper):
    """Mean Pearson correlation coefficient between targets and predictions (higher is
    better).

    Example:
        >>> model.compile(optimizer="sgd", loss="mse",
        ...               metrics=[kbridge.metrics.PearsonCorrelation()])
    """

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name, dtype, "up", axis=axis)


class ConcordanceCorrelation(KeywordMetricWrapper):
    """Mean concordance correlation coefficient between targets and predictions (higher is
    better): correlation that also penalises a shift or scale away from ``y = x``.

    Example:
        >>> model.compile(optimizer="sgd", loss="mse",
        ...               metrics=[kbridge.metrics.ConcordanceCorrelation()])
    """

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name, dtype, "up", axis=axis)
