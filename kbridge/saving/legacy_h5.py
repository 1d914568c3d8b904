"""Keras's legacy HDF5 weights format (what ``model.save_weights("x.h5")`` wrote in Keras 2).

Layout: the root group (or ``model_weights`` in a full-model ``.h5``) has the attribute
``layer_names`` (every layer, in the model's layer order); each layer has a group of that name
with the attribute ``weight_names`` and one dataset per weight (trainable weights first, then
non-trainable). Attributes above HDF5's 64 KB header limit are split into ``layer_names0``,
``layer_names1``... The published ImageNet weights of ``keras.applications`` use it.

Loading matches layers by position (the order of the model's layers that have weights, as
Keras orders a Functional graph) or, with ``by_name=True``, by layer name. Files come from
elsewhere, so links out of the file (soft / external links, external or virtual datasets) are
refused before anything is read.

Example:
    >>> save_weights_to_hdf5(model, "w.h5")
    >>> load_weights_from_hdf5(other_model, "w.h5")
"""

import os
import warnings

import numpy as np

from kbridge.hub.errors import ReleaseError
from kbridge.utils.optional import require

# HDF5 refuses object headers above 64 KB; Keras splits longer attributes into chunks.
_HEADER_LIMIT = 64512


def _h5py():
    return require("h5py", "Reading .h5 weights needs h5py: pip install h5py", ReleaseError)


def _open(path, where):
    h5py = _h5py()
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ReleaseError(f"{where}: not a readable HDF5 file ({e})") from None


def check_self_contained(h5, where):
    """Refuse soft/external links and external or virtual datasets anywhere in ``h5``."""
    h5py = _h5py()

    def walk(group):
        for key in group.keys():
            link = group.get(key, getlink=True)
            if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                kind = "a soft" if isinstance(link, h5py.SoftLink) else "an external"
                raise ReleaseError(f"{where}: {group.name.rstrip('/')}/{key} is {kind} link; "
                                   "weights files with links are refused (untrusted file)")
            item = group[key]
            if isinstance(item, h5py.Group):
                walk(item)
            elif isinstance(item, h5py.Dataset):
                if item.external or item.is_virtual:
                    raise ReleaseError(f"{where}: dataset {item.name} keeps its data outside "
                                       "the file; refused (untrusted file)")

    walk(h5)


def _decode(values):
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def read_attribute(group, name):
    """A list-valued attribute, joined from Keras's chunks (``name0``, ``name1``...) if split."""
    if name in group.attrs:
        return _decode(group.attrs[name])
    values, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        values.extend(_decode(group.attrs[f"{name}{chunk}"]))
        chunk += 1
    return values


def write_attribute(group, name, values):
    """Write a list of strings, split into chunks when it exceeds HDF5's header limit."""
    data = np.asarray([v.encode("utf8") for v in values])
    if data.nbytes <= _HEADER_LIMIT:
        group.attrs[name] = data
        return
    chunks = int(np.ceil(data.nbytes / _HEADER_LIMIT))
    while any(c.nbytes > _HEADER_LIMIT for c in np.array_split(data, chunks)):
        chunks += 1
    for i, chunk in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{i}"] = chunk


def _legacy_weights(layer):
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _producer_node(tensor):
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    layer, node_index, _ = history
    return layer._inbound_nodes[node_index]


