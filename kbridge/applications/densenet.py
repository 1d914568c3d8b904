"""DenseNet121/169/201 (Huang et al. 2016), Keras's ``keras.applications.densenet``.

Example:
    >>> model = DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3))
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.errors import ArgumentError as _ArgumentError

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
_EPS = 1.001e-5


def _bn_relu(x, name):
    from kbridge.applications import _layers as layers

    x = layers.BatchNormalization(axis=_b.channel_axis(), epsilon=_EPS, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _conv_block(x, growth_rate, name):
    from kbridge.applications import _layers as layers

    y = _bn_relu(x, f"{name}_0")
    y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = _bn_relu(y, f"{name}_1")
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(axis=_b.channel_axis(), name=f"{name}_concat")([x, y])


def _transition_block(x, reduction, name):
    from kbridge.applications import _layers as layers

    x = _bn_relu(x, name)
    x = layers.Conv2D(int(x.shape[_b.channel_axis()] * reduction), 1, use_bias=False,
                      name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _densenet(blocks, include_top, weights, input_tensor, input_shape, pooling, classes,
              classifier_activation, name):
    from kbridge.applications import _layers as layers

    if not _b.channels_last():
        raise _ArgumentError("DenseNet supports only the 'channels_last' image data format. "
                             "Received: image_data_format='channels_first'")
    img_input = _b.model_input(weights, include_top, classes, input_tensor, input_shape,
                               224, 32)
    x = layers.ZeroPadding2D(((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn_relu(x, "conv1")
    x = layers.ZeroPadding2D(((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, 2):
        for i in range(1, count + 1):
            x = _conv_block(x, 32, f"conv{stage}_block{i}")
        if stage < 5:
            x = _transition_block(x, 0.5, f"pool{stage}")
    x = layers.BatchNormalization(axis=_b.channel_axis(), epsilon=_EPS, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    x = _b.top(x, include_top, pooling, classes, classifier_activation, weights,
               "avg_pool", "max_pool")
    depth = {(6, 12, 24, 16): 121, (6, 12, 32, 32): 169, (6, 12, 48, 32): 201}[tuple(blocks)]
    return _b.finish(img_input, input_tensor, x, name, weights, _b.weights_file(
        _BASE_URL, f"densenet{depth}_weights_tf_dim_ordering_tf_kernels", include_top))


def DenseNet121(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax", name="densenet121"):
    """DenseNet121 as a Functional model; Keras's layer names and weights (channels_last)."""
    return _densenet((6, 12, 24, 16), include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name)


def DenseNet169(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax", name="densenet169"):
    """DenseNet169 as a Functional model (see :func:`DenseNet121`)."""
    return _densenet((6, 12, 32, 32), include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name)


def DenseNet201(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax", name="densenet201"):
    """DenseNet201 as a Functional model (see :func:`DenseNet121`)."""
    return _densenet((6, 12, 48, 32), include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name)


preprocess_input = _b.preprocess_input_for("torch")


decode_predictions = _imagenet_utils.decode_predictions
