"""``kbridge.Sequential``: a linear stack of layers."""

from kbridge.backend.common import naming
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import KbridgeError
from kbridge.layers.input_layer import InputLayer
from kbridge.layers.layer import Layer, _tracing
from kbridge.models.model import Model
from kbridge.saving import registry


class Sequential(Model):
    """Layers applied one after the other; builds as soon as the input shape is known.

    Example:
        >>> model = kbridge.Sequential([
        ...     kbridge.Input((8,)),
        ...     kbridge.layers.Dense(16, activation="relu"),
        ...     kbridge.layers.Dense(3),
        ... ])
    """

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(trainable=trainable, name=name)
        self._input_layer = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_build_from_input_shape()

    def add(self, layer, rebuild=True):
        """Append ``layer`` (a Layer, or ``kbridge.Input(...)``) to the stack."""
        if isinstance(layer, KerasTensor) and isinstance(
                getattr(layer, "_keras_history", (None,))[0], InputLayer):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._layers:
                raise KbridgeError("An Input can only be the first element of a Sequential model.")
            object.__setattr__(self, "_input_layer", layer)
        elif isinstance(layer, Layer):
            self._layers.append(layer)
        else:
            raise KbridgeError(f"Sequential.add expects a Layer or kbridge.Input(...). "
                               f"Received: {type(layer).__name__}")
        self.built = False
        if rebuild:
            self._maybe_build_from_input_shape()

    def pop(self, rebuild=True):
        if not self._layers:
            raise KbridgeError("pop() on an empty Sequential model.")
        layer = self._layers.pop()
        self.built = False
        if rebuild:
            self._maybe_build_from_input_shape()
        return layer

    def _input_shape(self):
        if self._input_layer is not None:
            return self._input_layer.batch_shape
        if self._layers and self._layers[0]._input_shape_arg is not None:
            return self._layers[0]._input_shape_arg
        return None

    def _maybe_build_from_input_shape(self):
        shape = self._input_shape()
        if shape is not None and self._layers:
            self.build(shape)

    def build(self, input_shape=None):
        if input_shape is None:
            raise KbridgeError("Sequential.build needs an input shape, e.g. (None, 8).")
        input_shape = tuple(input_shape)
        dtype = self._input_layer.dtype if self._input_layer is not None else self.compute_dtype
        x = KerasTensor(input_shape, dtype)
        token = _tracing.set(True)
        try:
            with naming.layer_scope(self.name):
                for layer in self._layers:
                    x = layer(x)
        finally:
            _tracing.reset(token)
        object.__setattr__(self, "_build_shapes_dict", {"input_shape": input_shape})
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = inputs
        if self._input_layer is not None:  # Keras's rank adjustment, as in Functional models
            from kbridge.models.functional import _adjust_input_rank

            x = _adjust_input_rank(x, self._input_layer.output, self.name)
        for layer in self._layers:
            params = layer._signature().parameters
            kwargs = {}
            if "training" in params:
                kwargs["training"] = training
            if "mask" in params and mask is not None:
                kwargs["mask"] = mask
            y = layer(x, **kwargs)
            mask = layer.compute_mask(x, mask) if (
                layer.supports_masking or type(layer).compute_mask is not Layer.compute_mask
            ) else None
            x = y
        return x

    def compute_output_spec(self, inputs, training=None, mask=None):
        return self.call(inputs, training=training, mask=mask)

    @property
    def input_shape(self):
        return self._input_shape()

    @property
    def output_shape(self):
        """The output shape once the input shape is known (``AttributeError`` before, as in
        Keras)."""
        inputs = self.inputs
        if inputs is None:
            raise AttributeError(f"Sequential model '{self.name}' has no defined output shape "
                                 "yet: give it an Input or build it")
        return self.compute_output_shape(inputs[0].shape)

    @property
    def outputs(self):
        """Placeholders for the model output, once the input shape is known."""
        inputs = self.inputs
        if inputs is None:
            return None
        spec = self.compute_output_spec(inputs[0])
        return list(spec) if isinstance(spec, (list, tuple)) else [spec]

    @property
    def inputs(self):
        """One placeholder for the model input, once the input shape is known."""
        shape = self._input_shape() or (self._build_shapes_dict or {}).get("input_shape")
        if shape is None:
            return None
        dtype = self._input_layer.dtype if self._input_layer is not None else self.compute_dtype
        name = self._input_layer.name if self._input_layer is not None else "input"
        return [KerasTensor(tuple(shape), dtype, name=name)]

    def get_config(self):
        layers = []
        if self._input_layer is not None:
            layers.append(registry.serialize(self._input_layer))
        layers.extend(registry.serialize(layer) for layer in self._layers)
        config = {"name": self.name, "trainable": self.trainable, "layers": layers}
        if self._build_shapes_dict:
            config["build_input_shape"] = list(self._build_shapes_dict["input_shape"])
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config.get("layers", []):
            layer = registry.deserialize(entry, custom_objects=custom_objects, safe_mode=safe_mode)
            model.add(layer, rebuild=False)
        shape = config.get("build_input_shape") or model._input_shape()
        if shape is not None and model._layers:
            model.build(tuple(shape))
        return model
