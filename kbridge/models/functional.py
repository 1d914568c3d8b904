"""Functional models: a graph of layer calls recorded on :class:`kbridge.KerasTensor` inputs."""

from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import KbridgeError, ShapeError
from kbridge.layers.input_layer import InputLayer
from kbridge.layers.layer import _flatten, map_structure
from kbridge.models.model import Model
from kbridge.saving import registry


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        raise KbridgeError(
            f"{tensor!r} was not produced by a kbridge layer, so it cannot be part of a "
            "Functional model. Start from kbridge.Input and call layers on it."
        )
    layer, node_index, _ = history
    return layer._inbound_nodes[node_index]


class Functional(Model):
    """``kbridge.Model(inputs, outputs)``: runs the recorded layer calls in graph order.

    ``inputs`` / ``outputs`` may be a KerasTensor, a list, or a dict of them.

    Example:
        >>> x = kbridge.Input((4,))
        >>> y = kbridge.layers.Dense(2)(x)
        >>> model = kbridge.Model(x, y)
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        Model.__init__(self, name=name, trainable=trainable, **kwargs)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs = _flatten(inputs)
        self.outputs = _flatten(outputs)
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise KbridgeError(
                    "Functional model inputs and outputs must be KerasTensors. "
                    f"Received: {type(t).__name__}"
                )
        self._graph_nodes = self._sort_nodes()
        self._layers[:] = self._keras_layer_order()
        self.built = True

    def _keras_layer_order(self):
        """``model.layers`` in Keras's order (so weight lists and files line up with Keras's):
        by decreasing depth from the outputs, ties broken by first visit in a depth-first walk
        from the outputs (a dict of outputs walked in sorted-key order, as Keras flattens)."""
        input_ids = {id(t) for t in self.inputs}
        outputs = self._outputs_struct
        if isinstance(outputs, dict):
            outputs = [outputs[k] for k in sorted(outputs)]
        first_visit, seen = {}, set()

        def walk(tensor):
            node = _producer(tensor)
            if id(node) in seen:  # each node once: residual graphs share whole paths
                return
            seen.add(id(node))
            first_visit.setdefault(id(node.layer), len(first_visit))
            if id(tensor) in input_ids:
                return
            for t in node.input_tensors:
                walk(t)

        for t in _flatten(outputs):
            walk(t)
        node_depth, layer_depth = {}, {}
        for node in reversed(self._graph_nodes):  # consumers before producers
            depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = depth
            node_depth[id(node)] = depth
            for t in node.input_tensors:
                parent = _producer(t)
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
        layers = {}
        for node in self._graph_nodes:
            layers.setdefault(id(node.layer), node.layer)
        return sorted(layers.values(),
                      key=lambda l: (-layer_depth[id(l)], first_visit.get(id(l), len(layers))))

    def _sort_nodes(self):
        input_ids = {id(t) for t in self.inputs}
        order, visited = [], set()

        def visit(node, path):
            if id(node) in visited:
                return
            if id(node) in path:
                raise KbridgeError("The Functional graph has a cycle.")
            path.add(id(node))
            for t in node.input_tensors:
                if id(t) not in input_ids:
                    visit(_producer(t), path)
            if isinstance(node.layer, InputLayer) and id(node.output_tensors[0]) not in input_ids:
                raise KbridgeError(
                    f"Graph disconnected: the output depends on input '{node.layer.name}', "
                    "which is not among the model's inputs."
                )
            path.discard(id(node))
            visited.add(id(node))
            order.append(node)

        for t in self.inputs:
            visit(_producer(t), set())
        for t in self.outputs:
            if id(t) not in input_ids:
                visit(_producer(t), set())
        return order

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_shape(self):
        return map_structure(lambda t: t.shape, self._inputs_struct)

    @property
    def output_shape(self):
        return map_structure(lambda t: t.shape, self._outputs_struct)

    def _flatten_call_inputs(self, inputs):
        struct = self._inputs_struct
        if isinstance(struct, dict):
            if not isinstance(inputs, dict):
                raise KbridgeError(f"Model '{self.name}' expects a dict with keys "
                                   f"{sorted(struct)}. Received: {type(inputs).__name__}")
            missing = [k for k in struct if k not in inputs]
            if missing:
                raise KbridgeError(f"Model '{self.name}' input dict lacks keys {missing}. "
                                   f"Received keys: {sorted(inputs)}")
            return [inputs[k] for k in struct]
        flat = _flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if isinstance(inputs, dict):
            names = [t.name for t in self.inputs]
            if all(n in inputs for n in names):
                return [inputs[n] for n in names]
        if len(flat) != len(self.inputs):
            raise KbridgeError(f"Model '{self.name}' expects {len(self.inputs)} input(s). "
                               f"Received: {len(flat)}")
        return flat

    def call(self, inputs, training=None, mask=None):
        values, masks = {}, {}
        for t, v in zip(self.inputs, self._flatten_call_inputs(inputs)):
            values[id(t)] = _adjust_input_rank(self._convert_input(v), t, self.name)
        if mask is not None:
            for t, m in zip(self.inputs, _flatten(mask)):
                masks[id(t)] = m
        for node in self._graph_nodes:
            layer = node.layer
            if isinstance(layer, InputLayer):
                continue
            args = map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t,
                                 node.args)
            kwargs = map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t,
                                   node.kwargs)
            params = layer._signature().parameters
            if "training" in params and kwargs.get("training") is None:
                kwargs["training"] = training
            if "mask" in params and kwargs.get("mask") is None and node.args:
                first = _flatten(node.args[0])
                arg_masks = [masks.get(id(t)) for t in first if isinstance(t, KerasTensor)]
                if any(m is not None for m in arg_masks):
                    kwargs["mask"] = arg_masks[0] if len(arg_masks) == 1 else arg_masks
            outputs = layer(*args, **kwargs)
            out_mask = None
            if layer.supports_masking or type(layer).compute_mask is not Model.compute_mask:
                in_mask = kwargs.get("mask")
                if in_mask is None and node.args:
                    firsts = [masks.get(id(t)) for t in _flatten(node.args[0])
                              if isinstance(t, KerasTensor)]
                    in_mask = firsts[0] if len(firsts) == 1 else (firsts or None)
                out_mask = layer.compute_mask(args[0] if args else None, in_mask)
            for i, (t, v) in enumerate(zip(node.output_tensors, _flatten(outputs))):
                values[id(t)] = v
                if out_mask is not None:
                    flat_masks = _flatten(out_mask)
                    masks[id(t)] = flat_masks[i] if i < len(flat_masks) else None
        return map_structure(lambda t: values[id(t)], self._outputs_struct)

    def compute_output_spec(self, inputs, training=None, mask=None):
        return self.call(inputs, training=training, mask=mask)

    # --- config -------------------------------------------------------------------
    def get_config(self):
        node_ids = {}  # (layer id, node index in layer) -> index within this model
        for node in self._graph_nodes:
            layer = node.layer
            index = layer._inbound_nodes.index(node)
            node_ids[(id(layer), index)] = sum(1 for k in node_ids if k[0] == id(layer))

        def tensor_ref(t):
            layer, node_index, tensor_index = t._keras_history
            return [layer.name, node_ids[(id(layer), node_index)], tensor_index]

        def encode(value):
            if isinstance(value, KerasTensor):
                return {"class_name": "__keras_tensor__",
                        "config": {"shape": list(value.shape), "dtype": value.dtype,
                                   "keras_history": tensor_ref(value)}}
            if isinstance(value, (list, tuple)):
                return [encode(v) for v in value]
            if isinstance(value, dict):
                return {k: encode(v) for k, v in value.items()}
            return registry.serialize(value)

        layer_configs = []
        for layer in self._layers:
            entry = registry.serialize(layer)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [
                {"args": encode(n.args), "kwargs": encode(n.kwargs)}
                for n in self._graph_nodes if n.layer is layer and not isinstance(layer, InputLayer)
            ]
            layer_configs.append(entry)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layer_configs,
            "input_layers": map_structure(tensor_ref, self._inputs_struct),
            "output_layers": map_structure(tensor_ref, self._outputs_struct),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        return functional_from_config(cls, config, custom_objects, safe_mode)


def _adjust_input_rank(value, ref, model_name):
    """Keras's rank adjustment: ``(N, 28, 28)`` fed to ``Input((28, 28, 1))`` gains the last
    axis, and a trailing axis of size 1 beyond the Input's rank is dropped."""
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) == len(ref.shape):
        return value
    from kbridge import ops

    if len(shape) == len(ref.shape) - 1 and ref.shape[-1] == 1:
        return ops.expand_dims(value, -1)
    if len(shape) == len(ref.shape) + 1 and shape[-1] == 1:
        return ops.squeeze(value, -1)
    raise ShapeError(f"Model '{model_name}' expects input '{ref.name}' of shape {ref.shape}. "
                     f"Received an input of incompatible shape {tuple(shape)}.")