def keras_layer_order(model):
    """``model.layers`` in the order Keras gives a Functional graph (by depth, then first visit).

    Keras's legacy files pair layers by this position; other models keep ``model.layers``.
    """
    from kbridge.layers.input_layer import InputLayer
    from kbridge.layers.operation import OperationLayer

    outputs = getattr(model, "outputs", None)
    inputs = getattr(model, "inputs", None)
    if not outputs or not hasattr(model, "_graph_nodes"):
        return list(model.layers)
    input_ids = {id(t) for t in inputs}
    finished, in_progress, decreasing, op_index = set(), set(), [], {}

    def visit(tensor):
        node = _producer_node(tensor)
        if node is None or id(node) in finished:
            return
        is_input = isinstance(node.layer, InputLayer)
        if not is_input and id(tensor) in input_ids:
            finished.add(id(node))
            return
        op_index.setdefault(id(node.layer), (len(op_index), node.layer))
        in_progress.add(id(node))
        if not is_input:
            for t in node.input_tensors:
                visit(t)
        finished.add(id(node))
        in_progress.discard(id(node))
        decreasing.append(node)

    for t in outputs:
        visit(t)
    in_graph = {id(n) for n in decreasing}
    node_depth, layer_depth = {}, {}
    for node in reversed(decreasing):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for t in node.input_tensors:
            parent = _producer_node(t)
            if parent is not None and id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in inputs:
        node = _producer_node(t)
        if node is not None and id(node.layer) not in layer_depth:
            layer_depth[id(node.layer)] = 0
            op_index[id(node.layer)] = (-1, node.layer)
    ordered = sorted(layer_depth, key=lambda k: (-layer_depth[k], op_index[k][0]))
    layers = [op_index[k][1] for k in ordered]
    if {id(layer) for layer in layers} != {id(layer) for layer in model.layers}:
        return list(model.layers)  # a graph this walk does not cover: keep kbridge's order
    # Ops on symbolic tensors (``x + 3.0``) are graph nodes but not layers in Keras.
    return [layer for layer in layers if not isinstance(layer, OperationLayer)]


def _weights_group(h5):
    if "layer_names" not in h5.attrs and "layer_names0" not in h5.attrs \
            and "model_weights" in h5:
        return h5["model_weights"]
    return h5


