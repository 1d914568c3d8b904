"""Core layers: Dense, EinsumDense, Embedding, Activation, Identity, Lambda, Masking."""

import base64
import marshal
import re
import types

from kbridge import activations, constraints, initializers, ops, regularizers
from kbridge.errors import KbridgeError, ShapeError
from kbridge.layers.layer import InputSpec, Layer
from kbridge.saving import registry

__all__ = ["Activation", "Dense", "EinsumDense", "Embedding", "Identity", "Lambda", "Masking"]


def _no_lora_or_quantization(layer, lora_rank, quantization_config):
    if lora_rank is not None:
        raise NotImplementedError(f"{layer} does not support LoRA (`lora_rank`) yet.")
    if quantization_config is not None:
        raise NotImplementedError(f"{layer} does not support `quantization_config` yet.")


class Dense(Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)`` on the last axis.

    Example:
        >>> kbridge.layers.Dense(4, activation="relu")(np.ones((2, 3), "float32")).shape
        (2, 4)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        _no_lora_or_quantization("Dense", lora_rank, quantization_config)
        self.units = int(units)
        if self.units <= 0:
            raise KbridgeError(f"`units` must be a positive integer. Received: units={units}")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ShapeError("The last dimension of the input to Dense must be known. "
                             f"Received: input_shape={tuple(input_shape)}")
        self.kernel = self.add_weight(name="kernel", shape=(input_dim, self.units),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,),
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        else:
            self.bias = None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs):
        return self.activation(ops.nn._linear(inputs, self.kernel, self.bias))

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": registry.serialize(self.kernel_initializer),
            "bias_initializer": registry.serialize(self.bias_initializer),
            "kernel_regularizer": registry.serialize(self.kernel_regularizer),
            "bias_regularizer": registry.serialize(self.bias_regularizer),
            "kernel_constraint": registry.serialize(self.kernel_constraint),
            "bias_constraint": registry.serialize(self.bias_constraint),
            "quantization_config": None,
        })
        return config


def _tensordot_axes(equation):
    """``k`` when ``equation`` contracts the last ``k`` input axes with the first ``k`` kernel
    axes and keeps the rest in order (``"abc,cde->abde"``, ``"abcd,cde->abe"``): then
    ``tensordot(x, kernel, k)`` computes it as one matrix product. None otherwise."""
    match = re.fullmatch(r"([a-zA-Z.]+),([a-zA-Z]+)->([a-zA-Z.]+)", equation.replace(" ", ""))
    if match is None:
        return None
    lhs, rhs, out = match.groups()
    if "." in lhs and not lhs.startswith("...") or lhs.count(".") not in (0, 3):
        return None
    letters = [c for c in lhs if c != "."]
    if len(set(letters)) != len(letters) or len(set(rhs)) != len(rhs):
        return None
    for k in range(1, min(len(letters), len(rhs)) + 1):
        if lhs[len(lhs) - k:] == rhs[:k]:
            prefix, rest = lhs[:len(lhs) - k], rhs[k:]
            shared = set(prefix) & set(rest)
            if out == prefix + rest and not shared and not set(rhs[:k]) & set(out):
                return k
    return None


