"""Core layers: Dense, EinsumDense, Embedding, Activation, Identity, Lambda, Masking."""

import base64
import marshal
import re
import types

from kbridge import activations, initializers, ops
from kbridge.errors import ArgumentError, KbridgeError, ShapeError
from kbridge.layers.layer import InputSpec, Layer
from kbridge.saving import registry

__all__ = ["Activation", "Dense", "EinsumDense", "Embedding", "Identity", "Lambda", "Masking"]


def _lora_rank_arg(layer, rank):
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise ArgumentError(f"{layer}: `lora_rank` must be a positive integer or None. "
                            f"Received: lora_rank={rank!r}")
    return rank


class _LoRAQuantizeMixin:
    """LoRA (``enable_lora``) and weight quantization (``quantize``) shared by Dense,
    EinsumDense and Embedding, in Keras 3's variable layout.

    A quantized layer keeps its weight in ``self.<base>`` as int8 (int4: two values per byte
    along the last axis) with a float ``<base>_scale`` per output channel: the float weight
    is ``q / scale``. LoRA adds ``(lora_alpha / rank) * a @ b`` to the weight, with ``a``
    over the weight's input axes and ``b`` over its output axes; the base weight is frozen.
    """

    _base = "kernel"
    _lora_names = ("lora_kernel_a", "lora_kernel_b")

    def _init_lora_quantize(self, lora_rank, lora_alpha, quantization_config):
        from kbridge import quantizers

        self.lora_rank = _lora_rank_arg(type(self).__name__, lora_rank)
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        self._merged_lora = None
        self.quantization_config = quantizers.get(quantization_config)

    @property
    def quantization_mode(self):
        """None, "int8", "int4" or "float8" (from the layer's dtype policy)."""
        return self.dtype_policy.quantization_mode

    @property
    def _scale_name(self):
        return f"{self._base}_scale"

    # Each layer says which axes of its weight are inputs (reduced for the scale; LoRA's
    # ``a`` side) and which are outputs.
    def _lora_split(self):
        return 1

    def _scale_axes(self):
        return (0,)

    def _scale_shape(self):
        axes = self._scale_axes()
        return tuple(d for i, d in enumerate(self._base_shape) if i not in axes)

    def _scale_bshape(self):
        axes = self._scale_axes()
        return tuple(1 if i in axes else d for i, d in enumerate(self._base_shape))

    # --- variables ---------------------------------------------------------------------
    def _add_base_weight(self, shape):
        """Create the weight (float, or int8 + scale under a quantized dtype policy) from the
        ``<base>_*`` constructor arguments."""
        self._base_shape = tuple(shape)
        mode = self.quantization_mode
        if mode in ("int8", "int4"):
            stored = self._base_shape if mode == "int8" else (
                self._base_shape[:-1] + ((self._base_shape[-1] + 1) // 2,))
            setattr(self, self._base, self.add_weight(
                name=self._base, shape=stored, initializer="zeros", dtype="int8",
                trainable=False))
            setattr(self, self._scale_name, self.add_weight(
                name=self._scale_name, shape=self._scale_shape(), initializer="ones",
                trainable=False))
            return
        setattr(self, self._base, self._add_weight_from(self._base, self._base, shape))
        if mode == "float8":
            self._float8_build()

    def _float8_build(self):
        length = getattr(self.dtype_policy, "amax_history_length", 1024)
        for prefix in ("inputs", "kernel"):
            setattr(self, f"{prefix}_scale", self.add_weight(
                name=f"{prefix}_scale", shape=(), initializer="ones", trainable=False))
            setattr(self, f"{prefix}_amax_history", self.add_weight(
                name=f"{prefix}_amax_history", shape=(length,), initializer="zeros",
                trainable=False))

    def _late_weight(self, anchor, name, value, dtype, trainable=True, initializer=None):
        """A weight added after build, with the path the build would have given it."""
        from kbridge import initializers

        if initializer is None:
            shape, init = value.shape, (lambda shape, dtype=None: value)
        else:
            shape, init = value, initializers.get(initializer)
        v = self.add_weight(name=name, shape=shape, initializer=init, dtype=dtype,
                            trainable=trainable)
        v.path = anchor.path[:len(anchor.path) - len(anchor.name)] + name
        return v

    def _replace_variables(self, old, new):
        """Put the Variables ``new`` (just added) where ``old`` stood; drop ``old``."""
        ids = {id(v) for v in new} | {id(old)}
        kept = [v for v in self._variables if id(v) not in ids]
        at = next(i for i, v in enumerate(self._variables) if v is old)
        at = sum(1 for v in self._variables[:at] if id(v) not in ids)
        self._variables[:] = kept[:at] + list(new) + kept[at:]
        self._regularized[:] = [(v, r) for v, r in self._regularized if v is not old]

    # --- quantization ------------------------------------------------------------------
    def quantize(self, mode, type_check=True, config=None, *, _source=None):
        """Quantize the weight in place: ``"int8"``, ``"int4"`` (per output channel, packed
        two per byte) or ``"float8"`` (fake quantization with delayed scaling); the dtype
        policy becomes e.g. ``"int8_from_float32"``.

        ``config`` (a ``kbridge.quantizers.Int8QuantizationConfig`` ...) picks the
        quantizers; int8 quantizes the inputs per row too unless its
        ``activation_quantizer`` is None (Keras's default does).

        Example:
            >>> layer = kbridge.layers.Dense(4); layer.build((None, 8))
            >>> layer.quantize("int8")
            >>> layer.kernel.dtype, layer.kernel_scale.shape
            ('int8', (4,))
        """
        import numpy as np

        from kbridge import dtype_policies, quantizers

        allowed = ("int8", "int4") if isinstance(self, Embedding) else quantizers.QUANTIZATION_MODES
        quantizers._check_mode(mode, allowed)
        if type_check and type(self) not in (Dense, EinsumDense, Embedding) \
                and "call" in type(self).__dict__:
            raise KbridgeError(f"{type(self).__name__} overrides call(); quantize(..., "
                               "type_check=False) if it calls the base layer's call().")
        if not self.built:
            raise KbridgeError(f"Layer '{self.name}' is not built: build it before quantize().")
        if self.quantization_mode is not None:
            raise ArgumentError(f"Layer '{self.name}' is already quantized "
                                f"({self.quantization_mode}). Received: mode={mode!r}")
        config = quantizers.get(config)
        if config is not None and config.mode not in (None, mode):
            raise ArgumentError(f"quantize(mode={mode!r}) got a config for mode "
                                f"{config.mode!r}")
        self.quantization_config = config
        self.dtype_policy = dtype_policies.quantized_policy(mode, self.dtype_policy)
        old = getattr(self, self._base)
        if mode == "float8":
            before = len(self._variables)
            self._float8_build()
            for v in self._variables[before:]:
                v.path = old.path[:len(old.path) - len(old.name)] + v.name
            return
        # ``_source``: a load's LazyTensor of the float weight, which ``old`` never held.
        streamed = None if _source is None else self._quantize_streamed(_source, mode, config)
        if streamed is not None:
            q, scale = streamed
        else:
            value = old.numpy() if _source is None else _source.read()
            q, scale = self._quantize_array(np.asarray(value, "float32"), mode, config)
            value = None  # freed before the quantized Variables are made
        new_q = self._late_weight(old, self._base, q, "int8", trainable=False)
        new_s = self._late_weight(old, self._scale_name, scale, "float32", trainable=False)
        self._replace_variables(old, [new_q, new_s])
        object.__setattr__(self, self._base, new_q)
        object.__setattr__(self, self._scale_name, new_s)

    def _quantize_streamed(self, source, mode, config):
        """``(stored int8 array, scale array)`` of the float weight that ``source`` (a
        ``LazyTensor`` of a load) reads, a block at a time, or None where its layout or the
        quantizer does not allow it."""
        from kbridge import quantizers

        streamed = getattr(source, "streamed", lambda: None)()
        if streamed is None or getattr(config, "weight_quantizer", None) is not None:
            return None
        value_range = (-127, 127) if mode == "int8" else (-8, 7)
        result = quantizers.abs_max_quantize_streamed(
            *streamed, self._base_shape, self._scale_axes(), value_range)
        if result is None:
            return None
        q, scale = result
        if mode == "int4":
            q = quantizers.pack_int4(q, axis=-1)[0]
        return q, scale.reshape(self._scale_shape())

    def _quantize_array(self, value, mode, config=None):
        """``(stored int8 array, scale array)`` of the float weight ``value``."""
        from kbridge import quantizers

        value_range = (-127, 127) if mode == "int8" else (-8, 7)
        quantizer = getattr(config, "weight_quantizer", None) or quantizers.AbsMaxQuantizer(
            value_range=value_range)
        q, scale = quantizer(value, axis=self._scale_axes(), to_numpy=True)
        scale = scale.reshape(self._scale_shape()).astype("float32")
        if mode == "int4":
            q = quantizers.pack_int4(q.astype("int8"), axis=-1)[0]
        return q.astype("int8"), scale

    def _dequantized(self):
        """The float weight (``q / scale``) of a quantized layer, else the weight itself."""
        from kbridge import quantizers

        base = getattr(self, self._base)
        mode = self.quantization_mode
        if mode not in ("int8", "int4"):
            return base
        q = quantizers.unpack_int4(base, self._base_shape[-1], axis=-1) if mode == "int4" \
            else base
        scale = ops.reshape(ops.cast(getattr(self, self._scale_name), self.compute_dtype),
                            self._scale_bshape())
        return ops.divide(ops.cast(q, self.compute_dtype), scale)

    def _inputs_quantizer(self):
        from kbridge import quantizers

        if self.quantization_config is not None:
            return self.quantization_config.activation_quantizer
        return quantizers.AbsMaxQuantizer() if self.quantization_mode == "int8" else None

    def _quantized_tensordot(self, inputs, k):
        """``inputs`` contracted over their last ``k`` axes with the quantized weight: int8
        inputs times int8 weight, rescaled (Keras's int8 path), or weight-only when the
        layer has no inputs quantizer. Gradients reach the inputs straight through."""
        quantizer = self._inputs_quantizer()
        if quantizer is None:
            return ops.tensordot(inputs, self._dequantized(), axes=k)
        from kbridge import quantizers

        base = getattr(self, self._base)
        q = quantizers.unpack_int4(base, self._base_shape[-1], axis=-1) \
            if self.quantization_mode == "int4" else base
        axes = tuple(range(-k, 0))
        low, high = quantizer.value_range
        x = ops.cast(inputs, self.compute_dtype)
        x_scale = ops.stop_gradient(ops.divide(
            float(high), ops.add(ops.max(ops.abs(x), axis=axes, keepdims=True),
                                 quantizer.epsilon)))
        scaled = ops.multiply(x, x_scale)
        x_q = ops.add(scaled, ops.stop_gradient(
            ops.subtract(ops.clip(ops.round(scaled), low, high), scaled)))
        y = ops.tensordot(x_q, ops.cast(q, self.compute_dtype), axes=k)
        n_out = len(self._base_shape) - k
        if n_out != k:
            x_scale = ops.squeeze(x_scale, axis=axes)
            for _ in range(n_out):
                x_scale = ops.expand_dims(x_scale, -1)
        w_scale = ops.cast(getattr(self, self._scale_name), self.compute_dtype)
        return ops.divide(y, ops.multiply(x_scale, w_scale))

    def _float8_qdq(self, value, prefix, training):
        """``value`` fake-quantized to float8 e4m3 with the ``<prefix>_scale`` it had; in
        training, the amax history and the scale (for the next step) are updated."""
        from kbridge import quantizers

        scale_var = getattr(self, f"{prefix}_scale")
        history_var = getattr(self, f"{prefix}_amax_history")
        value = ops.cast(value, self.compute_dtype)
        out = quantizers.quantize_and_dequantize(value, scale_var, "float8_e4m3fn",
                                                 self.compute_dtype)
        if training:
            history = quantizers.compute_float8_amax_history(value, history_var)
            scale_var.assign(quantizers.compute_float8_scale(ops.max(history), scale_var, 448.0))
            history_var.assign(history)
        return ops.add(value, ops.stop_gradient(ops.subtract(out, value)))

    # --- LoRA --------------------------------------------------------------------------
    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform",
                    b_initializer="zeros"):
        """Add trainable LoRA factors of ``rank`` and freeze the base weight; the layer then
        computes with ``weight + (lora_alpha / rank) * a @ b`` (``lora_alpha`` defaults to
        ``rank``).

        Example:
            >>> dense = kbridge.layers.Dense(8); dense.build((None, 16))
            >>> dense.enable_lora(4)
            >>> [v.name for v in dense.trainable_weights]
            ['bias', 'lora_kernel_a', 'lora_kernel_b']
        """
        _lora_rank_arg(f"Layer '{self.name}'", rank)
        if not self.built:
            raise KbridgeError(f"Layer '{self.name}' is not built: build it before "
                               "enable_lora().")
        if self.lora_enabled:
            raise ArgumentError(f"LoRA is already enabled on layer '{self.name}' (rank "
                                f"{self.lora_rank}); it can be enabled once.")
        if getattr(self, f"{self._base}_constraint", None) is not None:
            raise ArgumentError(f"Layer '{self.name}': LoRA cannot be used with a "
                                f"`{self._base}_constraint`; remove the constraint.")
        split = self._lora_split()
        base = getattr(self, self._base)
        shape = self._base_shape
        a = self._late_weight(base, self._lora_names[0], shape[:split] + (rank,), "float32",
                              initializer=a_initializer)
        b = self._late_weight(base, self._lora_names[1], (rank,) + shape[split:], "float32",
                              initializer=b_initializer)
        setattr(self, self._lora_names[0], a)
        setattr(self, self._lora_names[1], b)
        base.trainable = False
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def _lora_pair(self):
        return getattr(self, self._lora_names[0]), getattr(self, self._lora_names[1])

    def _lora_scale(self):
        return self.lora_alpha / self.lora_rank

    def _lora_delta(self):
        a, b = self._lora_pair()
        return ops.multiply(ops.tensordot(a, b, axes=1), self._lora_scale())

    def _weight_with_lora(self):
        """The float weight the layer computes with (dequantized, LoRA added)."""
        weight = self._dequantized()
        if self.lora_enabled:
            weight = ops.add(weight, ops.cast(self._lora_delta(), self.compute_dtype))
        return weight

    def merge_lora(self):
        """Fold the LoRA update into the weight (re-quantized for a quantized layer) and
        remove the factors: the layer is a plain one again, with the same outputs
        (up to re-quantization). :meth:`unmerge_lora` undoes it on a float layer.

        Example:
            >>> dense.merge_lora(); dense.lora_enabled
            False
        """
        import numpy as np

        if not self.lora_enabled:
            raise KbridgeError(f"Layer '{self.name}' has no LoRA factors to merge.")
        a, b = self._lora_pair()
        merged = np.asarray(ops.convert_to_numpy(self._weight_with_lora()), "float32")
        base = getattr(self, self._base)
        if self.quantization_mode in ("int8", "int4"):
            q, scale = self._quantize_array(merged, self.quantization_mode,
                                            self.quantization_config)
            base.assign(q)
            getattr(self, self._scale_name).assign(scale)
            self._merged_lora = None
        else:
            base.assign(merged.astype(base.dtype))
            base.trainable = True
            self._merged_lora = (np.array(a.numpy()), np.array(b.numpy()), self.lora_alpha)
        self._variables[:] = [v for v in self._variables if v is not a and v is not b]
        self._regularized[:] = [(v, r) for v, r in self._regularized
                                if v is not a and v is not b]
        for name in self._lora_names:
            object.__delattr__(self, name)
        self.lora_enabled, self.lora_rank, self.lora_alpha = False, None, None

    def unmerge_lora(self):
        """Undo :meth:`merge_lora` (float layers): subtract the update from the weight and
        restore the LoRA factors, trainable again."""
        import numpy as np

        if self._merged_lora is None:
            raise KbridgeError(f"Layer '{self.name}': no merge_lora() of a float layer to "
                               "undo.")
        a_value, b_value, alpha = self._merged_lora
        rank = a_value.shape[-1]
        self.enable_lora(rank, lora_alpha=alpha)
        a, b = self._lora_pair()
        a.assign(a_value)
        b.assign(b_value)
        base = getattr(self, self._base)
        delta = np.tensordot(a_value, b_value, axes=1) * (alpha / rank)
        base.assign((np.asarray(base.numpy(), "float32") - delta).astype(base.dtype))
        self._merged_lora = None

    def _lora_quant_config(self, config):
        from kbridge import quantizers

        config["quantization_config"] = quantizers.serialize(self.quantization_config)
        if self.lora_rank:
            config["lora_rank"] = self.lora_rank
            config["lora_alpha"] = self.lora_alpha
        return config

    def _finish_build(self):
        if self.lora_rank and not self.lora_enabled:  # from a config with `lora_rank`
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)


