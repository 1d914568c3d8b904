"""Import Keras 3 ``.keras`` archives and ``.weights.h5`` files (read with h5py; no Keras).

A ``.keras`` file is a zip of ``config.json`` (Keras's serialisation, which kbridge's configs
follow), ``metadata.json`` and ``model.weights.h5``, whose layout is
``layers/<layer name>/[<sub-object>/...]vars/<i>``. Configs are built from kbridge's registry
only; Keras-only keys that are unset (e.g. ``quantization_config: null``) are dropped, set ones
are refused with a clear error.
"""

import inspect
import io
import json
import os
import zipfile


from kbridge.errors import KbridgeError
from kbridge.hub.errors import ReleaseError
from kbridge.utils.optional import require

# Sub-object groups in the order their weights appear in ``layer.weights`` (h5 lists groups
# alphabetically, which is not creation order).
_GROUP_ORDER = ["vars", "cell", "forward_layer", "backward_layer", "query_dense", "key_dense",
                "value_dense", "output_dense"]
_LAYER_BASE_ARGS = {"name", "trainable", "dtype", "activity_regularizer", "autocast",
                    "input_shape", "input_dim", "batch_size", "batch_input_shape", "input_dtype"}
_DROPPED_KEYS = {"shared_object_id", "build_config", "compile_config"}
_MAX_MEMBER_BYTES = 64 * 1024**3


def _takes_any_kwargs(cls):
    from kbridge.layers.layer import Layer

    for klass in cls.__mro__:
        if klass is Layer or klass is object:
            return False
        init = klass.__dict__.get("__init__")
        if init is not None:
            return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(init).parameters.values())
    return False


def _accepted_args(cls):
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                names.add(p.name)
    return names


def _sanitize(entry, custom_objects):
    """A Keras serialised object, cleaned for kbridge's registry (recursively)."""
    from kbridge.saving import registry

    if isinstance(entry, list):
        return [_sanitize(e, custom_objects) for e in entry]
    if not isinstance(entry, dict):
        return entry
    entry = {k: _sanitize(v, custom_objects) for k, v in entry.items()
             if k not in ("shared_object_id",)}
    if "class_name" not in entry or not isinstance(entry.get("config"), dict):
        return entry
    if entry["class_name"] == "__keras_tensor__":
        return entry
    cls = registry.resolve_class(entry, custom_objects)
    if cls is None or not inspect.isclass(cls):
        return entry  # deserialize() reports the unknown class by name
    accepted = _accepted_args(cls)
    from kbridge.layers.layer import Layer

    if issubclass(cls, Layer):
        if cls.from_config.__func__ is not Layer.from_config.__func__:
            return entry  # models and layers with their own from_config read their keys
        accepted |= _LAYER_BASE_ARGS
    config = {}
    for key, value in entry["config"].items():
        if key in accepted or key in ("layers", "input_layers", "output_layers"):
            config[key] = value
        elif key in _DROPPED_KEYS or value in (None, False, [], {}, 0):
            continue
        elif _takes_any_kwargs(cls):
            config[key] = value  # the constructor validates what it forwards
        else:
            raise ReleaseError(f"Keras config of {entry['class_name']} sets {key}={value!r}, "
                               "which kbridge does not support")
    entry["config"] = config
    return entry


def _ordered_leaves(group):
    """Datasets under an h5 group, in layer-weight order."""
    leaves = []
    keys = list(group.keys())
    keys.sort(key=lambda k: (_GROUP_ORDER.index(k) if k in _GROUP_ORDER else len(_GROUP_ORDER), k))
    for key in keys:
        item = group[key]
        if key == "vars":
            leaves.extend(item[str(i)] for i in range(len(item)))
        elif hasattr(item, "keys"):
            leaves.extend(_ordered_leaves(item))
    return leaves


def _read_h5(file_like, where):
    h5py = require("h5py", "Reading Keras weights needs h5py: pip install 'kbridge[hub]'",
                   ReleaseError)
    try:
        return h5py.File(file_like, "r")
    except OSError as e:
        raise ReleaseError(f"{where}: not a readable HDF5 file ({e})") from None


def _legacy_plan(model, h5, where):
    """Match groups by the order of their datasets (files from layers whose sub-objects
    kbridge lays out differently from Keras)."""
    layers_group = h5.get("layers")
    if layers_group is None:
        raise ReleaseError(f"{where}: no 'layers' group; not a Keras 3 weights file")
    from kbridge.backend.common.naming import to_snake_case

    counts, plan = {}, []
    for layer in model.layers:
        base = to_snake_case(type(layer).__name__)
        n = counts.get(base, 0)
        counts[base] = n + 1
        key = base if n == 0 else f"{base}_{n}"
        ours = layer.weights
        if key not in layers_group:
            if ours:
                raise ReleaseError(f"{where}: no weights for layer '{layer.name}' (group "
                                   f"layers/{key})")
            continue
        theirs = _ordered_leaves(layers_group[key])
        if len(theirs) != len(ours):
            raise ReleaseError(f"{where}: layer '{layer.name}' has {len(theirs)} weights in the "
                               f"file and {len(ours)} in the architecture")
        for v, dataset in zip(ours, theirs):
            if tuple(dataset.shape) != v.shape:
                raise ReleaseError(f"{where}: weight {dataset.name} has shape "
                                   f"{tuple(dataset.shape)}, '{v.path}' expects {v.shape}")
            plan.append((v, dataset))
    return plan


