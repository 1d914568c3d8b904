"""Config (de)serialisation: a registry of classes; configs never name code to import."""

from kbridge.saving.registry import (
    deserialize,
    get_registered_object,
    register_kbridge_serializable,
    serialize,
)

__all__ = ["deserialize", "get_registered_object", "register_kbridge_serializable", "serialize"]
