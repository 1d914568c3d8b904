"""What every application constructor shares: argument checks, the input, the top, weights.

Architecture facts (block layouts, layer names, file names) follow Keras 3.15's
``keras.applications`` so that Keras's weight files load into these models.
"""

import os
import warnings

from kbridge.applications import imagenet_utils
from kbridge.errors import ArgumentError, KbridgeError

_WEIGHTS_HELP = (
    "`weights` must be None (random initialization), 'imagenet' (pre-training on ImageNet), "
    "or the path to a weights file (.h5 or .weights.h5) to load. Received: weights={!r}"
)
_MISSING_IMAGENET = (
    "weights='imagenet' needs the file {name!r}, which Keras downloads from {url}. kbridge does "
    "not download it: fetch it yourself and put it at {path} (or pass weights=<path to it>)."
)


def keras_cache_dir():
    """Keras's cache of downloaded models: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def cached_file(name, url):
    """The path of ``name`` in Keras's cache; a clear error naming the file and URL if absent."""
    path = os.path.join(keras_cache_dir(), name)
    if os.path.isfile(path):
        return path
    if os.path.isfile(os.path.join("/tmp/.keras/models", name)):  # Keras's fallback home
        return os.path.join("/tmp/.keras/models", name)
    raise KbridgeError(_MISSING_IMAGENET.format(name=name, url=url, path=path))


def check_weights(weights, include_top, classes):
    """Keras's checks of ``weights`` / ``classes`` before anything is built."""
    ok = weights is None or weights == "imagenet"
    if not ok and isinstance(weights, (str, os.PathLike)):
        ok = os.path.isfile(os.fspath(weights))
    if not ok:
        raise ArgumentError(_WEIGHTS_HELP.format(weights))
    if weights == "imagenet" and include_top and classes != 1000:
        raise ArgumentError("With weights='imagenet' and include_top=True, `classes` must be "
                            f"1000. Received: classes={classes}")


def channels_last():
    from kbridge import backend

    return backend.image_data_format() == "channels_last"


def channel_axis():
    return -1 if channels_last() else 1


def spatial_size(shape):
    """``(rows, cols)`` of an image ``shape`` (without the batch axis)."""
    return (shape[0], shape[1]) if channels_last() else tuple(shape[1:3])


def square_size(shape, sizes):
    """The side of a square image ``shape`` if it is one of ``sizes``, else None."""
    if shape is None:
        return None
    rows, cols = spatial_size(shape)
    return rows if rows == cols and rows in sizes else None


def imagenet_rows(input_shape, sizes):
    """The input size of the ImageNet weights to load: ``square_size``, else 224 (warned)."""
    rows = square_size(input_shape, sizes)
    if rows is None:
        warnings.warn(f"`input_shape` is undefined, non-square or not in {list(sizes)}: loading "
                      "the weights for 224x224.", stacklevel=3)
        return 224
    return rows


