"""Symbolic placeholders: a shape and a dtype, no data (Keras's ``KerasTensor``)."""

from kbridge.backend.common.dtypes import standardize_dtype
from kbridge.errors import ShapeError

_ops_module = None


def _ops():
    global _ops_module
    if _ops_module is None:
        import kbridge.ops

        _ops_module = kbridge.ops
    return _ops_module


class TensorOperators:
    """Python operators, indexing, ``astype`` and ``.T`` through the public ops (so a
    :class:`KerasTensor` infers shapes and dtypes and a ``Variable`` reads its value)."""

    def astype(self, dtype):
        return _ops().cast(self, dtype)

    @property
    def T(self):
        return _ops().transpose(self)

    def __getitem__(self, key):
        return _ops().get_item(self, key)

    def __add__(self, o): return _ops().add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _ops().subtract(self, o)
    def __rsub__(self, o): return _ops().subtract(o, self)
    def __mul__(self, o): return _ops().multiply(self, o)
    def __rmul__(self, o): return _ops().multiply(o, self)
    def __truediv__(self, o): return _ops().true_divide(self, o)
    def __rtruediv__(self, o): return _ops().true_divide(o, self)
    def __floordiv__(self, o): return _ops().floor_divide(self, o)
    def __rfloordiv__(self, o): return _ops().floor_divide(o, self)
    def __mod__(self, o): return _ops().mod(self, o)
    def __rmod__(self, o): return _ops().mod(o, self)
    def __pow__(self, o): return _ops().power(self, o)
    def __rpow__(self, o): return _ops().power(o, self)
    def __matmul__(self, o): return _ops().matmul(self, o)
    def __rmatmul__(self, o): return _ops().matmul(o, self)
    def __neg__(self): return _ops().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().absolute(self)
    def __invert__(self): return _ops().logical_not(self)
    def __and__(self, o): return _ops().logical_and(self, o)
    def __rand__(self, o): return _ops().logical_and(o, self)
    def __or__(self, o): return _ops().logical_or(self, o)
    def __ror__(self, o): return _ops().logical_or(o, self)
    def __xor__(self, o): return _ops().logical_xor(self, o)
    def __rxor__(self, o): return _ops().logical_xor(o, self)
    def __lt__(self, o): return _ops().less(self, o)
    def __le__(self, o): return _ops().less_equal(self, o)
    def __gt__(self, o): return _ops().greater(self, o)
    def __ge__(self, o): return _ops().greater_equal(self, o)
    def __eq__(self, o): return _ops().equal(self, o)
    def __ne__(self, o): return _ops().not_equal(self, o)


class KerasTensor(TensorOperators):
    """A placeholder with a static ``shape`` (``None`` for unknown dims) and a ``dtype``.

    Ops called on KerasTensors infer the output shape and dtype without real data; this is
    how Functional models are built from :func:`kbridge.Input`.

    Example:
        >>> x = kbridge.KerasTensor((None, 3))
        >>> kbridge.ops.matmul(x, np.ones((3, 4), "float32")).shape
        (None, 4)
    """

    __array_priority__ = 100

    def __init__(self, shape, dtype="float32", sparse=False, ragged=False, record_history=True,
                 name=None):
        if ragged:
            raise ShapeError("kbridge has no ragged tensors (a TensorFlow-only Keras feature). "
                             "Received: ragged=True")
        try:
            shape = tuple(None if d is None else int(d) for d in shape)
        except TypeError:
            raise ShapeError(
                f"A KerasTensor shape must be a tuple of ints or None. Received: shape={shape!r}"
            ) from None
        self.shape = shape
        self.dtype = standardize_dtype(dtype)
        self.sparse = bool(sparse)
        self.name = name
        self._keras_history = None

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        name = f", name={self.name}" if self.name else ""
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}{name}>"

    def __len__(self):
        if not self.shape or self.shape[0] is None:
            raise TypeError(f"len() of a KerasTensor with shape {self.shape} is unknown.")
        return self.shape[0]

    def __iter__(self):
        raise TypeError(
            "A KerasTensor cannot be iterated: it holds no data. Use kbridge.ops.unstack "
            "or indexing instead."
        )

    def __bool__(self):
        raise TypeError("A KerasTensor has no truth value: it holds no data.")

    def __hash__(self):
        return id(self)

    def reshape(self, newshape):
        return _ops().reshape(self, newshape)


def is_keras_tensor(x):
    return isinstance(x, KerasTensor)