def _is_ref(value):
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and isinstance(value[1], int) and isinstance(value[2], int))


def functional_from_config(cls, config, custom_objects=None, safe_mode=True):
    """Rebuild a Functional model: create each layer, then replay its calls in order."""
    layers, pending = {}, []
    for entry in config["layers"]:
        layer = registry.deserialize(entry, custom_objects=custom_objects, safe_mode=safe_mode)
        layers[entry["name"]] = layer
        pending.extend((entry["name"], n) for n in entry.get("inbound_nodes", []))
    created = {}  # (layer name, node index) -> outputs
    for name, layer in layers.items():
        if isinstance(layer, InputLayer):
            created[(name, 0)] = layer.output
    counters = {}

    def decode(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            lname, node_index, tensor_index = value["config"]["keras_history"]
            out = created.get((lname, node_index))
            if out is None:
                raise LookupError
            return _flatten(out)[tensor_index]
        if isinstance(value, list):
            return [decode(v) for v in value]
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value.items()}
        return value

    while pending:
        progressed, remaining = False, []
        for name, node in pending:
            try:
                args = decode(node.get("args", []))
                kwargs = decode(node.get("kwargs", {}))
            except LookupError:
                remaining.append((name, node))
                continue
            index = counters.get(name, 0)
            counters[name] = index + 1
            created[(name, index)] = layers[name](*args, **kwargs)
            progressed = True
        if not progressed:
            raise KbridgeError("A Functional config refers to layer outputs that are never "
                               f"created: {[n for n, _ in remaining]}")
        pending = remaining

    def resolve(ref):
        if _is_ref(ref):
            return _flatten(created[(ref[0], ref[1])])[ref[2]]
        if isinstance(ref, list):
            return [resolve(r) for r in ref]
        if isinstance(ref, dict):
            return {k: resolve(v) for k, v in ref.items()}
        raise KbridgeError(f"Bad input/output reference in a Functional config: {ref!r}")

    inputs = resolve(config["input_layers"])
    outputs = resolve(config["output_layers"])
    model = Functional.__new__(Functional)
    Functional.__init__(model, inputs, outputs, name=config.get("name"),
                        trainable=config.get("trainable", True))
    return model
