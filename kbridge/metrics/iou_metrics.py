"""Intersection-over-union metrics from an accumulated confusion matrix."""

import warnings

from kbridge import ops
from kbridge.backend.common.config import epsilon
from kbridge.backend.common.dtypes import is_float
from kbridge.metrics.metric import Metric, MetricError
from kbridge.metrics.metrics_utils import confusion_matrix


def _int_dtype(backend):
    # Keras's "int" is int32 on jax/numpy and int64 on torch/tensorflow.
    return "int32" if backend in ("jax", "numpy") else "int64"


class _IoUBase(Metric):
    """Accumulates a (num_classes, num_classes) confusion matrix (rows: labels)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        from kbridge.backend.common import context

        super().__init__(name=name, dtype=dtype or _int_dtype(context.get()))
        self._direction = "up"
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self.total_cm = self.add_variable((num_classes, num_classes), "zeros",
                                          dtype=self.dtype, name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, axis=self.axis)
        y_true = ops.reshape(ops.cast(y_true, self.dtype), (-1,))
        y_pred = ops.reshape(ops.cast(y_pred, self.dtype), (-1,))
        if sample_weight is None:
            sample_weight = ops.ones_like(y_true)
        else:
            if is_float(getattr(sample_weight, "dtype", "float32")) and \
                    not is_float(self.dtype):
                warnings.warn("Float sample weights are cast to this IoU metric's integer "
                              "dtype; pass integer weights (or dtype='float32').",
                              stacklevel=2)
            sample_weight = ops.reshape(ops.cast(sample_weight, self.dtype), (-1,))
            sample_weight = ops.broadcast_to(sample_weight, ops.shape(y_true))
        in_range = ops.logical_and(
            ops.logical_and(ops.greater_equal(y_true, 0), ops.less(y_true, self.num_classes)),
            ops.logical_and(ops.greater_equal(y_pred, 0), ops.less(y_pred, self.num_classes)))
        if self.ignore_class is not None:
            in_range = ops.logical_and(in_range, ops.not_equal(y_true, self.ignore_class))
        zero = ops.zeros_like(y_true)
        y_true = ops.where(in_range, y_true, zero)
        y_pred = ops.where(in_range, y_pred, zero)
        sample_weight = ops.where(in_range, sample_weight, ops.zeros_like(sample_weight))
        cm = confusion_matrix(y_true, y_pred, self.num_classes, sample_weight, self.dtype)
        self.total_cm.assign_add(cm)

    def reset_state(self):
        self.total_cm.assign(ops.zeros(self.total_cm.shape, dtype=self.total_cm.dtype))


class IoU(_IoUBase):
    """Mean IoU over ``target_class_ids``: ``TP / (TP + FP + FN)`` per class, classes that
    never occur left out.

    Example:
        >>> kbridge.metrics.IoU(num_classes=3, target_class_ids=[0, 2])(labels, preds)
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)
        target_class_ids = list(target_class_ids)
        if max(target_class_ids) >= num_classes:
            raise MetricError(f"Target class id {max(target_class_ids)} is out of range, "
                              f"which is [0, {num_classes}).")
        self.target_class_ids = target_class_ids

    def result(self):
        cm = ops.cast(self.total_cm.value, "float32")
        tp = ops.diagonal(cm)
        denominator = ops.sum(cm, axis=0) + ops.sum(cm, axis=1) - tp
        ids = ops.convert_to_tensor(self.target_class_ids, dtype="int32")
        tp = ops.take(tp, ids)
        denominator = ops.take(denominator, ids)
        valid = ops.greater(denominator, 1e-9)
        iou = ops.where(valid, tp / (denominator + epsilon()), 0.0)
        return ops.sum(iou) / (ops.sum(ops.cast(valid, "float32")) + epsilon())

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class BinaryIoU(IoU):
    """IoU for binary labels, predictions thresholded at ``threshold``.
    Example: ``BinaryIoU(target_class_ids=[1], threshold=0.3)(mask, probs)``."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name,
                         dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(ops.greater_equal(ops.cast(y_pred, "float32"), self.threshold),
                          self.dtype)
        super().update_state(ops.cast(y_true, self.dtype), y_pred, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "name": self.name, "dtype": self.dtype}


class MeanIoU(IoU):
    """IoU averaged over all ``num_classes``. Example: ``MeanIoU(num_classes=2)(y, y_hat)``."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """IoU for one-hot labels and per-class scores (argmax taken on both).
    Example: ``OneHotIoU(num_classes=3, target_class_ids=[1])(onehot, probs)``."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "name": self.name, "dtype": self.dtype, "ignore_class": self.ignore_class,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """Mean IoU for one-hot labels and per-class scores.
    Example: ``OneHotMeanIoU(num_classes=3)(onehot, probs)``."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}
