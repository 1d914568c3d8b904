"""Cross-entropy losses (binary, categorical, sparse, focal), CTC, Dice and Tversky.

Functions return per-sample values; classes weight and reduce them. The cross-entropies
are built on the ``kbridge.ops`` nn ops, so probabilities are clipped and logits are
handled stably the same way on every backend.
"""

import warnings

from kbridge import ops
from kbridge.backend.common.config import epsilon
from kbridge.losses.loss import FixedFunctionLoss, KeywordLossWrapper, LossError, set_mask


def _categorical_inputs(name, y_true, y_pred, label_smoothing, axis):
    """``y_true`` (cast to ``y_pred``'s dtype and smoothed) and ``y_pred`` as tensors, after
    Keras's checks of ``axis`` and of the number of classes."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise LossError(f"`axis` must be an int. Received: axis={axis!r}")
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = ops.dtype(y_pred)
    y_true = ops.cast(y_true, dtype)
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"In loss {name}, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={tuple(y_pred.shape)}. Consider "
            "'binary_crossentropy' for two classes.", SyntaxWarning, stacklevel=3)
    if label_smoothing:
        num_classes = ops.cast(ops.shape(y_true)[-1], dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    return y_true, y_pred


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy averaged over ``axis``; ``label_smoothing`` pulls targets to 0.5.

    Example:
        >>> kbridge.losses.binary_crossentropy([[0., 1.]], [[0.2, 0.7]])
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return ops.mean(ops.binary_crossentropy(y_true, y_pred, from_logits=from_logits), axis=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy scaled by ``(1 - p_t) ** gamma`` (and ``alpha`` balancing)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    bce = ops.binary_crossentropy(y_true, y_pred, from_logits=False)
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = ops.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.mean(focal, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Cross-entropy between one-hot (or soft) ``y_true`` and ``y_pred`` along ``axis``.

    Example:
        >>> kbridge.losses.categorical_crossentropy([[0, 1, 0]], [[0.1, 0.8, 0.1]])
    """
    y_true, y_pred = _categorical_inputs("categorical_crossentropy", y_true, y_pred,
                                         label_smoothing, axis)
    return ops.categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Categorical cross-entropy scaled per class by ``alpha * (1 - p) ** gamma``."""
    y_true, y_pred = _categorical_inputs("categorical_focal_crossentropy", y_true, y_pred,
                                         label_smoothing, axis)
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    # Renormalise so each sample's probabilities sum to one, then clip away from 0 and 1.
    output = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    output = ops.clip(output, epsilon(), 1.0 - epsilon())
    cce = -y_true * ops.log(output)
    focal = ops.multiply(ops.power(1.0 - output, gamma), alpha) * cce
    return ops.sum(focal, axis=axis)


def _sparse_ce_with_mask(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Sparse cross-entropy and the mask of entries that count (``None`` without
    ``ignore_class``)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    rank = len(y_pred.shape)
    if len(y_true.shape) == rank and y_true.shape[axis] == 1:
        y_true = ops.squeeze(y_true, axis)
    if ignore_class is None:
        res = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=from_logits,
                                                  axis=axis)
        return res, None
    class_axis = axis % rank
    valid = ops.not_equal(y_true, ops.cast(ignore_class, ops.dtype(y_true)))
    y_true = ops.where(valid, y_true, ops.zeros_like(y_true))
    y_pred = ops.where(ops.expand_dims(valid, class_axis), y_pred, 0.0)
    res = ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis)
    res_shape = tuple(d for i, d in enumerate(ops.shape(y_pred)) if i != class_axis)
    valid = ops.reshape(valid, res_shape)
    return ops.where(valid, res, 0.0), valid


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Cross-entropy for integer labels; entries equal to ``ignore_class`` give 0 and are
    left out of the loss classes' averages.

    Example:
        >>> kbridge.losses.sparse_categorical_crossentropy([1], [[0.1, 0.8, 0.1]])
    """
    res, mask = _sparse_ce_with_mask(y_true, y_pred, from_logits, ignore_class, axis)
    return res if mask is None else set_mask(res, mask)


sparse_categorical_crossentropy.with_mask = _sparse_ce_with_mask


def ctc(y_true, y_pred):
    """CTC loss per sequence: ``y_true`` (batch, max_label_length) int labels padded with 0
    (0 is the blank), ``y_pred`` (batch, time, classes) unnormalised logits."""
    if len(ops.shape(y_true)) != 2:
        raise LossError("`y_true` must be (batch_size, max_length) integer labels. "
                        f"Received: y_true.shape={tuple(ops.shape(y_true))}")
    if len(ops.shape(y_pred)) != 3:
        raise LossError("`y_pred` must be (batch_size, max_length, num_classes) logits. "
                        f"Received: y_pred.shape={tuple(ops.shape(y_pred))}")
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, "int32")
    batch, steps = ops.shape(y_pred)[0], ops.shape(y_pred)[1]
    output_length = ops.cast(ops.ones_like(y_true[:, 0]), "int32") * steps
    label_length = ops.cast(ops.sum(ops.cast(ops.not_equal(y_true, 0), "int32"), axis=-1),
                            "int32")
    del batch
    return ops.ctc_loss(y_true, y_pred, label_length, output_length, mask_index=0)


