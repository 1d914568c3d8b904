"""Xception (Chollet 2017), Keras's ``keras.applications.xception``.

Example:
    >>> model = Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"


def _sep_bn(x, filters, name):
    from kbridge.applications import _layers as layers

    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=_b.channel_axis(), name=f"{name}_bn")(x)


def _downsample_block(x, filters, prefix, first_relu=True):
    """Two separable convs and a strided max pool, plus a strided 1x1 conv shortcut."""
    from kbridge.applications import _layers as layers

    residual = layers.Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same",
                             use_bias=False)(x)
    residual = layers.BatchNormalization(axis=_b.channel_axis())(residual)
    if first_relu:
        x = layers.Activation("relu", name=f"{prefix}_sepconv1_act")(x)
    x = _sep_bn(x, filters[0], f"{prefix}_sepconv1")
    x = layers.Activation("relu", name=f"{prefix}_sepconv2_act")(x)
    x = _sep_bn(x, filters[1], f"{prefix}_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"{prefix}_pool")(x)
    return layers.Add()([x, residual])


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="xception"):
    """Xception as a Functional model (default input 299x299, at least 71x71).

    Example:
        >>> model = Xception(weights=None, include_top=False, pooling="avg")
    """
    from kbridge.applications import _layers as layers

    img_input = _b.model_input(weights, include_top, classes, input_tensor, input_shape,
                               299, 71)
    axis = _b.channel_axis()
    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = layers.BatchNormalization(axis=axis, name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=axis, name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)
    x = _downsample_block(x, (128, 128), "block2", first_relu=False)
    x = _downsample_block(x, (256, 256), "block3")
    x = _downsample_block(x, (728, 728), "block4")
    for i in range(5, 13):
        residual = x
        for j in (1, 2, 3):
            x = layers.Activation("relu", name=f"block{i}_sepconv{j}_act")(x)
            x = _sep_bn(x, 728, f"block{i}_sepconv{j}")
        x = layers.Add()([x, residual])
    x = _downsample_block(x, (728, 1024), "block13")
    x = _sep_bn(x, 1536, "block14_sepconv1")
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = _sep_bn(x, 2048, "block14_sepconv2")
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)
    x = _b.top(x, include_top, pooling, classes, classifier_activation, weights)
    return _b.finish(img_input, input_tensor, x, name, weights, _b.weights_file(
        _BASE_URL, "xception_weights_tf_dim_ordering_tf_kernels", include_top))


preprocess_input = _b.preprocess_input_for("tf")


decode_predictions = _imagenet_utils.decode_predictions
