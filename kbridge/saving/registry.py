"""The registry of classes that configs may name, and (de)serialisation through it.

A serialised object is ``{"module", "class_name", "config", "registered_name"}`` (Keras 3's
shape, so Keras configs read here too). Deserialisation looks names up in this registry or in
``custom_objects`` only: a ``module`` field is informative and is never imported.
"""

import contextvars
import inspect

from kbridge.errors import KbridgeError

_REGISTRY = {}  # registered name -> class or function (kbridge's own and user-registered)
_CUSTOM_OBJECTS = {}  # user registrations and additions (``get_custom_objects()``)
_CUSTOM_NAMES = {}  # user-registered class or function -> "package>name"
_SCOPE = contextvars.ContextVar("kbridge_custom_object_scope", default=None)
# Set while writing a Keras archive: builtin classes are named by Keras's module paths.
_KERAS_FORMAT = contextvars.ContextVar("kbridge_keras_format", default=False)


class UnsafeDeserializationError(KbridgeError, ValueError):
    """A config names something that could run arbitrary code (e.g. a Lambda layer)."""


# Names shared by two families (the layer ``Identity`` and the initializer ``Identity``):
# (family, name) -> class, the family read from a config's ``module`` field.
_BY_FAMILY = {}
_FAMILIES = ("layers", "initializers", "regularizers", "constraints", "losses", "metrics",
             "optimizers", "activations")
# Keras's exported name where it differs from kbridge's class name (Keras writes the former).
_KERAS_CLASS_NAMES = {"GroupedQueryAttention": "GroupQueryAttention"}
_FROM_KERAS_NAMES = {v: k for k, v in _KERAS_CLASS_NAMES.items()}


def _family(module):
    parts = (module or "").split(".")
    if parts and parts[0] in ("kbridge", "keras"):
        for part in parts[1:3]:
            if part in _FAMILIES:
                return part
    return None


def register(obj, name=None, package=None):
    key = name or obj.__name__
    if package:
        key = f"{package}>{key}"
    _REGISTRY[key] = obj
    family = _family(getattr(obj, "__module__", None))
    if family and not package:
        _BY_FAMILY[(family, key)] = obj
    return obj


class Registered:
    """Base of a serialisable family (Layer, Loss, Initializer, ...).

    Its built-in subclasses register themselves under their class name, so configs can name
    them; a class defined outside kbridge registers through
    :func:`register_kbridge_serializable` instead. An object's config is the keyword arguments
    that rebuild it: by default those named in ``_config_attrs``, stored as attributes of the
    same names.
    """

    _config_attrs = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("kbridge."):
            register(cls)

    def get_config(self):
        return {name: getattr(self, name) for name in self._config_attrs}

    def _keep_config(self, **values):
        """Store constructor arguments as attributes of those names and list them in the
        config, after those already listed."""
        for name, value in values.items():
            setattr(self, name, value)
        self._config_attrs = (*self._config_attrs, *values)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def register_kbridge_serializable(package="Custom", name=None):
    """Decorator: make a user class or function loadable from configs as ``package>name``.

    The same as Keras's ``register_keras_serializable``: archives naming
    ``registered_name: "package>name"`` load into kbridge and the other way round.

    Example:
        >>> @kbridge.saving.register_kbridge_serializable(package="my_lib")
        ... class Scale(kbridge.layers.Layer): ...
    """

    def decorate(obj):
        key = f"{package}>{name if name is not None else obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise KbridgeError(f"Cannot register {obj.__name__}: a registered class needs a "
                               "get_config() method.")
        _REGISTRY[key] = obj
        _CUSTOM_OBJECTS[key] = obj
        _CUSTOM_NAMES[obj] = key
        try:
            obj._registered_name = key
        except (AttributeError, TypeError):  # builtins and slotted objects
            pass
        return obj

    return decorate


def registered_name(obj):
    """``"package>name"`` for a user-registered class or function, else None."""
    try:
        return _CUSTOM_NAMES.get(obj)
    except TypeError:  # unhashable
        return None


