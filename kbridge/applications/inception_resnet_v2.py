"""InceptionResNetV2 (Szegedy et al. 2016), Keras's ``keras.applications.inception_resnet_v2``.

Example:
    >>> model = InceptionResNetV2(weights=None, include_top=False, input_shape=(75, 75, 3))
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.applications._custom_layers import CustomScaleLayer as _CustomScaleLayer

_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"


def _conv_bn(x, filters, kernel_size, strides=1, padding="same", activation="relu",
             use_bias=False, name=None):
    from kbridge.applications import _layers as layers

    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                      name=name)(x)
    if not use_bias:
        x = layers.BatchNormalization(axis=_b.channel_axis(), scale=False,
                                      name=None if name is None else f"{name}_bn")(x)
    if activation is not None:
        x = layers.Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def _chain(x, convs):
    for spec in convs:
        x = _conv_bn(x, *spec)
    return x


# Branches of the three residual block types: lists of (filters, kernel[, strides, padding]).
_BLOCKS = {
    "block35": [[(32, 1)], [(32, 1), (32, 3)], [(32, 1), (48, 3), (64, 3)]],
    "block17": [[(192, 1)], [(128, 1), (160, [1, 7]), (192, [7, 1])]],
    "block8": [[(192, 1)], [(192, 1), (224, [1, 3]), (256, [3, 1])]],
}


def _residual_block(x, scale, block_type, block_idx, activation="relu"):
    from kbridge.applications import _layers as layers

    axis = _b.channel_axis()
    name = f"{block_type}_{block_idx}"
    branches = [_chain(x, convs) for convs in _BLOCKS[block_type]]
    mixed = layers.Concatenate(axis=axis, name=f"{name}_mixed")(branches)
    up = _conv_bn(mixed, x.shape[axis], 1, activation=None, use_bias=True, name=f"{name}_conv")
    x = _CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_ac")(x)
    return x


def _reduction(x, branches, name):
    from kbridge.applications import _layers as layers

    outs = [_chain(x, convs) for convs in branches]
    outs.append(layers.MaxPooling2D(3, strides=2, padding="valid")(x))
    return layers.Concatenate(axis=_b.channel_axis(), name=name)(outs)


def InceptionResNetV2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                      pooling=None, classes=1000, classifier_activation="softmax",
                      name="inception_resnet_v2"):
    """InceptionResNetV2 as a Functional model (default input 299x299, at least 75x75).

    Example:
        >>> model = InceptionResNetV2(weights=None, include_top=False, pooling="avg")
    """
    from kbridge.applications import _layers as layers

    img_input = _b.model_input(weights, include_top, classes, input_tensor, input_shape,
                               299, 75)
    x = _chain(img_input, [(32, 3, 2, "valid"), (32, 3, 1, "valid"), (64, 3)])
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = _chain(x, [(80, 1, 1, "valid"), (192, 3, 1, "valid")])
    x = layers.MaxPooling2D(3, strides=2)(x)
    branches = [_chain(x, convs) for convs in
                ([(96, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)])]
    pooled = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    branches.append(_conv_bn(pooled, 64, 1))
    x = layers.Concatenate(axis=_b.channel_axis(), name="mixed_5b")(branches)
    for i in range(1, 11):
        x = _residual_block(x, 0.17, "block35", i)
    x = _reduction(x, [[(384, 3, 2, "valid")], [(256, 1), (256, 3), (384, 3, 2, "valid")]],
                   "mixed_6a")
    for i in range(1, 21):
        x = _residual_block(x, 0.1, "block17", i)
    x = _reduction(x, [[(256, 1), (384, 3, 2, "valid")], [(256, 1), (288, 3, 2, "valid")],
                       [(256, 1), (288, 3), (320, 3, 2, "valid")]], "mixed_7a")
    for i in range(1, 10):
        x = _residual_block(x, 0.2, "block8", i)
    x = _residual_block(x, 1.0, "block8", 10, activation=None)
    x = _conv_bn(x, 1536, 1, name="conv_7b")
    x = _b.top(x, include_top, pooling, classes, classifier_activation, weights)
    return _b.finish(img_input, input_tensor, x, name, weights, _b.weights_file(
        _URL, "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels", include_top))


preprocess_input = _b.preprocess_input_for("tf")


decode_predictions = _imagenet_utils.decode_predictions
