"""Ops called on KerasTensors outside any layer become graph nodes of their own.

``y = kbridge.ops.add(dense(a), dense(b))`` in a Functional model records an
:class:`OperationLayer` node, so the model replays the op when it runs. Configs name the op;
deserialisation looks it up among the registered public ops only.
"""

from kbridge.errors import KbridgeError
from kbridge.layers.layer import Layer, Node, _flatten
from kbridge.backend.common.keras_tensor import KerasTensor


__all__ = ["OperationLayer"]


class OperationLayer(Layer):
    """A public op (``kbridge.ops.<name>``) as a stateless layer of a Functional graph."""

    def __init__(self, op, **kwargs):
        from kbridge.backend.common.dispatch import OPS

        super().__init__(**kwargs)
        if op not in OPS:
            raise KbridgeError(f"Unknown op {op!r} in an OperationLayer config.")
        self.op = op
        self._fn = OPS[op]
        self.built = True

    def call(self, *args, **kwargs):
        return self._fn(*args, **kwargs)

    def get_config(self):
        return {"name": self.name, "op": self.op}


def record_operation(name, args, kwargs, outputs):
    """Add a node for op ``name`` applied to ``args`` (which contain KerasTensors)."""
    if not any(getattr(t, "_keras_history", None) is not None
               for t in _flatten((args, kwargs)) if isinstance(t, KerasTensor)):
        return
    layer = OperationLayer(name)
    node = Node(layer, args, kwargs, outputs)
    layer._inbound_nodes.append(node)
    for i, t in enumerate(node.output_tensors):
        if isinstance(t, KerasTensor):
            t._keras_history = (layer, 0, i)
