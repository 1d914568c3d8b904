"""numpy ops."""

from kbridge.backend.common.dispatch import op_decorator

op = op_decorator("numpy")


@op
def add(x1, x2):
    """Element-wise ``x1 + x2`` with kbridge's dtype promotion.

    Example:
        >>> kbridge.ops.add(np.array([1, 2], "int8"), 3)      # int8: Python scalars are weak
    """


@op
def matmul(x1, x2):
    """Matrix product of ``x1`` and ``x2`` (batched over leading dims, as ``np.matmul``)."""
