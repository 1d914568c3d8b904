"""Reducing metrics: ``Sum``, ``Mean`` and ``MeanMetricWrapper`` (the mean of a per-sample
function, the base of the accuracy, regression and probabilistic metrics)."""

from kbridge import losses, ops
from kbridge.losses.loss import (apply_mask, get_mask, squeeze_or_expand_to_same_rank,
                                 values_and_mask, wrapper_config, wrapper_from_config)
from kbridge.metrics.metric import Metric


def reduce_to_samplewise_values(values, sample_weight, reduce_fn, dtype, mask=None):
    """Per-sample values (rank <= 1) and matching weights, following Keras's rules: extra
    value axes beyond the weight's rank are reduced with ``reduce_fn`` before weighting."""
    values = ops.cast(values, dtype)
    if sample_weight is not None:
        sample_weight = ops.cast(sample_weight, dtype)
        if mask is not None:
            sample_weight = apply_mask(sample_weight, mask, dtype=dtype, reduction="sum")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim = len(sample_weight.shape)
        values_ndim = len(values.shape)
        if values_ndim > weight_ndim:
            values = reduce_fn(values, axis=tuple(range(weight_ndim, values_ndim)))
        sample_weight = ops.broadcast_to(sample_weight, ops.shape(values))
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_ndim)))
    values_ndim = len(values.shape)
    if values_ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values_ndim)))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of all values seen. Example: ``Sum()([1, 3, 5, 7])`` gives 16."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", dtype=self.dtype, name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = reduce_to_samplewise_values(values, sample_weight, ops.sum, self.dtype)
        self.total.assign_add(ops.sum(values))

    def reset_state(self):
        self.total.assign(ops.zeros((), dtype=self.total.dtype))

    def result(self):
        return ops.cast(self.total.value, self.dtype)


class Mean(Metric):
    """The (weighted) mean of all values seen: ``total / count``.

    Example:
        >>> m = kbridge.metrics.Mean()
        >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
        >>> m.result()   # 2.0
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", dtype=self.dtype, name="total")
        self.count = self.add_variable((), "zeros", dtype=self.dtype, name="count")

    def update_state(self, values, sample_weight=None, mask=None):
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, ops.mean,
                                                            self.dtype, mask=mask)
        self.total.assign_add(ops.sum(values))
        if sample_weight is not None:
            num_samples = ops.sum(sample_weight)
        elif len(values.shape) >= 1:
            num_samples = ops.shape(values)[0]
        else:
            num_samples = 1
        self.count.assign_add(ops.cast(num_samples, self.dtype))

    def reset_state(self):
        self.total.assign(ops.zeros((), dtype=self.total.dtype))
        self.count.assign(ops.zeros((), dtype=self.count.dtype))

    def result(self):
        return ops.divide_no_nan(self.total.value, ops.cast(self.count.value, self.dtype))


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` over all samples seen.

    Example:
        >>> m = kbridge.metrics.MeanMetricWrapper(kbridge.losses.huber, delta=0.5)
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        self._direction = "down" if getattr(fn, "__name__", None) in losses.ALL_OBJECTS \
            or isinstance(fn, losses.Loss) else None

    def update_state(self, y_true, y_pred, sample_weight=None):
        in_mask = get_mask(y_pred)
        values, mask = values_and_mask(self._fn, y_true, y_pred, self._fn_kwargs)
        sample_weight = apply_mask(sample_weight, in_mask, dtype=self.dtype, reduction="sum")
        super().update_state(values, sample_weight=sample_weight, mask=mask)

    def get_config(self):
        return wrapper_config(super().get_config(), self._fn, self._fn_kwargs)

    @classmethod
    def from_config(cls, config):
        return wrapper_from_config(cls, config)


class KeywordMetricWrapper(MeanMetricWrapper):
    """The mean of a fixed function whose keyword arguments are also the metric's attributes
    and, after name and dtype, its config (Keras's built-in metric classes).

    ``direction`` is "up" where higher values are better, "down" where lower ones are.
    """

    def __init__(self, fn, name, dtype, direction, **kwargs):
        super().__init__(fn, name=name, dtype=dtype, **kwargs)
        for key, value in kwargs.items():
            setattr(self, key, value)
        self._direction = direction

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype}
        config.update({key: getattr(self, key) for key in self._fn_kwargs})
        return config
