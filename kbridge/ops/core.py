"""Core ops: conversion, casting, shapes, control flow, scatter/slice updates."""

from kbridge.backend.common.dispatch import op_decorator

op = op_decorator("core")


@op
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """``x`` as a tensor of the active backend (or of the backend ``x`` already belongs to).

    Python floats become ``floatx()``, Python ints ``int32``; numpy arrays keep their dtype.

    Example:
        >>> with kbridge.backend.use("torch"):
        ...     kbridge.ops.convert_to_tensor([1.0, 2.0])
        tensor([1., 2.])
    """


@op
def convert_to_numpy(x):
    """``x`` as a numpy array (a copy where the framework requires one)."""


@op
def cast(x, dtype):
    """``x`` converted to ``dtype``."""


@op(spec=lambda x: False)
def is_tensor(x):
    """Whether ``x`` is a native tensor of the backend it is dispatched to."""


@op(spec=lambda x: x.shape)
def shape(x):
    """The shape of ``x`` as a tuple (dynamic dims may be tensors on TensorFlow graphs)."""


@op(spec=lambda x: x.dtype)
def dtype(x):
    """The kbridge dtype name of ``x``, e.g. ``"float32"``."""
