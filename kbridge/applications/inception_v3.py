"""InceptionV3 (Szegedy et al. 2015), Keras's ``keras.applications.inception_v3``.

Example:
    >>> model = InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3))
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils

_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"


def _conv_bn(x, filters, rows, cols, strides=(1, 1), padding="same", name=None):
    """Conv (no bias) + BatchNorm (no scale) + ReLU, as every InceptionV3 convolution."""
    from kbridge.applications import _layers as layers

    x = layers.Conv2D(filters, (rows, cols), strides=strides, padding=padding, use_bias=False,
                      name=None if name is None else f"{name}_conv")(x)
    x = layers.BatchNormalization(axis=_b.channel_axis(), scale=False,
                                  name=None if name is None else f"{name}_bn")(x)
    return layers.Activation("relu", name=name)(x)


def _chain(x, convs):
    """Apply ``_conv_bn`` for each ``(filters, rows, cols[, strides, padding])`` in turn."""
    for spec in convs:
        x = _conv_bn(x, *spec)
    return x


def _mixed(x, branches, pool, name):
    """Concatenate conv ``branches`` and a pooling branch (``("avg", filters)`` or "max")."""
    from kbridge.applications import _layers as layers

    outs = [_chain(x, convs) for convs in branches]
    if pool == "max":
        outs.append(layers.MaxPooling2D((3, 3), strides=(2, 2))(x))
    else:
        pooled = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
        outs.append(_conv_bn(pooled, pool[1], 1, 1))
    return layers.Concatenate(axis=_b.channel_axis(), name=name)(outs)


def _split_3x3(x, filters, name=None):
    from kbridge.applications import _layers as layers

    return layers.Concatenate(axis=_b.channel_axis(), name=name)(
        [_conv_bn(x, filters, 1, 3), _conv_bn(x, filters, 3, 1)])


def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="inception_v3"):
    """InceptionV3 as a Functional model (default input 299x299, at least 75x75).

    Example:
        >>> model = InceptionV3(weights=None, include_top=False, pooling="avg")
    """
    from kbridge.applications import _layers as layers

    img_input = _b.model_input(weights, include_top, classes, input_tensor, input_shape,
                               299, 75)
    axis = _b.channel_axis()
    x = _conv_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = _conv_bn(x, 32, 3, 3, padding="valid")
    x = _conv_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _conv_bn(x, 80, 1, 1, padding="valid")
    x = _conv_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    for i, pool_filters in enumerate((32, 64, 64)):
        x = _mixed(x, [[(64, 1, 1)], [(48, 1, 1), (64, 5, 5)],
                       [(64, 1, 1), (96, 3, 3), (96, 3, 3)]], ("avg", pool_filters), f"mixed{i}")
    x = _mixed(x, [[(384, 3, 3, (2, 2), "valid")],
                   [(64, 1, 1), (96, 3, 3), (96, 3, 3, (2, 2), "valid")]], "max", "mixed3")
    for i, c in enumerate((128, 160, 160, 192)):
        x = _mixed(x, [[(192, 1, 1)], [(c, 1, 1), (c, 1, 7), (192, 7, 1)],
                       [(c, 1, 1), (c, 7, 1), (c, 1, 7), (c, 7, 1), (192, 1, 7)]],
                   ("avg", 192), f"mixed{4 + i}")
    x = _mixed(x, [[(192, 1, 1), (320, 3, 3, (2, 2), "valid")],
                   [(192, 1, 1), (192, 1, 7), (192, 7, 1), (192, 3, 3, (2, 2), "valid")]],
               "max", "mixed8")
    for i in range(2):
        branch1x1 = _conv_bn(x, 320, 1, 1)
        branch3x3 = _split_3x3(_conv_bn(x, 384, 1, 1), 384, f"mixed9_{i}")
        branch3x3dbl = _split_3x3(_chain(x, [(448, 1, 1), (384, 3, 3)]), 384)
        pooled = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
        x = layers.Concatenate(axis=axis, name=f"mixed{9 + i}")(
            [branch1x1, branch3x3, branch3x3dbl, _conv_bn(pooled, 192, 1, 1)])
    x = _b.top(x, include_top, pooling, classes, classifier_activation, weights)
    return _b.finish(img_input, input_tensor, x, name, weights, _b.weights_file(
        _URL, "inception_v3_weights_tf_dim_ordering_tf_kernels", include_top))


preprocess_input = _b.preprocess_input_for("tf")


decode_predictions = _imagenet_utils.decode_predictions