def assign_h5_weights(model, h5, where, skip_mismatch=False, optimizer=True):
    """Copy Keras-layout weights from an open h5 file into ``model`` (all checked first)."""
    from kbridge.saving import keras_format

    if h5.get("layers") is None and h5.get("vars") is None:
        raise ReleaseError(f"{where}: no 'layers' group; not a Keras 3 weights file")
    from kbridge.layers.layer import Layer

    if not isinstance(model, Layer):  # a view listing layers in another order (legacy_h5)
        keras_format.assign(_legacy_plan(model, h5, where))
        return
    try:
        plan = keras_format.plan_assignments(model, h5, where, skip_mismatch=skip_mismatch)
    except ReleaseError as error:
        try:
            plan = _legacy_plan(model, h5, where)
        except ReleaseError:
            raise error from None
    keras_format.assign(plan)
    if optimizer:
        keras_format.load_optimizer_state(model, h5, where)


def read_archive(path):
    """``(config dict, weights bytes)`` of a ``.keras`` archive; problems are a
    :class:`ReleaseError` naming the file."""
    where = os.path.basename(path)
    if path.endswith(".weights.h5"):
        raise ReleaseError(f"{where} holds weights only, no architecture: build the model, then "
                           f"call model.load_weights({path!r})")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ReleaseError(f"{where}: not a .keras archive ({e})") from None
    with archive:
        names = set(archive.namelist())
        for needed in ("config.json", "model.weights.h5"):
            if needed not in names:
                raise ReleaseError(f"{where}: the archive has no {needed}")
        for needed in ("config.json", "model.weights.h5"):
            _check_member(archive.getinfo(needed), where)
        try:
            raw = archive.read("config.json")
            weights = archive.read("model.weights.h5")
        except (zipfile.BadZipFile, OSError, RuntimeError) as e:
            raise ReleaseError(f"{where}: corrupt archive member ({e})") from None
    return _parse_config(raw, f"{where}/config.json"), weights


# What inflating a member may cost: its declared size bounds the bytes zipfile returns (more
# data fails its CRC check), so the declared sizes are checked before anything is read.
_MAX_CONFIG_BYTES = 256 * 1024**2
_SUSPICIOUS_BYTES = 64 * 1024**2
_MAX_RATIO = 200  # weights and vocabularies compress far less than this


def _check_member(info, where):
    limit = _MAX_CONFIG_BYTES if info.filename == "config.json" else _MAX_MEMBER_BYTES
    if info.file_size > limit:
        raise ReleaseError(f"{where}: {info.filename} declares {info.file_size} bytes; at "
                           f"most {limit} are read")
    if info.file_size > _SUSPICIOUS_BYTES and \
            info.file_size > _MAX_RATIO * max(info.compress_size, 1):
        raise ReleaseError(f"{where}: {info.filename} inflates {info.compress_size} bytes to "
                           f"{info.file_size} (more than {_MAX_RATIO}x): refused as a zip bomb")


