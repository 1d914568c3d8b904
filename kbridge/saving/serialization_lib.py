"""Keras 3's serialisation names: ``serialize_keras_object``, ``register_keras_serializable``...

They wrap kbridge's registry (``kbridge.saving.registry``), which builds only registered
classes: a config's ``module`` field is written as Keras writes it and never imported.
"""

import json

from kbridge.saving import registry
from kbridge.saving.registry import CustomObjectScope

custom_object_scope = CustomObjectScope


def register_keras_serializable(package="Custom", name=None):
    """Decorator: register a class or function as ``"package>name"`` (Keras's key).

    An archive naming ``registered_name: "my_pkg>MyLayer"`` (written by Keras or kbridge)
    then builds the class in both.

    Example:
        >>> @kbridge.saving.register_keras_serializable(package="my_pkg")
        ... class MyLayer(kbridge.layers.Layer):
        ...     def call(self, x):
        ...         return x * 2
        >>> kbridge.saving.get_registered_name(MyLayer)
        'my_pkg>MyLayer'
    """
    return registry.register_kbridge_serializable(package=package, name=name)


def get_custom_objects():
    """The live global dict of user-registered objects (``{"package>name": obj}``).

    Entries added to it are visible to deserialisation; ``custom_object_scope`` entries are
    not added to it.

    Example:
        >>> kbridge.saving.get_custom_objects()["MyLayer"] = MyLayer
    """
    return registry._CUSTOM_OBJECTS


def get_registered_name(obj):
    """The name ``obj`` is registered under, or its ``__name__`` if it is not registered.

    Example:
        >>> kbridge.saving.get_registered_name(kbridge.layers.Dense)
        'Dense'
    """
    found = registry.registered_name(obj)
    return found if found is not None else obj.__name__


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered as ``name``, looked up as Keras does: ``custom_objects``, the
    enclosing ``custom_object_scope``, the user's registrations (``get_custom_objects()``),
    then ``module_objects``; None if none has it.

    Example:
        >>> kbridge.saving.get_registered_object("my_pkg>MyLayer")
    """
    scoped = registry._SCOPE.get() or {}
    for table in (custom_objects, scoped, registry._CUSTOM_OBJECTS, module_objects):
        if table and name in table:
            return table[name]
    return None


def serialize_keras_object(obj):
    """A JSON-friendly dict in Keras 3's format: ``{"module", "class_name", "config",
    "registered_name"}`` (plus ``build_config`` for a built layer); plain values pass through.

    Example:
        >>> kbridge.saving.serialize_keras_object(kbridge.initializers.Zeros())["module"]
        'keras.initializers'
    """
    return registry.serialize_keras_format(obj)


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """Build the object a Keras-format dict describes (kbridge's or Keras's output), from
    registered classes only; ``safe_mode`` refuses configs that would run stored code.

    Example:
        >>> layer = kbridge.saving.deserialize_keras_object(
        ...     {"class_name": "Dense", "config": {"units": 3}, "module": "keras.layers"})
    """
    module_objects = kwargs.pop("module_objects", None)
    kwargs.pop("printable_module_name", None)
    if kwargs:
        from kbridge.errors import ArgumentError

        raise ArgumentError(f"Unexpected keyword arguments: {sorted(kwargs)}")
    if isinstance(config, str) and module_objects and config in module_objects:
        return module_objects[config]
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(c, custom_objects, safe_mode) for c in config]
    if isinstance(config, dict) and "class_name" in config:
        from kbridge.saving import keras_import

        objects = dict(module_objects or {}, **(custom_objects or {}))
        config = keras_import._sanitize(config, objects or None)
        return registry.deserialize(config, custom_objects=objects or None, safe_mode=safe_mode)
    return registry.deserialize(config, custom_objects=custom_objects, safe_mode=safe_mode)


def model_from_json(json_string, custom_objects=None):
    """A model (unbuilt weights, freshly initialised) from ``model.to_json()`` output.

    Example:
        >>> clone = kbridge.models.model_from_json(model.to_json())
    """
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as e:
        from kbridge.errors import ArgumentError

        raise ArgumentError(f"model_from_json expects a JSON string from model.to_json(). "
                            f"Received: {str(json_string)[:80]!r} ({e})") from None
    return deserialize_keras_object(config, custom_objects=custom_objects)
