"""``kbridge.layers.serialize`` / ``deserialize``: a layer to a config dict and back.

Example:
    >>> config = kbridge.layers.serialize(kbridge.layers.Dense(3, name="d"))
    >>> kbridge.layers.deserialize(config).units
    3
"""

__all__ = ["deserialize", "serialize"]


def serialize(layer):
    """``{"module", "class_name", "config", "registered_name"}`` for ``layer`` (Keras 3's
    format)."""
    from kbridge.saving import registry

    return registry.serialize(layer)


def deserialize(config, custom_objects=None):
    """A layer from ``serialize``'s output or a Keras 3 layer config.

    Args:
        config: the config dict.
        custom_objects: ``{name: class}`` for user layers that are not registered.
    """
    from kbridge.errors import ArgumentError
    from kbridge.layers.layer import Layer
    from kbridge.saving import registry

    if not isinstance(config, dict):
        raise ArgumentError("kbridge.layers.deserialize expects a config dict. "
                            f"Received: {type(config).__name__}")
    layer = registry.deserialize(config, custom_objects=custom_objects)
    if not isinstance(layer, Layer):
        raise ArgumentError(f"The config describes a {type(layer).__name__}, not a layer.")
    return layer