class CustomObjectScope:
    """Make ``{name: class_or_function}`` visible to deserialisation inside a ``with`` block.

    Example:
        >>> with kbridge.saving.custom_object_scope({"Scale": Scale}):
        ...     model = kbridge.saving.load_model("m.keras")
    """

    def __init__(self, custom_objects):
        self.custom_objects = dict(custom_objects or {})
        self._token = None

    def __enter__(self):
        outer = _SCOPE.get() or {}
        self._token = _SCOPE.set({**outer, **self.custom_objects})
        return self

    def __exit__(self, *exc):
        _SCOPE.reset(self._token)


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
    """The class or function registered as ``name``: ``custom_objects`` first, then any
    ``custom_object_scope``, the user's registrations, and kbridge's own classes."""
    if not isinstance(name, str):
        return None
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    scoped = _SCOPE.get()
    if scoped and name in scoped:
        return scoped[name]
    if name in _CUSTOM_OBJECTS:
        return _CUSTOM_OBJECTS[name]
    if name not in _REGISTRY:
        _ensure_builtins()
    return _REGISTRY.get(name)


def get_instance(identifier, base, aliases, what):
    """Keras's ``get`` of regularizers and constraints: None, an instance of ``base`` or any
    callable as it is; a name (one of ``aliases``, else a registered class) as a new
    instance; a config dict deserialized."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = aliases.get(identifier) or get_registered_object(identifier)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise KbridgeError(f"Unknown {what} {identifier!r}. Known: {sorted(aliases)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise KbridgeError(f"Could not interpret {what}: {identifier!r}")


def family_functions(base, aliases, what):
    """Keras's ``get`` and ``deserialize`` of a family (constraints, regularizers): see
    :func:`get_instance`; a name deserializes as ``get`` reads it."""

    def get(identifier):
        return get_instance(identifier, base, aliases, what)

    def deserialize_family(config, custom_objects=None):
        if isinstance(config, str):
            return get(config)
        return deserialize(config, custom_objects=custom_objects)

    get.__doc__ = (f"A {what} from None, a name ({', '.join(map(repr, sorted(aliases)[:2]))}"
                   ", ...), a config dict, an instance or a callable.")
    deserialize_family.__doc__ = f"A {what} from :func:`serialize`'s dict, or from a name."
    deserialize_family.__name__ = deserialize_family.__qualname__ = "deserialize"
    return get, deserialize_family


def _class_registered_name(cls):
    # Looked up per class (not inherited): a subclass of a registered class is its own name.
    return _CUSTOM_NAMES.get(cls) or cls.__dict__.get("_registered_name")


# Keras's module for each family of kbridge's own classes (Keras resolves "module.ClassName"
# in its public API when it loads an archive).
_KERAS_MODULES = (("kbridge.layers", "keras.layers"),
                  ("kbridge.initializers", "keras.initializers"),
                  ("kbridge.regularizers", "keras.regularizers"),
                  ("kbridge.constraints", "keras.constraints"),
                  ("kbridge.optimizers.schedules", "keras.optimizers.schedules"),
                  ("kbridge.optimizers", "keras.optimizers"), ("kbridge.losses", "keras.losses"),
                  ("kbridge.metrics", "keras.metrics"), ("kbridge.dtype_policies", "keras"))


def _module_field(cls):
    module = cls.__module__
    if not _KERAS_FORMAT.get():
        return module.rsplit(".", 1)[0] if module.startswith("kbridge") else module
    if cls.__name__ == "Functional" and module.startswith("kbridge.models"):
        return "keras.src.models.functional"
    if module.startswith("kbridge.models"):
        return "keras"
    for ours, theirs in _KERAS_MODULES:
        if module == ours or module.startswith(ours + "."):
            return theirs
    return None if module == "__main__" else module


def serialize(obj):
    """A JSON-friendly dict describing ``obj`` (a layer, initializer, ... or a plain value)."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize(o) for o in obj]
    if isinstance(obj, dict):
        return {k: serialize(v) for k, v in obj.items()}
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        custom = registered_name(obj)
        if custom is not None:
            if _KERAS_FORMAT.get():  # Keras's shape for a registered function
                return {"module": "builtins", "class_name": "function", "config": custom,
                        "registered_name": "function"}
            return custom
        if getattr(obj, "__name__", None) in _REGISTRY:
            return obj.__name__
    if hasattr(obj, "get_config") and not inspect.isclass(obj):
        cls = obj.__class__
        keras_format = _KERAS_FORMAT.get()
        out = {
            "module": _module_field(cls),
            "class_name": _KERAS_CLASS_NAMES.get(cls.__name__, cls.__name__)
            if keras_format and cls.__module__.startswith("kbridge.") else cls.__name__,
            "config": obj.get_config(),
            "registered_name": _class_registered_name(cls),
        }
        if _KERAS_FORMAT.get():
            _add_keras_fields(obj, out)
        return out
    raise KbridgeError(f"Cannot serialise an object of type {type(obj).__name__}: {obj!r}")


