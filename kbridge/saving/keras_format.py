"""Keras 3's file layout, written and read by kbridge (h5py only; Keras is never imported).

A ``.keras`` archive is a zip of ``metadata.json``, ``config.json`` (the model serialised with
Keras's module names, plus ``build_config`` and ``compile_config``) and ``model.weights.h5``.
The weights file holds one group per object Keras saves, ``<path>/vars/<i>`` with a ``name``
attribute: the model's layers under ``layers/<class in snake case>[_<n>]``, a layer's
sub-layers under the attribute that holds them (``lstm/cell``, ``bidirectional/forward_layer``)
and the optimizer under ``optimizer``. :func:`layout` computes that structure for a kbridge
model; writing and reading both go through it, so the two directions cannot disagree.
"""

import datetime
import io
import json
import os
import tempfile
import warnings
import zipfile

import numpy as np

from kbridge.hub.errors import ReleaseError
from kbridge.utils.optional import require

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
# The Keras version whose format this writes (read back by Keras 3.x).
KERAS_FORMAT_VERSION = "3.15.1"

# kbridge's attention layers keep their projection sub-layers in a dict; Keras saves them
# under these attributes (dict key -> Keras attribute).
_PROJECTION_ATTRIBUTES = {
    "MultiHeadAttention": {"query": "query_dense", "key": "key_dense", "value": "value_dense",
                           "attention_output": "output_dense", "gate": "_gate_dense"},
    "GroupedQueryAttention": {"query": "_query_dense", "key": "_key_dense",
                              "value": "_value_dense", "attention_output": "_output_dense",
                              "gate": "_gate_dense"},
}
# Attributes of kbridge layers that Keras does not save (framework state, not sub-objects).
_SKIPPED_ATTRIBUTES = {"_layers", "_input_layer", "_loss_tracker", "_compile_loss",
                       "_compile_metrics"}


def _name_key(name):
    # Keras visits public attributes first, then private ones, each alphabetically.
    return f"~{name}" if name.startswith("_") else name


def _snake(name):
    from kbridge.backend.common.naming import to_snake_case

    return to_snake_case(name)


def _join(path, name):
    return f"{path}/{name}" if path else name


def _is_layer(obj):
    from kbridge.layers.layer import Layer

    return isinstance(obj, Layer)


def _is_optimizer(obj):
    from kbridge.optimizers.base_optimizer import Optimizer

    return isinstance(obj, Optimizer)


def _keras_order(variables):
    # Keras saves a layer's trainable variables first, then the non-trainable ones.
    return ([v for v in variables if v.trainable] + [v for v in variables if not v.trainable])


def _own_groups(layer, path):
    """``[(path, name, variables)]`` for ``layer``'s own variables."""
    return [(path, layer.name, _keras_order(list(layer._variables)))]


def _projection_attributes(obj):
    for cls in type(obj).__mro__:
        if cls.__name__ in _PROJECTION_ATTRIBUTES:
            return _PROJECTION_ATTRIBUTES[cls.__name__]
    return None


def _children(obj):
    """``(attribute, child)`` pairs Keras would visit under ``obj``."""
    from kbridge.models.functional import Functional
    from kbridge.models.sequential import Sequential

    if isinstance(obj, (Functional, Sequential)):
        from kbridge.layers.input_layer import InputLayer

        layers = obj.layers
        if isinstance(obj, Sequential):  # Keras's Sequential.layers leaves out the input
            layers = [la for la in layers if not isinstance(la, InputLayer)]
        yield "layers", layers
    if not _is_layer(obj):
        return
    attributes = dict(vars(obj))
    renamed = _projection_attributes(obj)
    if renamed and isinstance(attributes.get("_projections"), dict):
        for key, sublayer in attributes.pop("_projections").items():
            attributes[renamed[key]] = sublayer
    from kbridge.models.model import Model

    if isinstance(obj, Model) and not isinstance(obj, (Functional, Sequential)):
        # Keras's Model has a public ``layers`` property, visited in name order: sub-layers
        # no attribute before "layers" holds are saved as layers/<class>[_<n>].
        attributes["layers"] = obj.layers
    for attr in sorted(attributes, key=_name_key):
        if attr in _SKIPPED_ATTRIBUTES or attr.startswith("__"):
            continue
        value = attributes[attr]
        if _is_layer(value) or _is_optimizer(value) or (
                isinstance(value, (list, tuple, dict)) and _holds_saveable(value)):
            yield attr, value


def _holds_saveable(container):
    items = container.values() if isinstance(container, dict) else container
    for item in items:
        if _is_layer(item) or _is_optimizer(item):
            return True
        if isinstance(item, (list, tuple, dict)) and _holds_saveable(item):
            return True
    return False


