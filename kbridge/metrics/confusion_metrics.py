"""Threshold metrics: TP/FP/TN/FN counts, Precision, Recall, the X-at-Y family and AUC."""

import numpy as np

from kbridge import ops
from kbridge.backend.common.config import epsilon
from kbridge.metrics import metrics_utils as mu
from kbridge.metrics.metric import Metric, MetricError


def _first_or_all(values, thresholds):
    return values[0] if len(thresholds) == 1 else values


class _ConfusionMatrixConditionCount(Metric):
    """Weighted count of one confusion-matrix cell at each threshold."""

    _cell = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = mu.parse_init_thresholds(thresholds, default_threshold=0.5)
        self.accumulator = self.add_variable((len(self.thresholds),), "zeros",
                                             name="accumulator")

    def update_state(self, y_true, y_pred, sample_weight=None):
        mu.update_confusion_matrix_variables({self._cell: self.accumulator}, y_true, y_pred,
                                             self.thresholds, sample_weight=sample_weight)

    def result(self):
        return _first_or_all(self.accumulator.value, self.thresholds)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """Weighted count of true positives (``y_pred > threshold`` and label 1).
    Example: ``TruePositives(thresholds=[0.3, 0.7])``."""

    _cell = mu.TP


class FalsePositives(_ConfusionMatrixConditionCount):
    """Weighted count of false positives. Example: ``FalsePositives()(y, probs)``."""

    _cell = mu.FP


class TrueNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of true negatives. Example: ``TrueNegatives()(y, probs)``."""

    _cell = mu.TN


class FalseNegatives(_ConfusionMatrixConditionCount):
    """Weighted count of false negatives. Example: ``FalseNegatives()(y, probs)``."""

    _cell = mu.FN


class _PrecisionRecallBase(Metric):
    _second = None  # "fp" for precision, "fn" for recall
    _second_name = None

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else mu.NEG_INF
        self.thresholds = mu.parse_init_thresholds(thresholds, default_threshold=default)
        n = len(self.thresholds)
        self.true_positives = self.add_variable((n,), "zeros", name="true_positives")
        self._other = self.add_variable((n,), "zeros", name=self._second_name)

    def update_state(self, y_true, y_pred, sample_weight=None):
        mu.update_confusion_matrix_variables(
            {mu.TP: self.true_positives, self._second: self._other}, y_true, y_pred,
            self.thresholds, top_k=self.top_k, class_id=self.class_id,
            sample_weight=sample_weight)

    def result(self):
        tp = self.true_positives.value
        return _first_or_all(ops.divide_no_nan(tp, tp + self._other.value), self.thresholds)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_PrecisionRecallBase):
    """TP / (TP + FP) at each threshold (or among each row's ``top_k``, or for ``class_id``).

    Example:
        >>> kbridge.metrics.Precision(thresholds=0.6)([0, 1, 1], [0.7, 0.8, 0.2])   # 0.5
    """

    _second = mu.FP
    _second_name = "false_positives"

    @property
    def false_positives(self):
        return self._other


class Recall(_PrecisionRecallBase):
    """TP / (TP + FN) at each threshold (or among each row's ``top_k``, or for ``class_id``).

    Example:
        >>> kbridge.metrics.Recall()([0, 1, 1], [0.7, 0.8, 0.2])   # 0.5
    """

    _second = mu.FN
    _second_name = "false_negatives"

    @property
    def false_negatives(self):
        return self._other


class SensitivitySpecificityBase(Metric):
    """Holds TP/FP/TN/FN at ``num_thresholds`` evenly spaced thresholds in [0, 1]."""

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        if num_thresholds <= 0:
            raise MetricError("`num_thresholds` must be an integer > 0. Received: "
                              f"num_thresholds={num_thresholds}")
        self.value = value
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0] + inner + [1.0]
        n = len(self.thresholds)
        self.true_positives = self.add_variable((n,), "zeros", name="true_positives")
        self.false_positives = self.add_variable((n,), "zeros", name="false_positives")
        self.true_negatives = self.add_variable((n,), "zeros", name="true_negatives")
        self.false_negatives = self.add_variable((n,), "zeros", name="false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        mu.update_confusion_matrix_variables(
            {mu.TP: self.true_positives, mu.TN: self.true_negatives,
             mu.FP: self.false_positives, mu.FN: self.false_negatives},
            y_true, y_pred, self.thresholds, class_id=self.class_id,
            sample_weight=sample_weight)

    def _rates(self):
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        return {
            "recall": ops.divide_no_nan(tp, tp + fn),            # = sensitivity
            "specificity": ops.divide_no_nan(tn, tn + fp),
            "precision": ops.divide_no_nan(tp, tp + fp),
        }

    def _max_under_constraint(self, constrained, dependent):
        """The largest ``dependent`` where ``constrained >= value`` (0 when none)."""
        feasible = ops.greater_equal(constrained, self.value)
        return ops.max(ops.where(feasible, dependent, 0.0))

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id}


class _AtConstraint(SensitivitySpecificityBase):
    """The best rate ``_compared[1]`` among thresholds whose rate ``_compared[0]`` is at least
    the constraint value, which the class takes (checked in [0, 1]), keeps and configures
    under the name ``_value_name``."""

    _value_name = None
    _compared = None

    def __init__(self, value, num_thresholds, class_id, name, dtype):
        if value < 0 or value > 1:
            raise MetricError(f"`{self._value_name}` must be in [0, 1]. Received: "
                              f"{self._value_name}={value}")
        setattr(self, self._value_name, value)
        self.num_thresholds = num_thresholds
        super().__init__(value, num_thresholds, class_id, name, dtype)

    def result(self):
        constrained, optimized = self._compared
        rates = self._rates()
        return self._max_under_constraint(rates[constrained], rates[optimized])

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds,
                self._value_name: getattr(self, self._value_name)}


class SensitivityAtSpecificity(_AtConstraint):
    """Best sensitivity (recall) among thresholds whose specificity is >= ``specificity``.
    Example: ``SensitivityAtSpecificity(0.5)(y, probs)``."""

    _value_name, _compared = "specificity", ("specificity", "recall")

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtConstraint):
    """Best specificity among thresholds whose sensitivity is >= ``sensitivity``.
    Example: ``SpecificityAtSensitivity(0.8)(y, probs)``."""

    _value_name, _compared = "sensitivity", ("recall", "specificity")

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtConstraint):
    """Best precision among thresholds whose recall is >= ``recall``.
    Example: ``PrecisionAtRecall(0.5)(y, probs)``."""

    _value_name, _compared = "recall", ("recall", "precision")

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtConstraint):
    """Best recall among thresholds whose precision is >= ``precision``.
    Example: ``RecallAtPrecision(0.8)(y, probs)``."""

    _value_name, _compared = "precision", ("precision", "recall")

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(Metric):
    """Area under the ROC or precision-recall curve, by a Riemann sum over thresholds.

    Args:
        num_thresholds: number of evenly spaced thresholds (when ``thresholds`` is None).
        curve: ``"ROC"``, ``"PR"`` or ``"PRGAIN"``.
        summation_method: ``"interpolation"`` (PR uses the interpolation of Davis &
            Goadrich), ``"majoring"`` or ``"minoring"``.
        thresholds: explicit thresholds in [0, 1] (0 - eps and 1 + eps are added).
        multi_label: one curve per label (columns of a (batch, labels) ``y_pred``), averaged
            (weighted by ``label_weights`` when given).
        num_labels: the label count for ``multi_label`` (otherwise taken from the first batch).
        label_weights: per-label weights.
        from_logits: apply a sigmoid to ``y_pred`` first.

    Example:
        >>> kbridge.metrics.AUC(curve="PR")([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        curve_key = getattr(curve, "value", curve)
        if not isinstance(curve_key, str) or curve_key.lower() not in _CURVES:
            raise MetricError(f"`curve` must be one of {list(_CURVES.values())}. "
                              f"Received: curve={curve!r}")
        method = getattr(summation_method, "value", summation_method)
        if not isinstance(method, str) or method.lower() not in _SUMMATIONS:
            raise MetricError(f"`summation_method` must be one of {list(_SUMMATIONS)}. "
                              f"Received: summation_method={summation_method!r}")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
        else:
            if num_thresholds <= 1:
                raise MetricError("`num_thresholds` must be an integer > 1. Received: "
                                  f"num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self._thresholds = np.array([0.0 - epsilon()] + inner + [1.0 + epsilon()])
        self.curve = _CURVES[curve_key.lower()]
        self.summation_method = method.lower()
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else \
            [float(w) for w in np.asarray(label_weights).reshape(-1)]
        self._from_logits = from_logits
        self._built = False
        if multi_label:
            if num_labels:
                self._build((None, num_labels))
        else:
            if num_labels:
                raise MetricError("`num_labels` is only used with multi_label=True.")
            self._build(None)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, shape):
        if self.multi_label:
            if len(shape) != 2:
                raise MetricError("With multi_label=True, y_pred must have rank 2. "
                                  f"Received: y_pred.shape={tuple(shape)}")
            self._num_labels = int(shape[1])
            var_shape = (self.num_thresholds, self._num_labels)
        else:
            var_shape = (self.num_thresholds,)
        self.true_positives = self.add_variable(var_shape, "zeros", name="true_positives")
        self.false_positives = self.add_variable(var_shape, "zeros", name="false_positives")
        self.true_negatives = self.add_variable(var_shape, "zeros", name="true_negatives")
        self.false_negatives = self.add_variable(var_shape, "zeros", name="false_negatives")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        if not self._built:
            self._build(tuple(y_pred.shape))
        if self._from_logits:
            y_pred = ops.sigmoid(y_pred)
        label_weights = None if self.multi_label else self.label_weights
        mu.update_confusion_matrix_variables(
            {mu.TP: self.true_positives, mu.TN: self.true_negatives,
             mu.FP: self.false_positives, mu.FN: self.false_negatives},
            y_true, y_pred, self._thresholds, sample_weight=sample_weight,
            multi_label=self.multi_label, label_weights=label_weights)

    def _average_over_labels(self, per_threshold_terms):
        if not self.multi_label:
            return ops.sum(per_threshold_terms)
        by_label = ops.sum(per_threshold_terms, axis=0)
        if self.label_weights is None:
            return ops.mean(by_label)
        w = ops.cast(ops.convert_to_tensor(np.asarray(self.label_weights)), self.dtype)
        return ops.divide_no_nan(ops.sum(by_label * w), ops.sum(w))

    def _interpolate_pr_auc(self, tp, fp, fn):
        # Precision is interpolated linearly in the number of predicted positives between
        # neighbouring thresholds (Davis & Goadrich, 2006); each slice integrates exactly.
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = ops.divide_no_nan(dtp, ops.maximum(dp, 0.0))
        intercept = tp[1:] - slope * p[1:]
        both = ops.logical_and(ops.greater(p[:-1], 0.0), ops.greater(p[1:], 0.0))
        ratio = ops.where(both, ops.divide_no_nan(p[:-1], ops.maximum(p[1:], 0.0)),
                          ops.ones_like(p[1:]))
        increment = ops.divide_no_nan(slope * (dtp + intercept * ops.log(ratio)),
                                      ops.maximum(tp[1:] + fn[1:], 0.0))
        return self._average_over_labels(increment)

    def result(self):
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(tp, fp, fn)
        recall = ops.divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = ops.divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, ops.divide_no_nan(tp, tp + fp)
        else:
            scale = ops.divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scale * ops.divide_no_nan(fn, tp)
            precision_gain = 1.0 - scale * ops.divide_no_nan(fp, tp)
            no_tp = ops.equal(tp, 0.0)
            x = ops.maximum(ops.where(no_tp, 0.0, recall_gain), 0.0)
            y = ops.where(no_tp, 1.0, precision_gain)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = ops.minimum(y[:-1], y[1:])
        else:
            heights = ops.maximum(y[:-1], y[1:])
        return self._average_over_labels((x[:-1] - x[1:]) * heights)

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": self.label_weights, "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = [float(t) for t in self._thresholds[1:-1]]
        return config
