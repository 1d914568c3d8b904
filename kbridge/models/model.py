"""``kbridge.Model``: a layer with sub-layers, plus model-level utilities.

``kbridge.Model(inputs, outputs)`` builds a Functional model; subclassing ``kbridge.Model``
and writing ``call`` gives a subclassed model, as in Keras.
"""

from kbridge.backend.common import naming
from kbridge.errors import KbridgeError
from kbridge.layers.layer import Layer, _tracing, placeholders_for
from kbridge.trainers.trainer import Trainer


class Model(Trainer, Layer):
    """A layer that groups layers; see :class:`Functional` and :class:`Sequential`.

    Example:
        >>> class MLP(kbridge.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = kbridge.layers.Dense(16, activation="relu")
        ...         self.out = kbridge.layers.Dense(3)
        ...     def call(self, x):
        ...         return self.out(self.hidden(x))
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (len(args) >= 2 or ("inputs" in kwargs and "outputs" in kwargs)
                             or (len(args) == 1 and "outputs" in kwargs)):
            from kbridge.models.functional import Functional

            return Functional.__new__(Functional, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise KbridgeError(
                "A subclassed Model cannot be given `inputs`/`outputs`; build a Functional "
                "model with kbridge.Model(inputs, outputs) instead."
            )
        super().__init__(**kwargs)

    def build(self, input_shape=None):
        """Create the weights of a subclassed model by tracing ``call`` on placeholders."""
        if input_shape is None:
            self.built = True
            return
        placeholders = placeholders_for(input_shape, self.compute_dtype)
        token = _tracing.set(True)
        try:
            with naming.layer_scope(self.name):
                self.call(placeholders)
        finally:
            _tracing.reset(token)
        object.__setattr__(self, "_build_shapes_dict", {"input_shape": input_shape})
        self.built = True

    def get_layer(self, name=None, index=None):
        """A sub-layer by ``name`` or by position ``index`` in :attr:`layers`."""
        if index is not None:
            if name is not None:
                raise KbridgeError("Pass `name` or `index` to get_layer, not both.")
            if not 0 <= index < len(self.layers):
                raise KbridgeError(f"get_layer(index={index}) but the model has "
                                   f"{len(self.layers)} layers.")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KbridgeError(f"No layer named {name!r}. Layers: {[l.name for l in self.layers]}")

    def quantize(self, mode, config=None, **kwargs):
        """Quantize every Dense, EinsumDense and Embedding layer (see ``Dense.quantize``):
        ``"int8"``, ``"int4"`` or ``"float8"`` (Embedding layers skip float8).

        Example:
            >>> model.quantize("int8")
        """
        from kbridge.layers.core import Embedding, _LoRAQuantizeMixin

        if not self.built:
            raise KbridgeError(f"Model '{self.name}' is not built: build it before quantize().")
        done = 0
        for layer in self._flat_layers():
            if isinstance(layer, _LoRAQuantizeMixin) and layer.quantization_mode is None \
                    and not (mode == "float8" and isinstance(layer, Embedding)):
                layer.quantize(mode, config=config, **kwargs)
                done += 1
        if not done:
            raise KbridgeError(f"Model '{self.name}' has no Dense, EinsumDense or Embedding "
                               f"layer left to quantize to {mode!r}.")

    def enable_lora(self, rank, target=None, lora_alpha=None, a_initializer="he_uniform",
                    b_initializer="zeros"):
        """Enable LoRA of ``rank`` on the Dense / EinsumDense / Embedding layers whose name
        (or path) matches ``target`` (layer-name substrings or regexes; None: every Dense
        and EinsumDense), and freeze every other weight. Returns the layers changed.

        Example:
            >>> model.enable_lora(8, target=["query", "value"])
        """
        import re

        from kbridge.errors import ArgumentError
        from kbridge.layers.core import Dense, EinsumDense, _LoRAQuantizeMixin

        if isinstance(target, str):
            target = [target]
        if target is not None and (not target or not all(isinstance(t, str) for t in target)):
            raise ArgumentError("`target` must be None or a list of layer-name substrings or "
                                f"regexes. Received: {target!r}")
        if not self.built:
            raise KbridgeError(f"Model '{self.name}' is not built: build it before enable_lora().")

        def chosen(layer):
            if not isinstance(layer, _LoRAQuantizeMixin) or layer.lora_enabled:
                return False
            if target is None:
                return isinstance(layer, (Dense, EinsumDense))
            base = getattr(layer, layer._base)
            names = (layer.name, base.path[:len(base.path) - len(base.name)].rstrip("/"))
            return any(t in n or re.search(t, n) for t in target for n in names)

        layers = [layer for layer in self._flat_layers() if chosen(layer)]
        if not layers:
            raise ArgumentError(f"enable_lora: no layer of model '{self.name}' matches "
                                f"target={target!r}")
        lora_weights = set()
        for layer in layers:
            layer.enable_lora(rank, lora_alpha=lora_alpha, a_initializer=a_initializer,
                              b_initializer=b_initializer)
            lora_weights.update(id(v) for v in layer._lora_pair())
        for v in self.weights:
            if id(v) not in lora_weights:
                v.trainable = False
        return layers

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print a table of the layers, their output shapes and parameter counts."""
        from kbridge.models.summary import print_summary

        print_summary(self, line_length=line_length, print_fn=print_fn,
                      show_trainable=show_trainable)

    def save_pretrained(self, path, max_shard_size="5GB", card=None):
        """Save this model as a kbridge release directory (see ``kbridge.hub.save``)."""
        from kbridge import hub

        return hub.save(self, path, max_shard_size=max_shard_size, card=card)

    @classmethod
    def from_pretrained(cls, source, backend=None, **kwargs):
        """Load a release (directory, ``hf://``, ``zoo:``) — see ``kbridge.hub.load``."""
        from kbridge import hub

        return hub.load(source, backend=backend, **kwargs)

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Save as a Keras 3 ``.keras`` archive (config, weights, optimizer state) that Keras
        3 loads, or as legacy ``.h5``; see ``kbridge.saving.save_model``.

        Example:
            >>> model.save("model.keras")
            >>> same = kbridge.saving.load_model("model.keras")
        """
        from kbridge.saving import saving_api

        return saving_api.save_model(self, filepath, overwrite=overwrite, zipped=zipped,
                                     **kwargs)

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Save the weights as ``.weights.h5`` (Keras 3's layout; Keras's ``load_weights``
        reads it) or legacy ``.h5``.

        Example:
            >>> model.save_weights("model.weights.h5")
        """
        from kbridge.saving import saving_api

        return saving_api.save_weights(self, filepath, overwrite=overwrite,
                                       max_shard_size=max_shard_size)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Load weights from ``.weights.h5``, ``.keras``, legacy ``.h5`` (``by_name=``) or a
        kbridge release directory."""
        from kbridge.saving import saving_api

        saving_api.load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    def to_json(self, **kwargs):
        """The model's config as a JSON string (Keras's format); rebuild it with
        ``kbridge.models.model_from_json``.

        Example:
            >>> clone = kbridge.models.model_from_json(model.to_json())
        """
        import json

        from kbridge.saving import registry

        return json.dumps(registry.serialize_keras_format(self), **kwargs)

    def export(self, filepath, format="tf_saved_model", **kwargs):
        """Export for serving; ``format="tf_saved_model"`` writes a plain TF SavedModel."""
        from kbridge.errors import KbridgeError

        if format != "tf_saved_model":
            raise KbridgeError(f"export format must be 'tf_saved_model'. Received: {format!r}")
        from kbridge.adapters import export_saved_model

        return export_saved_model(self, filepath, **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        """A model from ``get_config()``: a Functional config (``layers``, ``input_layers``,
        ``output_layers``) gives a Functional model, as ``keras.Model.from_config`` does."""
        if cls is Model and isinstance(config, dict) and "layers" in config \
                and "input_layers" in config:
            from kbridge.models.functional import Functional

            return Functional.from_config(config, custom_objects=custom_objects,
                                          safe_mode=safe_mode)
        return super().from_config(config)

    def get_config(self):
        config = super().get_config()
        config.pop("batch_input_shape", None)
        return config
