"""Keras's legacy (TF-Keras 2) config format: ``{"class_name": ..., "config": ...}``.

``kbridge.utils.legacy`` and ``kbridge.legacy.saving`` hold these two functions. Configs in
this shape carry no ``module``/``registered_name``; names resolve through ``custom_objects``,
``module_objects`` and kbridge's registry (as in ``kbridge.saving``), never by importing code.

Example:
    >>> config = kbridge.utils.legacy.serialize_keras_object(kbridge.layers.Dense(2))
    >>> config["class_name"]
    'Dense'
    >>> layer = kbridge.utils.legacy.deserialize_keras_object(config)
"""

import inspect

from kbridge.errors import ArgumentError

__all__ = ["deserialize_keras_object", "serialize_keras_object"]


def serialize_keras_object(instance):
    """``instance`` as a legacy config: ``{"class_name", "config"}`` for objects with
    ``get_config``, the registered name for a function, None for None."""
    from kbridge.saving import registry

    if instance is None:
        return None
    if hasattr(instance, "get_config") and not inspect.isclass(instance):
        cls = type(instance)
        name = registry.registered_name(cls) or cls.__name__
        return {"class_name": name, "config": instance.get_config()}
    if hasattr(instance, "__name__"):
        return registry.registered_name(instance) or instance.__name__
    raise ArgumentError(f"Cannot serialize {instance!r}: it has no get_config() and no name.")


def deserialize_keras_object(identifier, module_objects=None, custom_objects=None,
                             printable_module_name="object"):
    """Build an object from a legacy config dict or a name.

    Args:
        identifier: ``{"class_name", "config"}``, a registered name, or None.
        module_objects: extra ``{name: class_or_function}`` to look names up in.
        custom_objects: user ``{name: class_or_function}`` (searched first).
        printable_module_name: what the object is, for error messages.

    A name that resolves to a class gives an instance built with no arguments (as in Keras).
    """
    from kbridge.saving import registry

    if identifier is None:
        return None
    lookup = {**(module_objects or {}), **(custom_objects or {})}

    def find(name):
        obj = lookup.get(name) or registry.get_registered_object(name)
        if obj is None:
            raise ArgumentError(
                f"Unknown {printable_module_name}: {name!r}. Register it with "
                "@kbridge.saving.register_keras_serializable() or pass it in `custom_objects`.")
        return obj

    if isinstance(identifier, dict):
        if "class_name" not in identifier or "config" not in identifier:
            raise ArgumentError(f"A legacy config needs 'class_name' and 'config' keys. "
                                f"Received keys: {sorted(identifier)}")
        cls = find(identifier["class_name"])
        config = identifier["config"]
        try:
            return cls.from_config(config, custom_objects=lookup or None)
        except TypeError as e:
            if "custom_objects" not in str(e):
                raise
            with registry.CustomObjectScope(lookup):
                return cls.from_config(config)
    if isinstance(identifier, str):
        obj = find(identifier)
        return obj() if inspect.isclass(obj) else obj
    if callable(identifier):
        return identifier
    raise ArgumentError(f"Cannot deserialize {printable_module_name} from {identifier!r}: "
                        "expected a config dict, a name or None.")