def _walk(obj, path, out, visited):
    if id(obj) in visited:
        return
    visited.add(id(obj))
    if _is_optimizer(obj):
        out.append((path, obj.name, list(obj.variables) if obj.built else []))
        return
    out.extend(_own_groups(obj, path))
    for attr, child in _children(obj):
        if isinstance(child, (list, tuple, dict)):
            _walk_container(child, _join(path, attr), out, visited, set())
        else:
            _walk(child, _join(path, attr), out, visited)


def _walk_container(container, path, out, visited, seen_containers):
    if id(container) in seen_containers:
        return
    seen_containers.add(id(container))
    used = {}

    def unique(name):
        if name in used:
            used[name] += 1
            return f"{name}_{used[name]}"
        used[name] = 0
        return name

    for item in (container.values() if isinstance(container, dict) else container):
        if _is_layer(item) or _is_optimizer(item):
            _walk(item, _join(path, unique(_snake(type(item).__name__))), out, visited)
        elif isinstance(item, (list, tuple, dict)):
            _walk_container(item, _join(path, unique("container")), out, visited,
                            seen_containers)


def layout(model, include_optimizer=True):
    """Keras's weight layout of ``model``: ``[(group path, object name, [Variable])]``.

    Example:
        >>> [p for p, _, vs in layout(model) if vs]
        ['layers/dense', 'layers/dense_1']
    """
    out, visited = [], set()
    optimizer = getattr(model, "optimizer", None)
    if not include_optimizer and optimizer is not None:
        visited.add(id(optimizer))
    _walk(model, "", out, visited)
    return out


# --- writing ------------------------------------------------------------------------------
def _h5py():
    return require("h5py", "Keras weight files need h5py: pip install 'kbridge[hub]'",
                   ReleaseError)


def _as_numpy(variable):
    # np.array, not np.ascontiguousarray: the latter turns a scalar into shape (1,).
    return np.array(variable.numpy(), order="C", copy=True)


def write_weights(model, file_like, include_optimizer=True):
    """Write ``model``'s weights in Keras's ``.weights.h5`` layout to a path or file object."""
    h5py = _h5py()
    with h5py.File(file_like, "w") as h5:
        for path, name, variables in layout(model, include_optimizer):
            group = h5.require_group(_join(path, "vars"))
            if name is not None:
                group.attrs["name"] = name
            for i, v in enumerate(variables):
                value = _as_numpy(v)
                if str(value.dtype) == "bfloat16":  # as Keras: the array, tagged
                    dataset = group.create_dataset(str(i), data=value)
                    dataset.attrs["dtype"] = "bfloat16"
                else:
                    group[str(i)] = value


def _atomic_write(path, write):
    """Call ``write(tmp_path)``, then move the finished file to ``path`` in one rename."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def save_weights_file(model, path):
    """``model.save_weights("w.weights.h5")``: Keras's layout, written atomically."""
    return _atomic_write(path, lambda tmp: write_weights(model, tmp, include_optimizer=True))


def _compile_config(model):
    from kbridge.saving import registry

    from kbridge.trainers.trainer import Trainer

    getter = getattr(model, "get_compile_config", None)
    # A model class's own override; Trainer's is kbridge's form, the fields below Keras's.
    if callable(getter) and getattr(type(model), "get_compile_config", None) is not \
            Trainer.get_compile_config:
        config = getter()
        if config is not None:
            return registry.serialize_keras_format(config)
    if not getattr(model, "compiled", False):
        return None
    compile_loss = getattr(model, "_compile_loss", None)
    weights = None
    if compile_loss is not None and any(w != 1.0 for w in compile_loss.loss_weights):
        weights = list(compile_loss.loss_weights)
    return {
        "optimizer": registry.serialize_keras_format(model.optimizer),
        "loss": registry.serialize_keras_format(getattr(model, "loss", None)),
        "loss_weights": weights,
        "metrics": _metrics_config(model, weighted=False),
        "weighted_metrics": _metrics_config(model, weighted=True),
        "run_eagerly": bool(getattr(model, "run_eagerly", False)),
        "steps_per_execution": int(getattr(model, "steps_per_execution", 1)),
        "jit_compile": bool(getattr(model, "jit_compile", False)),
    }


def _metrics_config(model, weighted):
    """The compiled metrics as written to ``compile()`` (names for wrapped functions)."""
    from kbridge.saving import registry

    compiled = getattr(model, "_compile_metrics", None)
    if compiled is None:
        return None
    names = list(compiled.output_names)
    per_output = [[] for _ in names]
    for index, metric, is_weighted in compiled.metrics:
        if is_weighted != weighted:
            continue
        name = metric.name
        prefix = f"{names[index]}_"
        if len(names) > 1 and name.startswith(prefix):
            name = name[len(prefix):]
        if type(metric).__name__ == "MeanMetricWrapper" or _named_metric(name, metric):
            per_output[index].append(name)  # compiled from a string ("mae", "accuracy")
        else:
            per_output[index].append(registry.serialize_keras_format(metric))
    if not any(per_output):
        return None
    if len(names) == 1:
        return per_output[0]
    return {n: m for n, m in zip(names, per_output) if m}


