"""Confusion-matrix bookkeeping shared by the threshold metrics (TP/FP/TN/FN, precision,
recall, AUC, ...) and the IoU metrics.

Counts are accumulated at every threshold at once: ``pred > threshold`` is computed for a
(thresholds, predictions) grid and summed with the sample weights, with no data-dependent
Python control flow.
"""

import numpy as np

from kbridge import ops
from kbridge.losses.loss import squeeze_or_expand_to_same_rank
from kbridge.metrics.metric import MetricError

NEG_INF = -1e10
TP, FP, TN, FN = "tp", "fp", "tn", "fn"


def to_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return [x]


def parse_init_thresholds(thresholds, default_threshold=0.5):
    if thresholds is not None:
        bad = [t for t in to_list(thresholds) if t is None or t < 0 or t > 1]
        if bad:
            raise MetricError(f"Threshold values must be in [0, 1]. Received: {bad}")
    return to_list(default_threshold if thresholds is None else thresholds)


def filter_top_k(x, k):
    """``x`` with everything but each row's ``k`` largest entries set to a huge negative."""
    _, idx = ops.top_k(x, k)
    keep = ops.sum(ops.one_hot(idx, ops.shape(x)[-1], dtype=ops.dtype(x)), axis=-2)
    return x * keep + NEG_INF * (1.0 - keep)


def update_confusion_matrix_variables(variables, y_true, y_pred, thresholds, top_k=None,
                                      class_id=None, sample_weight=None, multi_label=False,
                                      label_weights=None):
    """Add this batch's weighted counts to ``variables`` (``{"tp"|"fp"|"tn"|"fn": Variable}``).

    Each Variable has shape ``(num_thresholds,)``, or ``(num_thresholds, num_labels)`` with
    ``multi_label=True`` (then ``y_pred`` is (batch, num_labels)). Labels count as positive
    where they are non-zero; a prediction is positive where it is ``> threshold``.
    """
    unknown = [k for k in variables if k not in (TP, FP, TN, FN)]
    if unknown or not variables:
        raise MetricError(f"Confusion-matrix keys must be among {[TP, FP, TN, FN]}. "
                          f"Received: {list(variables)}")
    if multi_label and label_weights is not None:
        raise MetricError("`label_weights` with multi_label=True are applied by the caller.")
    dtype = next(iter(variables.values())).dtype
    y_true = ops.cast(y_true, dtype)
    y_pred = ops.cast(y_pred, dtype)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = ops.expand_dims(ops.cast(sample_weight, dtype), -1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight,
                                                          expand_rank_1=False)
    if top_k is not None:
        y_pred = filter_top_k(y_pred, top_k)
    if class_id is not None:
        if len(y_pred.shape) == 1:
            raise MetricError("With `class_id`, y_pred must be (num_samples, num_classes). "
                              f"Received: y_pred.shape={tuple(y_pred.shape)}")
        y_true = y_true[..., class_id:class_id + 1]
        y_pred = y_pred[..., class_id:class_id + 1]

    weights = None
    if sample_weight is not None:
        weights = ops.broadcast_to(sample_weight, ops.shape(y_pred))
    if label_weights is not None:
        lw = ops.broadcast_to(ops.expand_dims(ops.cast(label_weights, dtype), 0),
                              ops.shape(y_pred))
        weights = lw if weights is None else weights * lw

    thresholds = ops.convert_to_tensor(np.asarray(thresholds, dtype=dtype))
    label_pos = ops.not_equal(y_true, 0.0)
    if multi_label:
        # (thresholds, batch, labels); counts summed over the batch axis.
        preds = ops.expand_dims(y_pred, 0)
        labels = ops.expand_dims(label_pos, 0)
        thr = ops.reshape(thresholds, (-1, 1, 1))
        if weights is not None:
            weights = ops.expand_dims(weights, 0)
    else:
        preds = ops.reshape(y_pred, (1, -1))
        labels = ops.reshape(label_pos, (1, -1))
        thr = ops.reshape(thresholds, (-1, 1))
        if weights is not None:
            weights = ops.reshape(weights, (1, -1))
    pred_pos = ops.greater(preds, thr)

    def count(label_cond, pred_cond):
        hit = ops.logical_and(label_cond, pred_cond)
        if weights is None:
            return ops.sum(ops.cast(hit, dtype), axis=1)
        return ops.sum(ops.where(hit, weights, 0.0), axis=1)

    pairs = {
        TP: lambda: (labels, pred_pos),
        FP: lambda: (ops.logical_not(labels), pred_pos),
        TN: lambda: (ops.logical_not(labels), ops.logical_not(pred_pos)),
        FN: lambda: (labels, ops.logical_not(pred_pos)),
    }
    for key, variable in variables.items():
        variable.assign_add(count(*pairs[key]()))


def confusion_matrix(labels, predictions, num_classes, weights, dtype):
    """The (num_classes, num_classes) matrix of summed ``weights`` at (label, prediction)."""
    labels = ops.cast(labels, "int32")
    predictions = ops.cast(predictions, "int32")
    indices = ops.stack([labels, predictions], axis=1)
    return ops.scatter(indices, ops.cast(weights, dtype), (num_classes, num_classes))
