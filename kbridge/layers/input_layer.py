"""``kbridge.Input`` and ``InputLayer``: the placeholders a Functional model starts from."""

from kbridge.backend.common.dtypes import standardize_dtype
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import ArgumentError, ShapeError
from kbridge.layers.layer import Layer, Node


class InputLayer(Layer):
    """The source of one Functional input; its output is a :class:`KerasTensor`."""

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None,
                 batch_shape=None, input_tensor=None, optional=False, name=None, **kwargs):
        kwargs.pop("input_shape", None)
        super().__init__(name=name, **kwargs)
        _refuse_ragged(ragged)
        if shape is not None and batch_shape is not None:
            raise ShapeError("Pass `shape` or `batch_shape` to Input, not both. "
                             f"Received: shape={shape}, batch_shape={batch_shape}")
        if input_tensor is not None:
            batch_shape = input_tensor.shape
            dtype = dtype or input_tensor.dtype
        elif batch_shape is None:
            if shape is None:
                raise ShapeError("Input needs `shape` (without the batch dimension) or "
                                 "`batch_shape`. Received neither.")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size,) + tuple(shape)
        self.batch_shape = tuple(batch_shape)
        self._dtype_name = standardize_dtype(dtype)
        self.sparse = bool(sparse)
        self.optional = optional
        self.built = True
        tensor = KerasTensor(self.batch_shape, self._dtype_name, sparse=self.sparse, name=self.name)
        node = Node(self, (), {}, tensor)
        self._inbound_nodes.append(node)
        tensor._keras_history = (self, 0, 0)
        self.output = tensor

    @property
    def dtype(self):
        return self._dtype_name

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self._dtype_name,
                "sparse": self.sparse, "name": self.name, "optional": self.optional}


def _refuse_ragged(ragged):
    if ragged:
        raise ArgumentError("Ragged inputs are a TensorFlow-only Keras feature that kbridge "
                            "does not support: pad the sequences (keras.utils.pad_sequences) "
                            "or pass a mask. Received: ragged=True")


def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
          name=None, tensor=None, optional=False):
    """A symbolic input for a Functional model.

    Example:
        >>> x = kbridge.Input(shape=(28, 28, 1))
        >>> x.shape
        (None, 28, 28, 1)
    """
    _refuse_ragged(ragged)
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, input_tensor=tensor, optional=optional, name=name)
    return layer.output