def dice(y_true, y_pred, axis=None):
    """``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred))`` over ``axis``."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    intersection = ops.sum(y_true * y_pred, axis=axis)
    denominator = ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis) + epsilon()
    return 1.0 - ops.divide(2.0 * intersection, denominator)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """Tversky loss: like Dice with false positives weighted ``alpha`` and false negatives
    ``beta`` (alpha = beta = 0.5 is Dice)."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, ops.dtype(y_pred))
    intersection = ops.sum(y_true * y_pred, axis=axis)
    fp = ops.sum((1.0 - y_pred) * y_true, axis=axis)
    fn = ops.sum(y_pred * (1.0 - y_true), axis=axis)
    score = ops.divide(intersection, intersection + fp * alpha + fn * beta + epsilon())
    return 1.0 - score


class BinaryCrossentropy(KeywordLossWrapper):
    """Binary cross-entropy. Example: ``BinaryCrossentropy(from_logits=True)(y, logits)``."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction, name, dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class BinaryFocalCrossentropy(KeywordLossWrapper):
    """Focal binary cross-entropy. Example: ``BinaryFocalCrossentropy(gamma=2.0)(y, p)``."""

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        super().__init__(binary_focal_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma)


class CategoricalCrossentropy(KeywordLossWrapper):
    """Cross-entropy for one-hot labels. Example: ``CategoricalCrossentropy()(onehot, probs)``."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalFocalCrossentropy(KeywordLossWrapper):
    """Focal categorical cross-entropy. Example: ``CategoricalFocalCrossentropy(alpha=0.5)``."""

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy",
                 dtype=None):
        super().__init__(categorical_focal_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                         alpha=alpha, gamma=gamma)


class SparseCategoricalCrossentropy(KeywordLossWrapper):
    """Cross-entropy for integer labels; ``ignore_class`` entries are left out of the average.

    Example:
        >>> kbridge.losses.SparseCategoricalCrossentropy(ignore_class=-1)(labels, probs)
    """

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 axis=-1, name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction, name, dtype,
                         from_logits=from_logits, ignore_class=ignore_class, axis=axis)

    def get_config(self):
        config = super().get_config()
        if self.axis == -1:  # Keras leaves `axis` out of this config; kept when it matters
            del config["axis"]
        return config


class CTC(FixedFunctionLoss, fn=ctc):
    """Connectionist temporal classification loss. Example: ``kbridge.losses.CTC()(labels,
    logits)``."""


class Dice(KeywordLossWrapper):
    """Dice loss over ``axis`` (all axes by default). Example: ``Dice(axis=(1, 2))(mask, p)``."""

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(dice, reduction, name, dtype, axis=axis)


class Tversky(KeywordLossWrapper):
    """Tversky loss. Example: ``kbridge.losses.Tversky(alpha=0.7, beta=0.3)(mask, probs)``."""

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky",
                 axis=None, dtype=None):
        super().__init__(tversky, reduction, name, dtype, alpha=alpha, beta=beta, axis=axis)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Generalised cross-entropy ``(1 - p ** q) / q`` per sample, ``p`` being the predicted
    probability of the true class (Zhang & Sabuncu, 2018).

    Args:
        y_true: integer class indices, shape ``(batch,)`` or ``(batch, 1)``.
        y_pred: class probabilities, shape ``(batch, num_classes)``.
        q: in (0, 1): towards 0 the loss behaves like cross-entropy, towards 1 like MAE.

    Example:
        >>> kbridge.losses.categorical_generalized_cross_entropy([1], [[0.2, 0.8]], q=0.5)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    one_hot = ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[-1], dtype=y_pred.dtype)
    p = ops.sum(y_pred * one_hot, axis=-1)
    return (1.0 - ops.power(p, q)) / q


class CategoricalGeneralizedCrossEntropy(KeywordLossWrapper):
    """Generalised cross-entropy, robust to noisy labels: ``(1 - p ** q) / q``.

    Example:
        >>> kbridge.losses.CategoricalGeneralizedCrossEntropy(q=0.7)([0, 1], [[0.9, 0.1],
        ...                                                           [0.3, 0.7]])
    """

    def __init__(self, q=0.5, reduction="sum_over_batch_size",
                 name="categorical_generalized_cross_entropy", dtype=None):
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise LossError(f"`q` must be a float in the interval (0, 1). Received: q={q!r}")
        super().__init__(categorical_generalized_cross_entropy, reduction, name, dtype, q=q)