def _einsum_shapes(equation, bias_axes, input_shape, output_shape):
    """(kernel shape, bias shape or None, full output shape) for an EinsumDense equation.

    Supports ``"ab,bc->ac"`` and one ellipsis at the start (``"...b,bc->...c"``) or end
    (``"ab...,bc->ac..."``) of both the input and output specs.
    """
    plain = re.match(r"^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", equation)
    left = re.match(r"^\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)$", equation)
    right = re.match(r"^([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.$", equation)
    match = plain or left or right
    if match is None:
        raise KbridgeError(f"Invalid EinsumDense equation {equation!r}: expected "
                           "'ab,bc->ac', '...b,bc->...c' or 'ab...,bc->ac...'.")
    input_spec, kernel_spec, out_spec = match.groups()
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(input_spec)
    if elided < 0 or (plain is not None and elided):
        raise ShapeError(f"EinsumDense equation {equation!r} does not fit the input shape "
                         f"{input_shape}.")
    partial = list(output_shape)
    # Output: batch dim first, then the elided dims where the ellipsis stands.
    full = [input_shape[0]] + partial
    if left is not None:
        full[1:1] = list(input_shape[1:elided])
        in_pos = {c: i - len(input_spec) for i, c in enumerate(input_spec)}  # from the end
        out_pos = {c: i + elided for i, c in enumerate(out_spec)}
    else:
        full += list(input_shape[len(input_shape) - elided:])
        in_pos = {c: i for i, c in enumerate(input_spec)}
        out_pos = {c: i for i, c in enumerate(out_spec)}
    for c in input_spec:
        if c in out_pos:
            want = full[out_pos[c]]
            if want is not None and input_shape[in_pos[c]] is not None \
                    and want != input_shape[in_pos[c]]:
                raise ShapeError(f"EinsumDense: output dim {c!r} is {want} but the input has "
                                 f"{input_shape[in_pos[c]]} there (equation {equation!r}, "
                                 f"input shape {input_shape}).")
    for c in out_spec:
        if c not in input_spec and c not in kernel_spec:
            raise KbridgeError(f"EinsumDense: output dim {c!r} of {equation!r} appears in "
                               "neither the input nor the kernel.")
    kernel_shape = []
    for c in kernel_spec:
        if c in in_pos:
            kernel_shape.append(input_shape[in_pos[c]])
        elif c in out_pos:
            kernel_shape.append(full[out_pos[c]])
        else:
            raise KbridgeError(f"EinsumDense: kernel dim {c!r} of {equation!r} appears in "
                               "neither the input nor the output.")
    bias_shape = None
    if bias_axes is not None:
        for c in bias_axes:
            if c not in out_spec:
                raise KbridgeError(f"EinsumDense: bias axis {c!r} is not in the output spec "
                                   f"{out_spec!r} of {equation!r}.")
        # The bias broadcasts from the first biased output axis onwards.
        first = min(out_spec.find(c) for c in bias_axes)
        bias_shape = [full[out_pos[c]] if c in bias_axes else 1 for c in out_spec[first:]]
        if left is None:
            bias_shape += [1] * elided
    return tuple(kernel_shape), None if bias_shape is None else tuple(bias_shape), tuple(full)


