"""The registry of classes that configs may name, and (de)serialisation through it.

A serialised object is ``{"module", "class_name", "config", "registered_name"}`` (Keras 3's
shape, so Keras configs read here too). Deserialisation looks names up in this registry or in
``custom_objects`` only: a ``module`` field is informative and is never imported.
"""

import inspect

from kbridge.errors import KbridgeError

_REGISTRY = {}  # registered name -> class or function


class UnsafeDeserializationError(KbridgeError, ValueError):
    """A config names something that could run arbitrary code (e.g. a Lambda layer)."""


def register(obj, name=None, package=None):
    key = name or obj.__name__
    if package:
        key = f"{package}>{key}"
    _REGISTRY[key] = obj
    return obj


def register_kbridge_serializable(package="Custom", name=None):
    """Decorator: make a user class loadable from configs as ``package>name``.

    Example:
        >>> @kbridge.saving.register_kbridge_serializable(package="my_lib")
        ... class Scale(kbridge.layers.Layer): ...
    """

    def decorate(obj):
        register(obj, name=name, package=package)
        obj._registered_name = f"{package}>{name or obj.__name__}"
        return obj

    return decorate


_builtins_loaded = False
_BUILTIN_MODULES = ("kbridge.layers", "kbridge.models", "kbridge.initializers",
                    "kbridge.regularizers", "kbridge.constraints", "kbridge.activations",
                    "kbridge.dtype_policies", "kbridge.losses", "kbridge.metrics",
                    "kbridge.optimizers", "model_zoo")


def _ensure_builtins():
    """Import kbridge's own classes (and the model zoo's, shipped with it) once, so their
    names resolve. Only these fixed modules are imported: never one named by a config."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    import importlib

    for module in _BUILTIN_MODULES:
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            continue
        if module == "kbridge.layers":
            loaded._load_all()


def get_registered_object(name, custom_objects=None):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name not in _REGISTRY:
        _ensure_builtins()
    return _REGISTRY.get(name)


def serialize(obj):
    """A JSON-friendly dict describing ``obj`` (a layer, initializer, ... or a plain value)."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize(o) for o in obj]
    if isinstance(obj, dict):
        return {k: serialize(v) for k, v in obj.items()}
    if inspect.isfunction(obj) and getattr(obj, "__name__", None) in _REGISTRY:
        return obj.__name__
    if hasattr(obj, "get_config"):
        cls = obj.__class__
        return {
            "module": cls.__module__.rsplit(".", 1)[0] if cls.__module__.startswith("kbridge") else cls.__module__,
            "class_name": cls.__name__,
            "config": obj.get_config(),
            "registered_name": getattr(cls, "_registered_name", None),
        }
    raise KbridgeError(f"Cannot serialise an object of type {type(obj).__name__}: {obj!r}")


def deserialize(config, custom_objects=None, safe_mode=True):
    """Build the object a :func:`serialize` dict describes, from registered classes only."""
    if config is None or isinstance(config, (int, float, bool)):
        return config
    if isinstance(config, str):
        found = get_registered_object(config, custom_objects)
        return found if found is not None else config
    if not isinstance(config, dict) or "class_name" not in config:
        raise KbridgeError(
            "A serialised object must be a dict with 'class_name' and 'config'. "
            f"Received: {config!r}"
        )
    class_name = config["class_name"]
    names = [n for n in (config.get("registered_name"), class_name) if n]
    cls = None
    for n in names:
        cls = get_registered_object(n, custom_objects)
        if cls is not None:
            break
    if cls is None:
        raise KbridgeError(
            f"Unknown class {class_name!r} in a config. Only kbridge's registered classes and "
            "those passed as `custom_objects={'Name': cls}` can be built (configs never name "
            "code to import)."
        )
    if safe_mode and getattr(cls, "_unsafe_to_deserialize", False):
        raise UnsafeDeserializationError(
            f"Refusing to build a {class_name} from a config: it would run code stored in the "
            "file. Pass safe_mode=False only if you trust the source."
        )
    inner = config.get("config", {})
    if hasattr(cls, "from_config"):
        try:
            return cls.from_config(inner, custom_objects=custom_objects, safe_mode=safe_mode)
        except TypeError as e:
            if "custom_objects" not in str(e) and "safe_mode" not in str(e):
                raise
            return cls.from_config(inner)
    return cls(**inner)
