"""``kbridge.utils`` serialization names: the same objects as in ``kbridge.saving``.

Resolved when first used, so ``kbridge.utils`` does not import the saving package up front.

Example:
    >>> config = kbridge.utils.serialize_keras_object(kbridge.layers.Dense(2))
    >>> layer = kbridge.utils.deserialize_keras_object(config)
"""

import importlib

__all__ = [
    "CustomObjectScope", "custom_object_scope", "deserialize_keras_object",
    "get_custom_objects", "get_registered_name", "get_registered_object",
    "register_keras_serializable", "serialize_keras_object",
]


def __getattr__(name):
    if name in __all__:
        value = getattr(importlib.import_module("kbridge.saving"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kbridge.utils.serialization' has no attribute {name!r}")
