"""Keras 3's ``keras.Operation`` and ``keras.Function`` over kbridge's Functional graph.

An ``Operation`` is a weightless graph node: subclass it and write ``call`` (and, when
symbolic shape inference through ``call`` does not work, ``compute_output_spec``). A
``Function`` is a graph from input KerasTensors to output KerasTensors that runs like a
function; unlike a Model it has no training API.

Example:
    >>> x = kbridge.Input((3,))
    >>> fn = kbridge.Function(x, kbridge.ops.exp(x) + 1.0)
    >>> fn(np.zeros((2, 3), "float32"))        # [[2, 2, 2], [2, 2, 2]]
"""

from kbridge.backend.common import naming
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import ArgumentError
from kbridge.layers.layer import Layer

__all__ = ["Function", "Operation"]


class Operation(Layer):
    """A stateless op usable eagerly and in Functional graphs (Keras's ``Operation``).

    Example:
        >>> class Square(kbridge.Operation):
        ...     def call(self, x):
        ...         return kbridge.ops.square(x)
        >>> Square()(np.array([2.0]))      # [4.]
        >>> y = Square()(kbridge.Input((4,)))    # a KerasTensor of shape (None, 4)
    """

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.built = True

    def symbolic_call(self, *args, **kwargs):
        """Call on KerasTensors: record a graph node and return its output KerasTensors."""
        return self(*args, **kwargs)

    def quantized_call(self, *args, **kwargs):
        """The call of a quantized operation; a float Operation just calls ``call``."""
        return self.call(*args, **kwargs)

    def rematerialized_call(self, layer_call, *args, **kwargs):
        """``layer_call`` with gradient checkpointing (see ``kbridge.remat``)."""
        from kbridge.scopes import remat

        return remat(layer_call)


class Function:
    """A callable graph from ``inputs`` to ``outputs`` (Keras's ``keras.Function``).

    Args:
        inputs: a KerasTensor from ``kbridge.Input``, or a list/dict of them.
        outputs: KerasTensors computed from ``inputs`` by layers and ops (any nesting).
        name: optional name.

    Example:
        >>> a, b = kbridge.Input((2,)), kbridge.Input((2,))
        >>> fn = kbridge.Function([a, b], {"sum": a + b, "prod": a * b})
        >>> fn([np.ones((1, 2)), np.ones((1, 2))])["sum"]     # [[2., 2.]]
    """

    def __init__(self, inputs, outputs, name=None):
        from kbridge.layers.input_layer import InputLayer
        from kbridge.models.functional import Functional
        from kbridge.tree import flatten

        for t in flatten(inputs):
            if not isinstance(t, KerasTensor) or getattr(t, "_keras_history", None) is None:
                raise ArgumentError(
                    "Function inputs must be KerasTensors made by kbridge.Input (ops on them "
                    f"are recorded as graph nodes). Received: {t!r}")
        self.name = name or naming.uniquify("function")
        self._graph = Functional(inputs, outputs, name=self.name)
        self._input_layers = [n.layer for n in self._graph._graph_nodes
                              if isinstance(n.layer, InputLayer)]

    inputs = property(lambda self: list(self._graph.inputs))
    outputs = property(lambda self: list(self._graph.outputs))
    input = property(lambda self: self._graph.input)
    output = property(lambda self: self._graph.output)

    @property
    def operations(self):
        """The graph's layers and ops, in execution order (input layers excluded)."""
        return [layer for layer in self._graph.layers if layer not in self._input_layers]

    def call(self, inputs):
        """Run the graph on concrete tensors (or KerasTensors, giving KerasTensors)."""
        return self._graph(inputs)

    def __call__(self, inputs):
        return self.call(inputs)

    def compute_output_spec(self, inputs):
        """Output KerasTensors (shape, dtype) for input KerasTensors."""
        from kbridge.tree import map_structure

        return map_structure(
            lambda t: KerasTensor(t.shape, t.dtype) if isinstance(t, KerasTensor) else t,
            self._graph(inputs))

    def compute_output_shape(self, input_shape):
        from kbridge.tree import map_shape_structure, map_structure

        specs = map_shape_structure(
            lambda s: KerasTensor(tuple(s), self._graph.inputs[0].dtype), input_shape)
        return map_structure(lambda t: t.shape, self.compute_output_spec(specs))

    def get_config(self):
        return self._graph.get_config()

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from kbridge.models.functional import Functional

        graph = Functional.from_config(config, custom_objects=custom_objects)
        return cls(graph.input, graph.output, name=config.get("name"))

    def __repr__(self):
        return f"<Function name={self.name}, inputs={len(self.inputs)}, " \
               f"outputs={len(self.outputs)}>"
