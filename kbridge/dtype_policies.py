"""Dtype policies: the dtype a layer computes in and the dtype its variables are stored in."""

from kbridge.backend.common.dtypes import FLOAT_TYPES, floatx, standardize_dtype
from kbridge.errors import DTypeError

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
        return f'<DTypePolicy "{self.name}">'

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _register():
    from kbridge.saving import registry

    registry.register(DTypePolicy)
    registry.register(DTypePolicy, name="FloatDTypePolicy")


_register()


def get(identifier):
    """A DTypePolicy from None (the global policy), a name, a dict or a policy."""
    if identifier is None:
        return _global_policy or DTypePolicy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return DTypePolicy(identifier.get("config", identifier).get("name"))
    return DTypePolicy(identifier)


def set_dtype_policy(policy):
    """Set the policy new layers use (as ``keras.config.set_dtype_policy``)."""
    global _global_policy
    _global_policy = get(policy) if policy is not None else None


def dtype_policy():
    return get(None)


def is_float_compute(policy):
    return policy.compute_dtype in FLOAT_TYPES