def _parse_config(raw, where):
    try:
        config = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReleaseError(f"{where}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ReleaseError(f"{where}: not a serialised model (no 'class_name')")
    return config


def build_model(config, where, backend=None, custom_objects=None, safe_mode=True,
                compile=True):
    """A kbridge model (built, compiled if asked) from a Keras ``config.json`` dict."""
    from kbridge.backend.common import context
    from kbridge.saving import registry

    compile_config = config.get("compile_config")
    config = _sanitize(config, custom_objects)
    with context.use(context.standardize_name(backend) if backend else context.get()):
        try:
            model = registry.deserialize(config, custom_objects=custom_objects,
                                         safe_mode=safe_mode)
        except (ReleaseError, registry.UnsafeDeserializationError):
            raise
        except KbridgeError as e:  # e.g. an unknown class: say which file names it
            raise ReleaseError(f"{where}: {e}") from None
        except (KeyError, IndexError, AttributeError, TypeError) as e:
            raise ReleaseError(f"{where}: malformed model config "
                               f"({type(e).__name__}: {e})") from None
        if not model.built and config.get("build_config"):
            model.build_from_config(config["build_config"])
        if compile and compile_config:
            _compile_from_config(model, compile_config, custom_objects, where)
    return model


def load(path, backend=None, custom_objects=None, safe_mode=True, compile=True):
    """A kbridge model from a Keras 3 ``.keras`` archive (compiled as saved if ``compile``)."""
    path = os.fspath(path)
    where = os.path.basename(path)
    config, weights = read_archive(path)
    model = build_model(config, f"{where}/config.json", backend, custom_objects, safe_mode,
                        compile)
    with _read_h5(io.BytesIO(weights), where) as h5:
        assign_h5_weights(model, h5, where, optimizer=compile)
    _load_archive_assets(model, path, where)
    return model


def _load_archive_assets(model, path, where):
    """Hand each layer with ``load_assets`` (TextVectorization's vocabulary) the files Keras
    stored under ``assets/<its path in Keras's layout>/``: copied, by base name only and
    bounded in size, into a fresh directory; nothing in the archive chooses a path on disk."""
    import tempfile

    from kbridge.saving import keras_format

    layers = [layer for layer in model._flat_layers() if hasattr(layer, "load_assets")]
    if not layers:
        return
    paths = {}
    for group, name, _ in keras_format.layout(model, include_optimizer=False):
        paths.setdefault(name, group)
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist()
                   if info.filename.startswith("assets/") and not info.is_dir()]
        for layer in layers:
            # The layer's own folder, or a sub-object's (Keras writes TextVectorization's
            # vocabulary under ``_lookup_layer/`` on some backends); the shallowest file of a
            # name wins.
            prefix = f"assets/{paths.get(layer.name, layer.name)}/"
            mine = [info for info in members if info.filename.startswith(prefix)]
            if not mine:
                continue
            mine.sort(key=lambda info: -info.filename.count("/"))
            with tempfile.TemporaryDirectory() as tmp:
                for info in mine:
                    name = os.path.basename(info.filename)
                    if name in ("", ".", ".."):
                        raise ReleaseError(f"{where}: asset {info.filename!r} refused "
                                           "(unnamed)")
                    _check_member(info, where)
                    with open(os.path.join(tmp, name), "wb") as f:
                        f.write(archive.read(info))
                layer.load_assets(tmp)


def load_directory(path, backend=None, custom_objects=None, safe_mode=True, compile=True):
    """A model from an unzipped Keras archive (``save_model(..., zipped=False)``)."""
    where = os.path.basename(os.path.normpath(path))
    from kbridge.hub.files import read_regular

    config = _parse_config(read_regular(os.path.join(path, "config.json"), _MAX_CONFIG_BYTES),
                           f"{where}/config.json")
    model = build_model(config, f"{where}/config.json", backend, custom_objects, safe_mode,
                        compile)
    with _read_h5(os.path.join(path, "model.weights.h5"), where) as h5:
        assign_h5_weights(model, h5, where, optimizer=compile)
    return model


def load_archive_weights(model, path, skip_mismatch=False):
    """``model.load_weights("m.keras")``: the weights of an archive, into ``model``."""
    where = os.path.basename(os.fspath(path))
    _, weights = read_archive(os.fspath(path))
    with _read_h5(io.BytesIO(weights), where) as h5:
        assign_h5_weights(model, h5, where, skip_mismatch=skip_mismatch)


def _compile_from_config(model, compile_config, custom_objects, where):
    """``model.compile(**compile_config)`` with the optimizer, losses and metrics built from
    the registry; an entry kbridge cannot build is a warning, as in Keras."""
    import warnings

    from kbridge.saving import registry

    def build(value):
        if isinstance(value, dict) and "class_name" in value:
            return registry.deserialize(_sanitize(value, custom_objects), custom_objects)
        if isinstance(value, list):
            return [build(v) for v in value]
        if isinstance(value, dict):
            return {k: build(v) for k, v in value.items()}
        return value

    from kbridge.trainers.trainer import Trainer

    compiler = getattr(model, "compile_from_config", None)
    try:
        if callable(compiler) and getattr(type(model), "compile_from_config", None) is not \
                Trainer.compile_from_config:  # a model class's own override
            with registry.CustomObjectScope(custom_objects or {}):
                compiler(compile_config)
            return
        args = {k: build(compile_config.get(k)) for k in
                ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics")}
        args = {k: v for k, v in args.items() if v is not None}
        # jit_compile is left to the loading backend's "auto": the file says what the saving
        # backend resolved "auto" to (True on JAX), which would mean torch.compile here.
        for key in ("run_eagerly", "steps_per_execution"):
            if compile_config.get(key) is not None:
                args[key] = compile_config[key]
        model.compile(**args)
    except Exception as e:  # Keras, too, loads an uncompilable model uncompiled
        warnings.warn(f"{where}: the model could not be compiled from its saved "
                      f"compile_config ({type(e).__name__}: {e}); it is returned uncompiled. "
                      "Call model.compile() yourself.", stacklevel=3)


def load_weights(model, path, skip_mismatch=False):
    """Load a Keras 3 ``.weights.h5`` file into a kbridge ``model`` of the same architecture."""
    where = os.path.basename(os.fspath(path))
    with _read_h5(os.fspath(path), where) as h5:
        assign_h5_weights(model, h5, where, skip_mismatch=skip_mismatch)
