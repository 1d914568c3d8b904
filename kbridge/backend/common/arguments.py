"""Argument checks shared by every backend's implementation of the same op."""

from kbridge.errors import ArgumentError, ShapeError


def int_tuple(value, n, name):
    """``value`` (an int, or 1 or ``n`` ints) as a tuple of ``n`` ints."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) == 1 and n > 1:
        return value * n
    if len(value) != n:
        raise ShapeError(f"`{name}` must be an int or a tuple of {n} ints. Received: {name}={value}")
    return value


def check_padding(padding):
    """'valid' or 'same' (case-insensitive), else a clear ArgumentError."""
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in ("valid", "same"):
        raise ArgumentError(f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}")
    return padding
