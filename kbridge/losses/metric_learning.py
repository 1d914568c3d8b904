"""Metric-learning losses: Circle loss over L2-normalised embeddings and integer labels."""

from kbridge import ops
from kbridge.losses.loss import KeywordLossWrapper, set_mask


def _pair_masks(labels, ref_labels, remove_diagonal):
    """Boolean (queries, references) masks of same-label and different-label pairs."""
    labels = ops.reshape(labels, (-1, 1))
    ref_labels = ops.reshape(ref_labels, (-1, 1))
    positive = ops.equal(labels, ops.transpose(ref_labels))
    negative = ops.logical_not(positive)
    if remove_diagonal:
        eye = ops.eye(labels.shape[0], ref_labels.shape[0], dtype="bool")
        positive = ops.logical_and(positive, ops.logical_not(eye))
    return positive, negative


def _circle_with_mask(y_true, y_pred, ref_labels=None, ref_embeddings=None,
                      remove_diagonal=True, gamma=80, margin=0.4):
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, "int32")
    refs = y_pred if ref_embeddings is None else ops.convert_to_tensor(ref_embeddings)
    ref_labels = y_true if ref_labels is None else ops.cast(ref_labels, "int32")
    distances = ops.maximum(1.0 - ops.matmul(y_pred, ops.transpose(refs)), 0.0)
    positive, negative = _pair_masks(y_true, ref_labels, remove_diagonal)
    dtype = distances.dtype
    # Each pair's weight grows with how far it is from its optimum (1 - m for positives'
    # similarity, m for negatives'); pairs already past it get weight 0.
    pos_weights = ops.maximum((margin + distances) * ops.cast(positive, dtype), 0.0)
    neg_weights = ops.maximum((1.0 + margin - distances) * ops.cast(negative, dtype), 0.0)
    pos_logits = -gamma * pos_weights * (margin - distances)
    neg_logits = gamma * neg_weights * (1.0 - margin - distances)
    minus_inf = float("-inf")
    pos_term = ops.logsumexp(ops.where(positive, pos_logits, minus_inf), axis=1)
    neg_term = ops.logsumexp(ops.where(negative, neg_logits, minus_inf), axis=1)
    values = ops.softplus(pos_term + neg_term)
    # A query without positive (or negative) pairs has no loss: it is left out of the mean.
    return values, ops.greater(values, 0.0)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True,
           gamma=80, margin=0.4):
    """Circle loss per query embedding (Sun et al., 2020).

    Args:
        y_true: integer labels, shape ``(batch,)``.
        y_pred: L2-normalised embeddings, shape ``(batch, dim)``.
        ref_labels: labels of the reference embeddings (default: ``y_true``).
        ref_embeddings: L2-normalised reference embeddings (default: ``y_pred``).
        remove_diagonal: leave out each query's pair with itself from the positives.
        gamma: the scale of the similarity logits.
        margin: the relaxation margin ``m``.

    Returns:
        The loss of each query, shape ``(batch,)``; 0 (and masked) for a query without
        positive pairs.

    Example:
        >>> emb = kbridge.ops.normalize(kbridge.random.normal((4, 8)))
        >>> kbridge.losses.circle([0, 0, 1, 1], emb)
    """
    values, mask = _circle_with_mask(y_true, y_pred, ref_labels, ref_embeddings,
                                     remove_diagonal, gamma, margin)
    return set_mask(values, mask)


circle.with_mask = _circle_with_mask


class Circle(KeywordLossWrapper):
    """Circle loss between integer labels and L2-normalised embeddings.

    Pairs with the same label are pulled together and others pushed apart, each weighted by
    how far it is from its optimum. Queries without positive pairs are left out of the mean.

    Example:
        >>> model.compile(optimizer="adam", loss=kbridge.losses.Circle(gamma=64, margin=0.25))
    """

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True,
                 reduction="sum_over_batch_size", name="circle", dtype=None):
        super().__init__(circle, reduction, name, dtype, gamma=gamma, margin=margin,
                         remove_diagonal=remove_diagonal)
