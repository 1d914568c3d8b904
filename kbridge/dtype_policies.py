"""Dtype policies: the dtype a layer computes in and the dtype its variables are stored in."""


from kbridge.backend.common.dtypes import FLOAT_TYPES, floatx, standardize_dtype
from kbridge.errors import ArgumentError, DTypeError
from kbridge.utils.path_map import PathMap

_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
_global_policy = None


class DTypePolicy:
    """``DTypePolicy("mixed_float16")``: compute in float16, keep variables in float32.

    Example:
        >>> p = kbridge.dtype_policies.DTypePolicy("mixed_bfloat16")
        >>> p.compute_dtype, p.variable_dtype
        ('bfloat16', 'float32')
    """

    def __init__(self, name=None):
        name = floatx() if name is None else name
        if name in _MIXED:
            self.compute_dtype, self.variable_dtype = _MIXED[name], "float32"
        else:
            try:
                dtype = standardize_dtype(name)
            except DTypeError:
                raise DTypeError(
                    "A dtype policy must be a dtype name or 'mixed_float16'/'mixed_bfloat16'. "
                    f"Received: {name!r}"
                ) from None
            self.compute_dtype = self.variable_dtype = dtype
        self.name = name

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f'<{type(self).__name__} "{self.name}">'

    def get_config(self):
        return {"name": self.name}

    @property
    def quantization_mode(self):
        """None: a float policy does not quantize (Keras's quantized policies set it)."""
        return None

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class FloatDTypePolicy(DTypePolicy):
    """Keras's name for a plain (non-quantized) float policy; the same as ``DTypePolicy``."""


QUANTIZATION_MODES = ("int8", "int4", "float8")