def _biased_activation(layer, x):
    """``layer.activation(x + layer.bias)``, or ``layer.activation(x)`` without a bias."""
    if layer.bias is not None:
        x = ops.add(x, layer.bias)
    return layer.activation(x)


class Dense(_LoRAQuantizeMixin, Layer):
    """Densely connected layer: ``activation(inputs @ kernel + bias)`` on the last axis.

    Supports LoRA (``lora_rank``/``lora_alpha``, :meth:`enable_lora`) and weight
    quantization (:meth:`quantize`, quantized dtype policies such as "int8_from_float32").

    Example:
        >>> kbridge.layers.Dense(4, activation="relu")(np.ones((2, 3), "float32")).shape
        (2, 4)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._init_lora_quantize(lora_rank, lora_alpha, quantization_config)
        self.units = int(units)
        if self.units <= 0:
            raise KbridgeError(f"`units` must be a positive integer. Received: units={units}")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self._set_weight_args("kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        self._set_weight_args("bias", bias_initializer, bias_regularizer, bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ShapeError("The last dimension of the input to Dense must be known. "
                             f"Received: input_shape={tuple(input_shape)}")
        self._add_base_weight((input_dim, self.units))
        self.bias = self._add_weight_from("bias", "bias", (self.units,)) if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True
        self._finish_build()

    def call(self, inputs, training=None):
        mode = self.quantization_mode
        if mode is None:
            kernel = self._weight_with_lora() if self.lora_enabled else self.kernel
            return self.activation(ops.nn._linear(inputs, kernel, self.bias))
        if mode == "float8":
            kernel = self._weight_with_lora() if self.lora_enabled else self.kernel
            x = ops.matmul(self._float8_qdq(inputs, "inputs", training),
                           self._float8_qdq(kernel, "kernel", training))
        else:
            x = self._quantized_tensordot(inputs, 1)
            if self.lora_enabled:
                a, b = self._lora_pair()
                lora = ops.matmul(ops.matmul(ops.cast(inputs, "float32"), a), b)
                x = ops.add(x, ops.cast(ops.multiply(lora, self._lora_scale()), ops.dtype(x)))
        return _biased_activation(self, x)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_config("kernel", "bias"),
        })
        return self._lora_quant_config(config)


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


class EinsumDense(_LoRAQuantizeMixin, Layer):
    """A dense layer whose contraction is an einsum ``equation`` between input and kernel.

    ``output_shape`` is the output without its batch (and elided) dims; ``bias_axes`` names
    the output letters that get a bias.

    LoRA and quantization as in :class:`Dense`: the scale is per output element of the
    kernel (its contracted axes are reduced), and LoRA's ``lora_kernel_a`` spans the
    contracted (input) kernel axes, ``lora_kernel_b`` the others, so the update is the
    low-rank update of the input-to-output map (PEFT's for the matching Linear).

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
        self.equation = equation
        self._init_lora_quantize(lora_rank, lora_alpha, quantization_config)
        self._tensordot_axes = _tensordot_axes(equation)
        self.partial_output_shape = ((output_shape,) if isinstance(output_shape, int)
                                     else tuple(output_shape))
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self._set_weight_args("kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        self._set_weight_args("bias", bias_initializer, bias_regularizer, bias_constraint)

    def build(self, input_shape):
        kernel_shape, bias_shape, full = _einsum_shapes(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        self.full_output_shape = full
        self._add_base_weight(kernel_shape)
        self.bias = (None if bias_shape is None
                     else self._add_weight_from("bias", "bias", bias_shape))
        self.built = True
        self._finish_build()

    def _contracted(self):
        """Positions of the kernel axes the equation sums over (those of the input)."""
        lhs, rest = self.equation.replace(" ", "").split(",")
        rhs, out = rest.split("->")
        return tuple(i for i, c in enumerate(rhs) if c in lhs and c not in out)

    def _scale_axes(self):
        return self._contracted()

    def _lora_split(self):
        axes = self._contracted()
        if axes != tuple(range(len(axes))):
            raise ArgumentError(f"EinsumDense '{self.name}': LoRA needs the contracted kernel "
                                f"axes first. Received: equation={self.equation!r}")
        return len(axes)

    def call(self, inputs, training=None):
        k = self._tensordot_axes
        mode = self.quantization_mode
        if mode in ("int8", "int4") and k is not None:
            x = self._quantized_tensordot(inputs, k)
            if self.lora_enabled:
                a, b = self._lora_pair()
                lora = ops.tensordot(ops.tensordot(ops.cast(inputs, "float32"), a, axes=k), b,
                                     axes=1)
                x = ops.add(x, ops.cast(ops.multiply(lora, self._lora_scale()), ops.dtype(x)))
        else:
            kernel = self._weight_with_lora() if mode or self.lora_enabled else self.kernel
            if mode == "float8":
                inputs = self._float8_qdq(inputs, "inputs", training)
                kernel = self._float8_qdq(kernel, "kernel", training)
            if k is not None:  # one matmul over flattened axes, no batch copy
                x = ops.tensordot(inputs, kernel, axes=k)
            else:
                x = ops.einsum(self.equation, inputs, kernel)
        return _biased_activation(self, x)

    def get_config(self):
        config = super().get_config()
        config.update({
            "output_shape": self.partial_output_shape,
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            **self._weight_config("kernel", "bias", kinds=("initializer", "regularizer")),
            "activity_regularizer": registry.serialize(self.activity_regularizer),
            **self._weight_config("kernel", "bias", kinds=("constraint",)),
        })
        return self._lora_quant_config(config)


class Embedding(_LoRAQuantizeMixin, Layer):
    """Looks up rows of an ``(input_dim, output_dim)`` table for integer indices.

    With ``mask_zero=True`` index 0 is padding: :meth:`compute_mask` marks it False.
    LoRA (``lora_embeddings_a``/``_b``) and int8/int4 quantization (one scale per row,
    ``embeddings_scale``) as in Keras 3.

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
        self._init_lora_quantize(lora_rank, lora_alpha, quantization_config)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        if embeddings_initializer == "uniform":  # Keras's short name for RandomUniform
            embeddings_initializer = initializers.RandomUniform()
        self._set_weight_args("embeddings", embeddings_initializer, embeddings_regularizer,
                              embeddings_constraint)
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
        self._add_base_weight((self.input_dim, self.output_dim))
        self.built = True
        self._finish_build()

    _base = "embeddings"
    _lora_names = ("lora_embeddings_a", "lora_embeddings_b")

    def _scale_axes(self):
        return (1,)

    def call(self, inputs):
        if "int" not in ops.dtype(inputs):
            inputs = ops.cast(inputs, "int32")
        mode = self.quantization_mode
        if mode is None:
            table = self._weight_with_lora() if self.lora_enabled else self.embeddings
            return ops.take(table, inputs, axis=0)
        from kbridge import quantizers

        rows = ops.take(self.embeddings, inputs, axis=0)
        if mode == "int4":
            rows = quantizers.unpack_int4(rows, self.output_dim, axis=-1)
        scale = ops.expand_dims(ops.take(self.embeddings_scale, inputs, axis=0), -1)
        out = ops.divide(ops.cast(rows, self.compute_dtype),
                         ops.cast(scale, self.compute_dtype))
        if self.lora_enabled:
            a, b = self._lora_pair()
            lora = ops.matmul(ops.take(a, inputs, axis=0), b)
            out = ops.add(out, ops.cast(ops.multiply(lora, self._lora_scale()),
                                        self.compute_dtype))
        return out

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            **self._weight_config("embeddings", kinds=("initializer", "regularizer")),
            "activity_regularizer": registry.serialize(self.activity_regularizer),
            **self._weight_config("embeddings", kinds=("constraint",)),
            "mask_zero": self.mask_zero,
        })
        return self._lora_quant_config(config)


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

    _config_attrs = ("mask_value",)

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        keep = ops.any(ops.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return ops.multiply(inputs, ops.cast(keep, ops.dtype(inputs)))