class EinsumDense(Layer):
    """A dense layer whose contraction is an einsum ``equation`` between input and kernel.

    ``output_shape`` is the output without its batch (and elided) dims; ``bias_axes`` names
    the output letters that get a bias.

    Example:
        >>> layer = kbridge.layers.EinsumDense("abc,cd->abd", output_shape=(None, 8), bias_axes="d")
        >>> layer(np.ones((2, 5, 3), "float32")).shape
        (2, 5, 8)
    """

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, lora_rank=None, lora_alpha=None,
                 gptq_unpacked_column_size=None, quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        _no_lora_or_quantization("EinsumDense", lora_rank, quantization_config)
        self.equation = equation
        self._tensordot_axes = _tensordot_axes(equation)
        self.partial_output_shape = ((output_shape,) if isinstance(output_shape, int)
                                     else tuple(output_shape))
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        kernel_shape, bias_shape, full = _einsum_shapes(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        self.full_output_shape = full
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape,
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if bias_shape is not None:
            self.bias = self.add_weight(name="bias", shape=bias_shape,
                                        initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        else:
            self.bias = None
        self.built = True

    def call(self, inputs, training=None):
        if self._tensordot_axes is not None:  # one matmul over flattened axes, no batch copy
            x = ops.tensordot(inputs, self.kernel, axes=self._tensordot_axes)
        else:
            x = ops.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x)

    def get_config(self):
        config = super().get_config()
        config.update({
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": registry.serialize(self.kernel_initializer),
            "bias_initializer": registry.serialize(self.bias_initializer),
            "kernel_regularizer": registry.serialize(self.kernel_regularizer),
            "bias_regularizer": registry.serialize(self.bias_regularizer),
            "activity_regularizer": registry.serialize(self.activity_regularizer),
            "kernel_constraint": registry.serialize(self.kernel_constraint),
            "bias_constraint": registry.serialize(self.bias_constraint),
            "quantization_config": None,
        })
        return config


class Embedding(Layer):
    """Looks up rows of an ``(input_dim, output_dim)`` table for integer indices.

    With ``mask_zero=True`` index 0 is padding: :meth:`compute_mask` marks it False.

    Example:
        >>> kbridge.layers.Embedding(10, 4)(np.array([[1, 2, 0]])).shape
        (1, 3, 4)
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, lora_alpha=None, quantization_config=None,
                 **kwargs):
        kwargs.setdefault("input_dtype", "int32")
        super().__init__(**kwargs)
        _no_lora_or_quantization("Embedding", lora_rank, quantization_config)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        if embeddings_initializer == "uniform":  # Keras's short name for RandomUniform
            embeddings_initializer = initializers.RandomUniform()
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.supports_masking = mask_zero
        if weights is not None:
            self.build()
            if not isinstance(weights, (list, tuple)):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape=None):
        if self.built:
            return
        self.embeddings = self.add_weight(name="embeddings",
                                          shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def call(self, inputs):
        if "int" not in ops.dtype(inputs):
            inputs = ops.cast(inputs, "int32")
        return ops.take(self.embeddings, inputs, axis=0)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": registry.serialize(self.embeddings_initializer),
            "embeddings_regularizer": registry.serialize(self.embeddings_regularizer),
            "activity_regularizer": registry.serialize(self.activity_regularizer),
            "embeddings_constraint": registry.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "quantization_config": None,
        })
        return config


class Activation(Layer):
    """Applies an activation function (a name or a callable) to its input.

    Example:
        >>> kbridge.layers.Activation("relu")(np.array([-1.0, 2.0]))   # [0., 2.]
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config


class Identity(Layer):
    """Returns its input unchanged (a placeholder in a model). Example: ``Identity()(x)``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return inputs


def _serialize_function(fn):
    """A registered function's name, or the marshalled bytecode of any other Python function."""
    registered = registry.registered_name(fn)  # register_keras_serializable: "package>name"
    if registered is not None:
        return registered
    if isinstance(fn, types.FunctionType) and fn.__name__ != "<lambda>" \
            and registry.get_registered_object(fn.__name__) is fn:
        return fn.__name__
    if not isinstance(fn, types.FunctionType):
        return registry.serialize(fn)
    code = base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")
    closure = None
    if fn.__closure__:
        closure = [c.cell_contents for c in fn.__closure__]
    return {"class_name": "__lambda__",
            "config": {"code": code, "defaults": list(fn.__defaults__ or ()) or None,
                       "closure": closure}}


def _deserialize_function(config, custom_objects=None, safe_mode=True):
    if isinstance(config, str):
        found = registry.get_registered_object(config, custom_objects)
        if found is None:
            raise KbridgeError(f"Lambda: unknown function {config!r}; pass it in "
                               "custom_objects.")
        return found
    if isinstance(config, dict) and config.get("class_name") == "__lambda__":
        if safe_mode:
            raise registry.UnsafeDeserializationError(
                "Refusing to load the bytecode of a Lambda layer's function: it would run code "
                "stored in the config. Pass safe_mode=False only if you trust the source.")
        inner = config["config"]
        code = marshal.loads(base64.b64decode(inner["code"]))
        closure = inner.get("closure")
        if closure is not None:
            closure = tuple(types.CellType(c) for c in closure)
        defaults = inner.get("defaults")
        return types.FunctionType(code, globals(), code.co_name,
                                  tuple(defaults) if defaults else None, closure)
    return registry.deserialize(config, custom_objects=custom_objects, safe_mode=safe_mode)


class Lambda(Layer):
    """Wraps a Python function of the input as a layer (configs store its bytecode: unsafe).

    Example:
        >>> kbridge.layers.Lambda(lambda x: x * 2)(np.ones(3, "float32"))   # [2., 2., 2.]
    """

    @staticmethod
    def _unsafe_to_deserialize(config):
        """Only stored bytecode runs code; a registered function is loaded by name (Keras)."""
        return any(isinstance(config.get(key), dict)
                   and config[key].get("class_name") == "__lambda__"
                   for key in ("function", "output_shape", "mask"))

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise KbridgeError(f"Lambda needs a callable. Received: function={function!r}")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape
        self.mask = mask
        self.supports_masking = mask is not None

    def call(self, inputs, mask=None, training=None):
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self):
        config = super().get_config()
        config["function"] = _serialize_function(self.function)
        if self._output_shape is not None:
            config["output_shape"] = (_serialize_function(self._output_shape)
                                      if callable(self._output_shape) else self._output_shape)
        if self.mask is not None:
            config["mask"] = _serialize_function(self.mask) if callable(self.mask) else self.mask
        config["arguments"] = self.arguments
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        config = dict(config)
        config["function"] = _deserialize_function(config["function"], custom_objects, safe_mode)
        for key in ("output_shape", "mask"):
            value = config.get(key)
            if isinstance(value, (dict, str)):
                config[key] = _deserialize_function(value, custom_objects, safe_mode)
        return super().from_config(config)


class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value`` (zeroing them in the output).

    Example:
        >>> kbridge.layers.Masking(0.0)(np.zeros((1, 2, 3), "float32"))   # mask [[F, F]]
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        keep = ops.any(ops.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return ops.multiply(inputs, ops.cast(keep, ops.dtype(inputs)))

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