class QuantizedDTypePolicy(DTypePolicy):
    """A float policy whose layers store quantized weights: ``"int8_from_float32"`` computes
    in float32 with int8 kernels (Keras's names; see ``Layer.quantize``).

    Example:
        >>> p = kbridge.dtype_policies.get("int8_from_mixed_bfloat16")
        >>> p.quantization_mode, p.compute_dtype, p.variable_dtype
        ('int8', 'bfloat16', 'float32')
    """

    def __init__(self, mode, source_name=None):
        if mode not in QUANTIZATION_MODES:
            raise ArgumentError(f"Quantization mode must be one of {list(QUANTIZATION_MODES)}. "
                                f"Received: mode={mode!r}")
        source = DTypePolicy(source_name if source_name is not None else get(None).name)
        if source.compute_dtype not in FLOAT_TYPES:
            raise DTypeError(f"A quantized policy needs a float source policy. Received: "
                             f"source_name={source.name!r}")
        self.compute_dtype, self.variable_dtype = source.compute_dtype, source.variable_dtype
        self._mode, self._source_name = mode, source.name
        self.name = f"{self._mode_name}_from_{source.name}"

    _mode_name = property(lambda self: self._mode)
    quantization_mode = property(lambda self: self._mode)

    def get_config(self):
        return {"mode": self._mode_name, "source_name": self._source_name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        mode = config.pop("mode")
        if isinstance(mode, str) and mode.startswith("int4"):
            return Int4DTypePolicy(mode, **config)
        return cls(mode, **config)


class Int4DTypePolicy(QuantizedDTypePolicy):
    """int4 weights with one scale per output channel (Keras's ``"int4/-1"`` block size)."""

    def __init__(self, mode="int4", source_name=None, block_size=-1):
        if isinstance(mode, str) and "/" in mode:
            mode, _, size = mode.partition("/")
            block_size = int(size) if size.lstrip("-").isdigit() else size
        if mode != "int4" or block_size not in (None, -1):
            raise ArgumentError("Int4DTypePolicy supports per-channel int4 only ('int4' or "
                                f"'int4/-1'). Received: mode={mode!r}, block_size={block_size!r}")
        super().__init__("int4", source_name)
        self.block_size = -1

    _mode_name = property(lambda self: "int4/-1")


class QuantizedFloat8DTypePolicy(QuantizedDTypePolicy):
    """float8 fake quantization with delayed scaling over ``amax_history_length`` steps."""

    default_amax_history_length = 1024

    def __init__(self, mode="float8", source_name=None, amax_history_length=1024):
        if mode != "float8":
            raise ArgumentError(f"QuantizedFloat8DTypePolicy needs mode='float8'. Received: "
                                f"{mode!r}")
        if not isinstance(amax_history_length, int) or amax_history_length < 1:
            raise ArgumentError("amax_history_length must be a positive integer. Received: "
                                f"{amax_history_length!r}")
        super().__init__("float8", source_name)
        self.amax_history_length = amax_history_length

    def get_config(self):
        return {**super().get_config(), "amax_history_length": self.amax_history_length}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def quantized_policy(mode, source):
    """The quantized policy for ``mode`` over the float policy ``source`` (a policy or name)."""
    source = source.name if isinstance(source, DTypePolicy) else source
    if mode == "int4":
        return Int4DTypePolicy("int4", source)
    if mode == "float8":
        return QuantizedFloat8DTypePolicy("float8", source)
    return QuantizedDTypePolicy(mode, source)


def _from_quantized_name(name):
    """``"int8_from_float32"`` / ``"int4/-1_from_mixed_bfloat16"`` -> its policy."""
    mode, sep, source = name.partition("_from_")
    if not sep or not source:
        raise ArgumentError("A quantized dtype policy name looks like 'int8_from_float32'. "
                            f"Received: {name!r}")
    if mode.startswith("int4"):
        return Int4DTypePolicy(mode, source)
    return quantized_policy(mode, source)


class DTypePolicyMap(DTypePolicy, PathMap):
    """Layer paths (or regexes over them) -> dtype policies, with a default for the rest.

    Lookup tries the exact path first, then every key as a regex that must match the whole
    path; two matching regexes are an error.

    Args:
        default_policy: the policy for unmatched paths (the global policy when None).
        policy_map: an initial ``{path_or_regex: policy}`` dict.

    Example:
        >>> m = kbridge.dtype_policies.DTypePolicyMap("float32")
        >>> m["encoder/.*"] = "bfloat16"
        >>> m["encoder/dense"].name, m["decoder"].name
        ('bfloat16', 'float32')
    """

    def __init__(self, default_policy=None, policy_map=None):
        if isinstance(default_policy, DTypePolicyMap):
            raise ArgumentError("`default_policy` cannot be a DTypePolicyMap. "
                                f"Received: {default_policy!r}")
        self._default_policy_arg = default_policy
        PathMap.__init__(self, policy_map, "policy_map")

    @property
    def default_policy(self):
        return get(self._default_policy_arg)

    @property
    def name(self):
        return f"map_{self.default_policy.name}"

    compute_dtype = property(lambda self: self.default_policy.compute_dtype)
    variable_dtype = property(lambda self: self.default_policy.variable_dtype)

    def _check(self, key, policy):
        return get(policy)

    def _default(self):
        return self.default_policy

    def __eq__(self, other):
        return (isinstance(other, DTypePolicyMap) and other.default_policy == self.default_policy
                and other._entries == self._entries)

    __hash__ = None

    def __repr__(self):
        mapping = [(k, v.name) for k, v in self._entries.items()]
        return f"<DTypePolicyMap default_policy={self.default_policy.name}, mapping={mapping}>"

    def get_config(self):
        default = self._default_policy_arg
        return {"default_policy": serialize(default) if isinstance(default, DTypePolicy)
                else default,
                "policy_map": {k: serialize(v) for k, v in self._entries.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["policy_map"] = {k: deserialize(v, custom_objects)
                                for k, v in (config.get("policy_map") or {}).items()}
        if isinstance(config.get("default_policy"), dict):
            config["default_policy"] = deserialize(config["default_policy"], custom_objects)
        return cls(**config)


def _register():
    from kbridge.saving import registry

    registry.register(DTypePolicy)
    registry.register(FloatDTypePolicy)
    registry.register(DTypePolicyMap)
    registry.register(QuantizedDTypePolicy)
    registry.register(Int4DTypePolicy)
    registry.register(QuantizedFloat8DTypePolicy)


_register()


def serialize(dtype_policy):
    """A dtype policy as a Keras-style config dict.

    Example:
        >>> kbridge.dtype_policies.serialize(DTypePolicy("mixed_float16"))["config"]
        {'name': 'mixed_float16'}
    """
    from kbridge.saving import registry

    return registry.serialize(dtype_policy)


def deserialize(config, custom_objects=None):
    """A dtype policy from ``serialize``'s output (or a Keras archive's)."""
    from kbridge.saving import registry

    return registry.deserialize(config, custom_objects=custom_objects)


def get(identifier):
    """A DTypePolicy from None (the global policy), a name, a dict or a policy."""
    if identifier is None:
        return _global_policy or DTypePolicy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        if identifier.get("class_name") not in (None, "DTypePolicy", "FloatDTypePolicy"):
            return deserialize(identifier)
        identifier = identifier.get("config", identifier).get("name")
    if isinstance(identifier, str) and identifier.startswith(QUANTIZATION_MODES) \
            and "_from_" in identifier:
        return _from_quantized_name(identifier)
    return DTypePolicy(identifier)


def set_dtype_policy(policy):
    """Set the policy new layers use (as ``keras.config.set_dtype_policy``)."""
    global _global_policy
    _global_policy = get(policy) if policy is not None else None


def dtype_policy():
    return get(None)


def is_float_compute(policy):
    return policy.compute_dtype in FLOAT_TYPES
