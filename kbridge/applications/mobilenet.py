"""MobileNet (Howard et al. 2017), Keras's ``keras.applications.mobilenet``.

Example:
    >>> model = MobileNet(weights=None, input_shape=(32, 32, 3), alpha=0.25, classes=10)
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.errors import ArgumentError as _ArgumentError

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
# (pointwise filters, stride) of the 13 depthwise-separable blocks.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
           (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
_SIZES = (128, 160, 192, 224)


def _depthwise_block(x, filters, depth_multiplier, stride, block_id):
    from kbridge.applications import _layers as layers

    axis = _b.channel_axis()
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid",
                               depth_multiplier=depth_multiplier, strides=stride,
                               use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=axis, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False,
                      name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=axis, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True,
              weights="imagenet", input_tensor=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=None):
    """MobileNet as a Functional model; Keras's layer names and weights.

    Args:
        alpha: width multiplier (filters in every layer scaled by it).
        depth_multiplier: channel multiplier of the depthwise convolutions.
        dropout: dropout rate before the classifier.

    Example:
        >>> model = MobileNet(weights=None, alpha=0.5, include_top=False, pooling="avg")
    """
    from kbridge.applications import _layers as layers

    _b.check_weights(weights, include_top, classes)
    default_size = _b.square_size(input_shape, _SIZES) or 224
    input_shape = _b.obtain_input_shape(input_shape, default_size, 32, include_top, weights)
    rows = _b.spatial_size(input_shape)[0]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise _ArgumentError("With weights='imagenet', `depth_multiplier` must be 1. "
                                 f"Received: depth_multiplier={depth_multiplier}")
        if alpha not in (0.25, 0.5, 0.75, 1.0):
            raise _ArgumentError("With weights='imagenet', `alpha` must be one of 0.25, 0.5, "
                                 f"0.75 or 1.0. Received: alpha={alpha}")
        rows = _b.imagenet_rows(input_shape, _SIZES)
    img_input = _b.image_input(input_tensor, input_shape)
    axis = _b.channel_axis()
    x = layers.Conv2D(int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2),
                      name="conv1")(img_input)
    x = layers.BatchNormalization(axis=axis, name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(_BLOCKS, 1):
        x = _depthwise_block(x, int(filters * alpha), depth_multiplier, stride, block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        _b.validate_activation(classifier_activation, weights)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = _b.pool(x, pooling)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0"}.get(alpha, "2_5")
    file_name = f"mobilenet_{alpha_text}_{rows}_tf{'' if include_top else '_no_top'}.h5"
    return _b.finish(img_input, input_tensor, x, name, weights, (file_name, _BASE_URL + file_name))


preprocess_input = _b.preprocess_input_for("tf")


decode_predictions = _imagenet_utils.decode_predictions
