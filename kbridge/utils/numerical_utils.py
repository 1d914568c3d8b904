"""``to_categorical`` and ``normalize``: Keras 3's numerical helpers for arrays and tensors."""

import numpy as np

from kbridge.errors import ArgumentError

__all__ = ["to_categorical", "normalize"]


def to_categorical(x, num_classes=None):
    """One-hot encodes integer class labels; the class axis is placed last.

    A trailing axis of size 1 (labels shaped ``(n, 1)``) is dropped first. A numpy array or a
    Python list gives a float64 numpy array (as Keras); a backend tensor gives a tensor of the
    same backend.

    Args:
        x: integer class labels in ``[0, num_classes)``.
        num_classes: number of classes; ``max(x) + 1`` when None.

    Example:
        >>> kbridge.utils.to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]])
    """
    from kbridge import ops

    if not isinstance(x, np.ndarray) and ops.is_tensor(x):
        shape = tuple(x.shape)
        if len(shape) > 1 and shape[-1] == 1:
            x = ops.reshape(x, shape[:-1])
        return ops.one_hot(x, num_classes)
    labels = np.array(x, dtype="int64")
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if not num_classes:
        num_classes = int(np.max(labels)) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ArgumentError(
            f"`x` must hold class indices in [0, {num_classes}). Received values from "
            f"{labels.min()} to {labels.max()} with num_classes={num_classes}.")
    categorical = np.zeros((labels.shape[0], num_classes))
    categorical[np.arange(labels.shape[0]), labels] = 1
    return categorical.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """Divides ``x`` by its ``order``-norm along ``axis`` (zero norms are left as they are).

    A numpy array gives a numpy array; a backend tensor gives a tensor of its backend.

    Example:
        >>> kbridge.utils.normalize(np.array([[3.0, 4.0]]))
        array([[0.6, 0.8]])
    """
    if isinstance(x, np.ndarray):
        norm = np.atleast_1d(np.linalg.norm(x, order, axis))
        norm[norm == 0] = 1
        return x / np.expand_dims(norm, axis if axis is not None else -1)
    from kbridge import ops

    return ops.normalize(x, axis=axis, order=order)