def _add_keras_fields(obj, out):
    if _is_functional(obj):
        out["registered_name"] = out["registered_name"] or "Functional"
    build_config = getattr(obj, "get_build_config", None)
    if build_config is not None and getattr(obj, "built", False):
        try:
            config = build_config()
        except Exception:  # a layer whose build shapes cannot be stated: Keras rebuilds it
            config = None
        if config is not None:
            out["build_config"] = _jsonable(config)


def _is_functional(obj):
    return type(obj).__name__ == "Functional" and type(obj).__module__.startswith("kbridge.")


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def serialize_keras_format(obj):
    """:func:`serialize` with Keras's module names and per-layer ``build_config``."""
    token = _KERAS_FORMAT.set(True)
    try:
        return serialize(obj)
    finally:
        _KERAS_FORMAT.reset(token)


def _effective_safe_mode(safe_mode):
    """``safe_mode`` unless ``kbridge.config.enable_unsafe_deserialization()`` was called."""
    from kbridge import config

    getter = getattr(config, "in_safe_mode", None)
    if getter is not None and getter() is False:
        return False
    return safe_mode


def resolve_class(config, custom_objects=None):
    """The class a serialised ``{"class_name", "registered_name", "module"}`` names, or None:
    ``custom_objects`` and registrations by name, the ``module`` family settling names that
    two families share (``Identity``)."""
    class_name = config.get("class_name")
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name]
    registered = config.get("registered_name")
    if registered and registered != class_name:
        cls = get_registered_object(registered, custom_objects)
        if cls is not None:
            return cls
    family = _family(config.get("module"))
    if family:
        _ensure_builtins()
        cls = _BY_FAMILY.get((family, _FROM_KERAS_NAMES.get(class_name, class_name)))
        if cls is not None:
            return cls
    for name in (class_name, _FROM_KERAS_NAMES.get(class_name)):
        cls = get_registered_object(name, custom_objects) if name else None
        if cls is not None:
            return cls
    return None


def deserialize(config, custom_objects=None, safe_mode=True):
    """Build the object a :func:`serialize` dict describes, from registered classes only."""
    safe_mode = _effective_safe_mode(safe_mode)
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
    if class_name == "function" and isinstance(config.get("config"), str):
        return deserialize(config["config"], custom_objects, safe_mode)  # Keras's function entry
    cls = resolve_class(config, custom_objects)
    if cls is None:
        raise KbridgeError(
            f"Unknown class {class_name!r} in a config. Only kbridge's registered classes and "
            "those passed as `custom_objects={'Name': cls}` can be built (configs never name "
            "code to import)."
        )
    unsafe = getattr(cls, "_unsafe_to_deserialize", False)
    if callable(unsafe):  # the class tells from its config (a Lambda of a registered function)
        unsafe = unsafe(config.get("config", {}))
    if safe_mode and unsafe:
        raise UnsafeDeserializationError(
            f"Requested the deserialization of a `{class_name}`, which would run Python code "
            "stored in the file. This carries a risk of arbitrary code execution and is "
            "disallowed by default. If you trust the source of the file, pass "
            "`safe_mode=False` to the loading function, or call "
            "`kbridge.config.enable_unsafe_deserialization()`."
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
