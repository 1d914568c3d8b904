"""``kbridge.utils`` model helpers: data packing, graph inputs, ``Config``, model plots.

Example:
    >>> x, y, w = kbridge.utils.unpack_x_y_sample_weight((np.ones(2), np.zeros(2)))
    >>> w is None
    True
"""

import copy
import json
import os

from kbridge.backend import clear_session, is_keras_tensor, standardize_dtype
from kbridge.errors import ArgumentError, KbridgeError
from kbridge.utils.optional import require

__all__ = [
    "Config", "clear_session", "get_source_inputs", "is_keras_tensor", "model_to_dot",
    "pack_x_y_sample_weight", "plot_model", "standardize_dtype", "unpack_x_y_sample_weight",
]


# --- data tuples --------------------------------------------------------------------------
def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The tuple a data pipeline yields: ``x`` alone, ``(x, y)`` or ``(x, y, sample_weight)``.

    A lone ``x`` that is a list or tuple is wrapped as ``(x,)`` so it is not read as ``(x, y)``.

    Example:
        >>> kbridge.utils.pack_x_y_sample_weight(1, 2)
        (1, 2)
    """
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, w)``;
    missing parts are None.

    Example:
        >>> kbridge.utils.unpack_x_y_sample_weight([1, 2])
        (1, 2, None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) == 1:
        return (data[0], None, None)
    if len(data) == 2:
        return (data[0], data[1], None)
    if len(data) == 3:
        return data
    raise ArgumentError("Data must be x, (x,), (x, y) or (x, y, sample_weight). "
                        f"Received a tuple of {len(data)} items: {data!r}")


# --- graph --------------------------------------------------------------------------------
def get_source_inputs(tensor):
    """The input KerasTensors (from ``kbridge.Input``) that ``tensor`` is computed from.

    Example:
        >>> a, b = kbridge.Input((2,)), kbridge.Input((2,))
        >>> kbridge.utils.get_source_inputs(kbridge.layers.Add()([a, b])) == [a, b]
    """
    from kbridge.layers.input_layer import InputLayer

    if getattr(tensor, "_keras_history", None) is None:
        return tensor
    layer, node_index, _ = tensor._keras_history
    if not layer._inbound_nodes:
        return [tensor]
    node = layer._inbound_nodes[node_index]
    if isinstance(layer, InputLayer) or not node.input_tensors:
        return list(node.output_tensors)
    sources = []
    for t in node.input_tensors:
        for s in get_source_inputs(t):
            if all(s is not seen for seen in sources):
                sources.append(s)
    return sources


# --- Config -------------------------------------------------------------------------------
class Config:
    """A dict with attribute access that can be frozen (Keras's ``keras.utils.Config``).

    Example:
        >>> config = kbridge.utils.Config(lr=0.1)
        >>> config.epochs = 3
        >>> config.freeze()
        >>> config.epochs = 4        # raises: frozen
    """

    _OWN = ("_config", "_frozen")

    def __init__(self, **kwargs):
        object.__setattr__(self, "_config", dict(kwargs))
        object.__setattr__(self, "_frozen", False)

    @property
    def frozen(self):
        """Whether the config refuses changes."""
        return self._frozen

    def freeze(self):
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self):
        object.__setattr__(self, "_frozen", False)

    def _raise_if_frozen(self):
        if self._frozen:
            raise KbridgeError("This Config is frozen; call unfreeze() before changing it.")

    def as_dict(self):
        return copy.copy(self._config)

    def to_json(self):
        return json.dumps(self._config)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def get(self, keyname, value=None):
        return self._config.get(keyname, value)

    def pop(self, *args):
        self._raise_if_frozen()
        return self._config.pop(*args)

    def update(self, *args, **kwargs):
        self._raise_if_frozen()
        return self._config.update(*args, **kwargs)

    def __setattr__(self, name, value):
        if name in type(self).__dict__ or name in Config.__dict__:
            raise AttributeError(f"Config attribute {name!r} is a method and cannot be set.")
        self._raise_if_frozen()
        self._config[name] = value

    def __getattr__(self, name):
        config = object.__getattribute__(self, "_config")
        if name in config:
            return config[name]
        raise AttributeError(f"Unknown Config attribute {name!r}. Keys: {sorted(config)}")

    def __delattr__(self, name):
        self._raise_if_frozen()
        del self._config[name]

    def __setitem__(self, key, item):
        self._raise_if_frozen()
        self._config[key] = item

    def __getitem__(self, key):
        return self._config[key]

    def __delitem__(self, key):
        self._raise_if_frozen()
        del self._config[key]

    def __contains__(self, item):
        return item in self._config

    def __iter__(self):
        return iter(self._config)

    def __len__(self):
        return len(self._config)

    def __repr__(self):
        return f"<Config {self._config}>"


# --- plots --------------------------------------------------------------------------------
_PYDOT_MISSING = "You must install pydot (`pip install pydot`) for `plot_model` to work."
_GRAPHVIZ_MISSING = ("You must install graphviz (see instructions at "
                     "https://graphviz.gitlab.io/download/) for `plot_model` to work: its `dot` "
                     "program was not found.")


def _pydot():
    return require("pydot", _PYDOT_MISSING)


def _graph_edges(model):
    """``(layers, [(src, dst), ...], {id(layer): (input shapes, output shapes)})`` for a
    Functional or Sequential model."""
    nodes = getattr(model, "_graph_nodes", None)
    layers, edges, shapes = [], [], {}
    if nodes is not None:
        for node in nodes:
            if node.layer not in layers:
                layers.append(node.layer)
                shapes[id(node.layer)] = ([t.shape for t in node.input_tensors],
                                          [t.shape for t in node.output_tensors])
            for t in node.input_tensors:
                src = t._keras_history[0]
                if (src, node.layer) not in edges:
                    edges.append((src, node.layer))
        return layers, edges, shapes
    layers = list(model.layers)
    shape = getattr(model, "input_shape", None) if model.built else None
    for layer in layers:   # a Sequential: a chain; shapes follow from the input shape
        out = None
        if shape is not None:
            try:
                out = layer.compute_output_shape(shape)
            except Exception:  # noqa: BLE001 - shapes are a display nicety
                out = None
        shapes[id(layer)] = ([shape] if shape is not None else [], [out] if out else [])
        shape = out
    return layers, list(zip(layers, layers[1:])), shapes


def _shape_text(shapes):
    if not shapes:
        return "?"
    return ", ".join(str(tuple(s)) for s in shapes)


def _label(layer, shapes, show_shapes, show_dtype, show_layer_names, show_layer_activations,
           show_trainable):
    title = f"{layer.name} ({type(layer).__name__})" if show_layer_names \
        else type(layer).__name__
    lines = [title]
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        activation = layer.activation
        lines.append(f"activation: {getattr(activation, '__name__', activation)}")
    if show_dtype:
        lines.append(f"dtype: {getattr(layer, 'dtype', None)}")
    if show_shapes:
        inputs, outputs = shapes.get(id(layer), ([], []))
        lines.append(f"Input shape: {_shape_text(inputs)}")
        lines.append(f"Output shape: {_shape_text(outputs)}")
    if show_trainable:
        lines.append(f"trainable: {layer.trainable}")
    return "\n".join(lines)


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False,
                 show_trainable=False, splines="ortho", **kwargs):
    """A ``pydot.Dot`` graph of ``model``'s layers (a ``pydot.Cluster`` with ``subgraph``).

    ``expand_nested`` draws the layers of nested models inside a cluster.

    Example:
        >>> dot = kbridge.utils.model_to_dot(model, show_shapes=True)
        >>> dot.to_string()
    """
    if kwargs:
        raise ArgumentError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    pydot = _pydot()
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name, label=model.name)
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    layers, edges, shapes = _graph_edges(model)
    entry, exit_ = {}, {}   # nested model -> its first / last drawn layer
    for layer in layers:
        nested = expand_nested and hasattr(layer, "layers") and getattr(layer, "layers")
        if nested:
            cluster = model_to_dot(layer, show_shapes, show_dtype, show_layer_names, rankdir,
                                   expand_nested, dpi, True, show_layer_activations,
                                   show_trainable, splines)
            dot.add_subgraph(cluster)
            inner = _graph_edges(layer)[0]
            entry[id(layer)], exit_[id(layer)] = inner[0], inner[-1]
            continue
        label = _label(layer, shapes, show_shapes, show_dtype, show_layer_names,
                       show_layer_activations, show_trainable)
        dot.add_node(pydot.Node(str(id(layer)), label=label))
    for src, dst in edges:
        src = exit_.get(id(src), src)
        dst = entry.get(id(dst), dst)
        dot.add_edge(pydot.Edge(str(id(src)), str(id(dst))))
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, splines="ortho", **kwargs):
    """Draw ``model`` to ``to_file`` (format from the extension: png, svg, pdf, dot ...).

    Needs pydot and Graphviz's ``dot`` program; a missing one is an ``ImportError`` saying how
    to install it. Returns an ``IPython.display.Image`` when IPython is installed (and the file
    is not a pdf), else None.

    Example:
        >>> kbridge.utils.plot_model(model, "model.png", show_shapes=True)
    """
    if not getattr(model, "built", False):
        raise KbridgeError("This model has not yet been built. Build it first by calling "
                           "`build()` or by calling it on a batch of data.")
    pydot = _pydot()
    try:
        pydot.Dot.create(pydot.Dot())
    except (OSError, getattr(pydot, "PydotException", OSError), FileNotFoundError):
        raise ImportError(_GRAPHVIZ_MISSING) from None
    if kwargs.pop("layer_range", None) is not None:
        raise ArgumentError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ArgumentError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, splines=splines)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=extension)
    if extension != "pdf":
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None