def is_legacy_h5(path):
    """Whether ``path`` is an HDF5 file in the legacy layout (has ``layer_names``)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    h5py = _h5py()
    if not h5py.is_hdf5(path):
        return False
    with _open(path, os.path.basename(path)) as h5:
        group = _weights_group(h5)
        return "layer_names" in group.attrs or "layer_names0" in group.attrs


def _pair(ours, values, where, name):
    """``[(variable, value)]`` once ``values`` (layer ``name``'s in the file) match the
    variables ``ours`` in number and shapes."""
    if len(values) != len(ours):
        raise ReleaseError(f"{where}: layer '{name}' has {len(values)} weights in the file and "
                           f"{len(ours)} in the model")
    for i, (v, value) in enumerate(zip(ours, values)):
        if tuple(value.shape) != tuple(v.shape):
            raise ReleaseError(f"{where}: weight {i} of layer '{name}' has shape "
                               f"{tuple(value.shape)} in the file; '{v.path}' expects "
                               f"{tuple(v.shape)}")
    return list(zip(ours, values))


def _read_layer(group, name, where):
    if name not in group:
        raise ReleaseError(f"{where}: layer_names lists '{name}' but the file has no such group")
    g = group[name]
    values = []
    for weight_name in read_attribute(g, "weight_names"):
        if weight_name not in g:
            raise ReleaseError(f"{where}: layer '{name}' lists weight '{weight_name}', which "
                               "the file does not hold")
        values.append(np.asarray(g[weight_name][()]))
    return values


def load_weights_from_hdf5(model, path, by_name=False, skip_mismatch=False):
    """Load a legacy ``.h5`` weights file (Keras 2 / Keras 3 ``legacy_h5_format``) into ``model``.

    Args:
        model: a built kbridge model.
        path: the ``.h5`` file (weights only, or a full model with a ``model_weights`` group).
        by_name: match layers by name instead of by position; layers absent from the file
            keep their weights.
        skip_mismatch: with ``by_name``, skip layers whose weight count or shapes differ
            (with a warning) instead of raising.

    Example:
        >>> model = kbridge.applications.ResNet50(weights=None)
        >>> load_weights_from_hdf5(model, "resnet50_weights_tf_dim_ordering_tf_kernels.h5")
    """
    path = os.fspath(path)
    where = os.path.basename(path)
    if skip_mismatch and not by_name:
        raise ReleaseError("skip_mismatch=True needs by_name=True (as Keras)")
    with _open(path, where) as h5:
        check_self_contained(h5, where)
        group = _weights_group(h5)
        names = read_attribute(group, "layer_names")
        if not names:
            raise ReleaseError(f"{where}: no 'layer_names' attribute; not a legacy Keras .h5 "
                               "weights file")
        plan = []
        if by_name:
            index = {}
            for layer in model.layers:
                index.setdefault(layer.name, []).append(layer)
            for name in names:
                values = _read_layer(group, name, where)
                for layer in index.get(name, []):
                    try:
                        plan.extend(_pair(_legacy_weights(layer), values, where, name))
                    except ReleaseError as e:
                        if not skip_mismatch:
                            raise
                        warnings.warn(f"Skipping layer '{name}': {e}", stacklevel=2)
        else:
            filled = [n for n in names if read_attribute(_group(group, n, where),
                                                         "weight_names")]
            layers = [layer for layer in keras_layer_order(model) if _legacy_weights(layer)]
            if len(filled) != len(layers):
                raise ReleaseError(f"{where}: the file has weights for {len(filled)} layers, "
                                   f"the model has {len(layers)} layers with weights")
            for name, layer in zip(filled, layers):
                values = _read_layer(group, name, where)
                plan.extend(_pair(_legacy_weights(layer), values, where, name))
    for v, value in plan:
        v.assign(value.astype(np.float32 if v.dtype == "bfloat16" else v.dtype))


def _group(group, name, where):
    if name not in group:
        raise ReleaseError(f"{where}: layer_names lists '{name}' but the file has no such group")
    return group[name]


def save_weights_to_hdf5(model, path):
    """Write ``model``'s weights in the legacy ``.h5`` layout Keras reads with ``load_weights``.

    Example:
        >>> save_weights_to_hdf5(model, "model.h5")
        >>> keras_model.load_weights("model.h5")   # same architecture in Keras
    """
    from kbridge import ops
    from kbridge.version import __version__

    h5py = _h5py()
    layers = keras_layer_order(model)
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        raise ReleaseError("The legacy .h5 format keys layers by name, and the model has "
                           "duplicate layer names")
    path = os.fspath(path)
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as h5:
        write_attribute(h5, "layer_names", names)
        h5.attrs["backend"] = b"kbridge"
        h5.attrs["keras_version"] = f"kbridge-{__version__}".encode("utf8")
        for layer in sorted(layers, key=lambda layer: layer.name):
            g = h5.create_group(layer.name)
            weights = _legacy_weights(layer)
            write_attribute(g, "weight_names", [w.path for w in weights])
            for w in weights:
                value = np.ascontiguousarray(ops.convert_to_numpy(w.value))
                g.create_dataset(w.path, data=value)
    os.replace(tmp, path)


def _keras3_plan(model, group, where):
    """``[(variable, dataset)]`` pairing ``model``'s layers with a Keras 3 ``layers`` group.

    Keras keys each layer by its class in snake case, numbered in the model's layer order
    (``conv2d``, ``conv2d_1``...), so the order must be Keras's; nested models recurse.
    """
    from kbridge.backend.common.naming import to_snake_case
    from kbridge.layers.input_layer import InputLayer
    from kbridge.saving import keras_import

    counts, plan = {}, []
    for layer in keras_layer_order(model):
        if isinstance(layer, InputLayer) and not hasattr(model, "_graph_nodes"):
            continue  # Keras's Sequential.layers leaves out the input
        base = to_snake_case(type(layer).__name__)
        n = counts.get(base, 0)
        counts[base] = n + 1
        key = base if n == 0 else f"{base}_{n}"
        ours = layer.weights
        if not ours:
            continue
        if key not in group:
            raise ReleaseError(f"{where}: no weights for layer '{layer.name}' (group "
                               f"{group.name}/{key})")
        if hasattr(layer, "layers") and "layers" in group[key]:
            plan.extend(_keras3_plan(layer, group[key]["layers"], where))
            continue
        plan.extend(_pair(ours, keras_import._ordered_leaves(group[key]), where, layer.name))
    return plan


def load_keras3_weights(model, path):
    """Load a Keras 3 ``.weights.h5`` file into ``model``, pairing layers in Keras's order.

    Example:
        >>> load_keras3_weights(model, "resnet50.weights.h5")   # from keras_model.save_weights
    """
    path = os.fspath(path)
    where = os.path.basename(path)
    with _open(path, where) as h5:
        check_self_contained(h5, where)
        if "layers" not in h5:
            raise ReleaseError(f"{where}: no 'layers' group; not a Keras 3 weights file")
        plan = [(v, np.asarray(d[()])) for v, d in _keras3_plan(model, h5["layers"], where)]
    for v, value in plan:
        v.assign(value.astype(np.float32 if v.dtype == "bfloat16" else v.dtype))