def _named_metric(name, metric):
    """Whether ``metric`` is what the string ``name`` compiles to."""
    from kbridge import metrics

    try:
        made = metrics.get(name)
    except Exception:  # not a metric name
        return False
    return type(made) is type(metric)


def model_config(model, include_optimizer=True):
    """The ``config.json`` dict Keras 3 writes for ``model``."""
    from kbridge.saving import registry

    config = registry.serialize_keras_format(model)
    build = model.get_build_config() if getattr(model, "built", False) else None
    config["build_config"] = registry._jsonable(build) if build else {"input_shape": None}
    if include_optimizer:
        compile_config = _compile_config(model)
        if compile_config is not None:
            config["compile_config"] = compile_config
    return config


def save_archive(model, path, include_optimizer=True):
    """``model.save("m.keras")``: a zip Keras 3's ``load_model`` reads."""
    config = json.dumps(model_config(model, include_optimizer))
    metadata = json.dumps({"keras_version": KERAS_FORMAT_VERSION,
                           "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                           "kbridge": True})
    buffer = io.BytesIO()
    write_weights(model, buffer, include_optimizer=include_optimizer)

    def write(target):
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr(METADATA_FILE, metadata)
            archive.writestr(CONFIG_FILE, config)
            archive.writestr(WEIGHTS_FILE, buffer.getvalue())

    if isinstance(path, io.IOBase):  # an open binary file, as Keras accepts
        write(path)
        return None
    return _atomic_write(path, write)


# --- reading ------------------------------------------------------------------------------
def _group(h5, path):
    try:
        node = h5[path] if path else h5
        return node.get("vars") if hasattr(node, "get") else None
    except (KeyError, ValueError):
        return None


def read_dataset(dataset):
    value = dataset[()]
    if dataset.attrs.get("dtype") == "bfloat16":
        import ml_dtypes

        value = np.asarray(value)
        # h5py stores bfloat16 as 2-byte opaque values: reinterpret the bytes.
        value = value.view(ml_dtypes.bfloat16) if value.dtype.kind == "V" \
            else value.astype(ml_dtypes.bfloat16)
    return np.asarray(value)


def plan_assignments(model, h5, where, skip_mismatch=False):
    """``[(Variable, dataset)]`` for ``model``'s layer weights, checked against the file
    (group present, count and shapes); raises :class:`ReleaseError` naming the file."""
    plan = []
    for path, name, variables in layout(model, include_optimizer=False):
        if not variables:
            continue
        try:
            plan.extend(_plan_group(h5, path, name, variables, where))
        except ReleaseError as e:
            if not skip_mismatch:
                raise
            warnings.warn(f"Skipping the weights of layer '{name}': {e}", stacklevel=3)
    return plan


def _plan_group(h5, path, name, variables, where):
    group = _group(h5, path)
    label = f"layer '{name}'" if name else "the model"
    if group is None:
        raise ReleaseError(f"{where}: no weights for {label} (group {_join(path, 'vars')})")
    if len(group) != len(variables):
        raise ReleaseError(f"{where}: {label} has {len(group)} weights in the file and "
                           f"{len(variables)} in the architecture (group {group.name})")
    pairs = []
    for i, v in enumerate(variables):
        dataset = group.get(str(i))
        if dataset is None or tuple(dataset.shape) != tuple(v.shape):
            shape = None if dataset is None else tuple(dataset.shape)
            raise ReleaseError(f"{where}: weight {group.name}/{i} has shape {shape}, "
                               f"'{v.path}' expects {tuple(v.shape)}")
        pairs.append((v, dataset))
    return pairs


def assign(plan):
    for v, dataset in plan:
        value = read_dataset(dataset)
        v.assign(value.astype(np.float32) if str(value.dtype) == "bfloat16"
                 and v.dtype != "bfloat16" else value.astype(v.dtype, copy=False)
                 if v.dtype != "bfloat16" else value)


def load_optimizer_state(model, h5, where):
    """Restore the optimizer's variables (built first) when the file holds them."""
    optimizer = getattr(model, "optimizer", None)
    group = _group(h5, "optimizer")
    if optimizer is None or group is None or len(group) == 0:
        return
    if not optimizer.built:
        from kbridge.backend.common import context

        with context.use(model.backend_name):
            optimizer.build(model.trainable_variables)
    own = optimizer.variables
    if len(group) != len(own):
        warnings.warn(f"{where}: not loading the state of optimizer '{optimizer.name}': it has "
                      f"{len(own)} variables, the file has {len(group)}.", stacklevel=3)
        return
    for i, v in enumerate(own):
        v.assign(read_dataset(group[str(i)]).astype(v.dtype))
