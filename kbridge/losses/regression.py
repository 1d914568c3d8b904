"""Regression and margin losses: squared/absolute/percentage/log errors, Huber, log-cosh,
cosine similarity, KL divergence, Poisson and the hinge family.

Each loss exists as a function returning per-sample values (``mean_squared_error``) and as a
``Loss`` class that weights and reduces them (``MeanSquaredError``).
"""

from kbridge import ops
from kbridge.backend.common.config import epsilon
from kbridge.losses.loss import (FixedFunctionLoss, Loss, LossFunctionWrapper,
                                 squeeze_or_expand_to_same_rank)


def _pair(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """Mean over the last axis of ``(y_true - y_pred) ** 2``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Mean over the last axis of ``|y_true - y_pred|``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, epsilon))`` over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    diff = ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), epsilon()))
    return 100.0 * ops.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """Mean of ``(log(1 + y_pred) - log(1 + y_true)) ** 2``, inputs floored at epsilon."""
    y_true, y_pred = _pair(y_true, y_pred)
    first = ops.log(ops.maximum(y_pred, epsilon()) + 1.0)
    second = ops.log(ops.maximum(y_true, epsilon()) + 1.0)
    return ops.mean(ops.square(first - second), axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Negative cosine similarity along ``axis`` (-1 = same direction, 1 = opposite).

    Example:
        >>> kbridge.losses.cosine_similarity([[0., 1.]], [[0., 2.]])   # [-1.]
    """
    y_true, y_pred = _pair(y_true, y_pred)
    y_pred = ops.normalize(y_pred, axis=axis, order=2)
    y_true = ops.normalize(y_true, axis=axis, order=2)
    return -ops.sum(y_true * y_pred, axis=axis)


def huber(y_true, y_pred, delta=1.0):
    """Quadratic for errors within ``delta``, linear beyond; mean over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    quadratic = 0.5 * ops.square(error)
    linear = delta * abs_error - 0.5 * delta * delta
    return ops.mean(ops.where(abs_error <= delta, quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred):
    """Mean over the last axis of ``log(cosh(y_pred - y_true))``, computed without overflow."""
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    # log(cosh(x)) = x + log(1 + exp(-2x)) - log(2), finite for large |x|.
    return ops.mean(x + ops.softplus(-2.0 * x) - 0.6931471805599453, axis=-1)


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to [eps, 1]."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    y_true = ops.clip(y_true, epsilon(), 1.0)
    y_pred = ops.clip(y_pred, epsilon(), 1.0)
    return ops.sum(y_true * ops.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """Mean over the last axis of ``y_pred - y_true * log(y_pred + epsilon)``."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    return ops.mean(y_pred - y_true * ops.log(y_pred + epsilon()), axis=-1)


def _to_signed_labels(y_true):
    """Labels that are all 0/1 become -1/1; anything else is left as it is (no Python branch,
    so this traces under ``jax.jit`` and ``tf.function``)."""
    is_binary = ops.all(ops.logical_or(ops.equal(y_true, 0), ops.equal(y_true, 1)))
    return ops.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    """Mean of ``max(1 - y_true * y_pred, 0)``; labels are -1/1 (0/1 are converted)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = _to_signed_labels(ops.cast(y_true, ops.dtype(y_pred)))
    return ops.mean(ops.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """Mean of ``max(1 - y_true * y_pred, 0) ** 2``; labels are -1/1 (0/1 are converted)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = _to_signed_labels(ops.cast(y_true, ops.dtype(y_pred)))
    return ops.mean(ops.square(ops.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """``max(best wrong score - true score + 1, 0)`` for one-hot ``y_true``."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    pos = ops.sum(y_true * y_pred, axis=-1)
    neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.maximum(neg - pos + 1.0, 0.0)


class MeanSquaredError(FixedFunctionLoss, fn=mean_squared_error):
    """Mean of squared errors. Example: ``kbridge.losses.MeanSquaredError()(y, y_hat)``."""


class MeanAbsoluteError(FixedFunctionLoss, fn=mean_absolute_error):
    """Mean of absolute errors. Example: ``kbridge.losses.MeanAbsoluteError()(y, y_hat)``."""


class MeanAbsolutePercentageError(FixedFunctionLoss, fn=mean_absolute_percentage_error):
    """Mean absolute error in percent of the target. Example: ``MeanAbsolutePercentageError()``."""


class MeanSquaredLogarithmicError(FixedFunctionLoss, fn=mean_squared_logarithmic_error):
    """Mean squared error of ``log(1 + x)``. Example: ``MeanSquaredLogarithmicError()``."""


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis``. Example: ``CosineSimilarity(axis=1)``."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity",
                 dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype,
                         axis=axis)

    def get_config(self):
        return Loss.get_config(self)


class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta``. Example: ``kbridge.losses.Huber(delta=0.5)``."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss",
                 dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)

    def get_config(self):
        return Loss.get_config(self)


class LogCosh(FixedFunctionLoss, fn=log_cosh):
    """Mean of ``log(cosh(error))``. Example: ``kbridge.losses.LogCosh()(y, y_hat)``."""


class Hinge(FixedFunctionLoss, fn=hinge):
    """Hinge loss for -1/1 (or 0/1) labels. Example: ``kbridge.losses.Hinge()(y, scores)``."""


class SquaredHinge(FixedFunctionLoss, fn=squared_hinge):
    """Squared hinge loss. Example: ``kbridge.losses.SquaredHinge()(y, scores)``."""


class CategoricalHinge(FixedFunctionLoss, fn=categorical_hinge):
    """Categorical hinge for one-hot labels. Example: ``CategoricalHinge()(onehot, scores)``."""


class KLDivergence(FixedFunctionLoss, fn=kl_divergence):
    """Kullback-Leibler divergence. Example: ``kbridge.losses.KLDivergence()(p, q)``."""


class Poisson(FixedFunctionLoss, fn=poisson):
    """Poisson negative log-likelihood (up to a constant). Example: ``Poisson()(counts, rate)``."""