def obtain_input_shape(input_shape, default_size, min_size, require_flatten, weights=None,
                       data_format=None):
    """The model's input shape: ``input_shape`` validated, or the default (Keras's rules)."""
    if data_format is None:
        from kbridge import backend

        data_format = backend.image_data_format()
    first = data_format == "channels_first"
    if input_shape is not None:
        input_shape = tuple(input_shape)
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if first else input_shape[-1]
        if channels not in {1, 3}:
            warnings.warn("This model usually expects 1 or 3 input channels. Received: "
                          f"input_shape={input_shape}", stacklevel=3)
        default_shape = ((channels, default_size, default_size) if first
                         else (default_size, default_size, channels))
    else:
        default_shape = (3, default_size, default_size) if first else (default_size,
                                                                       default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ArgumentError("With include_top=True and weights='imagenet', `input_shape` "
                                f"must be {default_shape}. Received: input_shape={input_shape}")
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ArgumentError("`input_shape` must be a tuple of three integers. Received: "
                                f"input_shape={input_shape}")
        channels = input_shape[0] if first else input_shape[-1]
        if channels != 3 and weights == "imagenet":
            raise ArgumentError("With weights='imagenet' the input must have 3 channels. "
                                f"Received: input_shape={input_shape}")
        spatial = input_shape[1:] if first else input_shape[:2]
        if any(s is not None and s < min_size for s in spatial):
            raise ArgumentError(f"Input size must be at least {min_size}x{min_size}. "
                                f"Received: input_shape={input_shape}")
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if first else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ArgumentError("With include_top=True the input shape must be static. "
                            f"Received: input_shape={input_shape}")
    return input_shape


def image_input(input_tensor, input_shape):
    """The model's input tensor: a new Input, or ``input_tensor`` (wrapped if not symbolic)."""
    from kbridge import backend
    from kbridge.applications._layers import Input

    if input_tensor is None:
        return Input(shape=input_shape)
    if not backend.is_keras_tensor(input_tensor):
        return Input(tensor=input_tensor, shape=input_shape)
    return input_tensor


def model_input(weights, include_top, classes, input_tensor, input_shape, default_size,
                min_size):
    """Keras's checks of the arguments, then the model's input tensor (see ``image_input``)."""
    check_weights(weights, include_top, classes)
    input_shape = obtain_input_shape(input_shape, default_size, min_size, include_top, weights)
    return image_input(input_tensor, input_shape)


def source_inputs(tensor):
    """The Input tensors a symbolic ``tensor`` was computed from (in first-visit order)."""
    from kbridge.layers.input_layer import InputLayer

    found, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        history = getattr(t, "_keras_history", None)
        if history is None:
            continue
        layer, node_index, _ = history
        node = layer._inbound_nodes[node_index]
        if isinstance(layer, InputLayer):
            if id(t) not in seen:
                seen.add(id(t))
                found.append(t)
            continue
        stack.extend(reversed(node.input_tensors))
    return found[0] if len(found) == 1 else found


def correct_pad(inputs, kernel_size):
    """Zero padding that makes a stride-2 'valid' conv match TF's 'same' (Keras's helper)."""
    size = inputs.shape[1:3] if channels_last() else inputs.shape[2:4]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    half = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((half[0] - adjust[0], half[0]), (half[1] - adjust[1], half[1]))


def validate_activation(classifier_activation, weights):
    """Pretrained tops accept only softmax or no activation (as Keras)."""
    if weights is None:
        return
    from kbridge import activations

    act = activations.get(classifier_activation)
    if act not in (activations.get("softmax"), activations.get(None)):
        raise ArgumentError("With pretrained weights and include_top=True, "
                            "`classifier_activation` must be None or 'softmax'. Received: "
                            f"classifier_activation={classifier_activation!r}")


def pool(x, pooling, avg_name="global_average_pooling2d", max_name="global_max_pooling2d"):
    """Global pooling for ``include_top=False`` (``pooling`` None, 'avg' or 'max'); the layer
    names default to the ones Keras's layers give themselves."""
    from kbridge.applications import _layers as layers

    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def dense_top(x, classes, classifier_activation, weights, pool_name="avg_pool"):
    """Global average pooling + the ``predictions`` Dense layer."""
    from kbridge.applications import _layers as layers

    x = layers.GlobalAveragePooling2D(name=pool_name)(x)
    validate_activation(classifier_activation, weights)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def top(x, include_top, pooling, classes, classifier_activation, weights, *pool_names):
    """``dense_top`` when ``include_top``, else ``pool(x, pooling, *pool_names)``."""
    if include_top:
        return dense_top(x, classes, classifier_activation, weights)
    return pool(x, pooling, *pool_names)


def weights_file(base_url, stem, include_top):
    """``(file name, URL)`` of Keras's weights ``<stem>.h5``, or ``<stem>_notop.h5``."""
    file_name = f"{stem}{'' if include_top else '_notop'}.h5"
    return file_name, base_url + file_name


def finish(img_input, input_tensor, outputs, name, weights, imagenet=None):
    """The Functional model, with ``weights`` loaded.

    Args:
        imagenet: ``(file name, URL)`` of Keras's ImageNet weights for this configuration,
            looked up in Keras's cache when ``weights="imagenet"``.
    """
    from kbridge.models import Functional

    inputs = source_inputs(input_tensor) if input_tensor is not None else img_input
    model = Functional(inputs, outputs, name=name)
    if weights == "imagenet":
        load_weights(model, cached_file(*imagenet))
    elif weights is not None:
        load_weights(model, os.fspath(weights))
    return model


def load_weights(model, path):
    """Load a Keras weights file: legacy ``.h5`` (topological order) or ``.weights.h5``."""
    from kbridge.saving import legacy_h5

    if legacy_h5.is_legacy_h5(path):
        legacy_h5.load_weights_from_hdf5(model, path)
    elif path.endswith(".h5") or path.endswith(".hdf5"):
        legacy_h5.load_keras3_weights(model, path)
    else:
        model.load_weights(path)


def make_divisible(v, divisor=8, min_value=None):
    """``v`` rounded to a multiple of ``divisor``, never below 90% of ``v``."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def named_constructor(constructor, title, summary):
    """``constructor`` published as ``title``, with ``summary`` and an example as its doc."""
    constructor.__name__ = constructor.__qualname__ = title
    constructor.__doc__ = (
        f"{summary}\n\n    Example:\n        >>> model = {title}(weights=None, "
        "include_top=False, pooling='avg')\n    ")
    return constructor


_PREPROCESSING = {
    None: "The identity: the model rescales and normalises its inputs itself.",
    "caffe": "Caffe-style preprocessing: RGB to BGR, minus the ImageNet channel means, no "
             "scaling.",
    "tf": '"tf"-style preprocessing: pixels scaled to [-1, 1].',
    "torch": '"torch"-style preprocessing: scale to [0, 1], then normalise each channel.',
}


def preprocess_input_for(mode):
    """A model module's ``preprocess_input``: ``imagenet_utils.preprocess_input`` in ``mode``,
    or the identity when ``mode`` is None (models that include their preprocessing)."""
    if mode is None:
        def preprocess_input(x, data_format=None):
            return x
    else:
        def preprocess_input(x, data_format=None):
            return imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)

    preprocess_input.__doc__ = _PREPROCESSING[mode]
    return preprocess_input
