"""MobileNetV2 (Sandler et al. 2018), Keras's ``keras.applications.mobilenet_v2``.

Example:
    >>> model = MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=10)
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.errors import ArgumentError as _ArgumentError

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
# (filters, stride, expansion) of the 17 inverted residual blocks.
_BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6),
           (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6),
           (160, 1, 6), (160, 1, 6), (320, 1, 6))
_SIZES = (96, 128, 160, 192, 224)


def _bn(x, name):
    from kbridge.applications import _layers as layers

    return layers.BatchNormalization(axis=_b.channel_axis(), epsilon=1e-3, momentum=0.999,
                                     name=name)(x)


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    from kbridge.applications import _layers as layers

    in_channels = inputs.shape[_b.channel_axis()]
    pointwise_filters = _b.make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same",
                          use_bias=False, name=f"{prefix}expand")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(_bn(x, f"{prefix}expand_BN"))
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(_b.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(_bn(x, f"{prefix}depthwise_BN"))
    x = layers.Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False,
                      name=f"{prefix}project")(x)
    x = _bn(x, f"{prefix}project_BN")
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
                input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax",
                name=None):
    """MobileNetV2 as a Functional model; Keras's layer names and weights.

    Args:
        alpha: width multiplier (filters in every layer scaled by it).

    Example:
        >>> model = MobileNetV2(weights=None, include_top=False, pooling="avg")
    """
    from kbridge import backend
    from kbridge.applications import _layers as layers

    _b.check_weights(weights, include_top, classes)
    if input_shape is None and input_tensor is not None and backend.is_keras_tensor(input_tensor):
        default_size = _b.square_size(tuple(input_tensor.shape[1:]), _SIZES) or 224
    else:
        default_size = _b.square_size(input_shape, _SIZES) or 224
    input_shape = _b.obtain_input_shape(input_shape, default_size, 32, include_top, weights)
    rows = _b.spatial_size(input_shape)[0]
    if weights == "imagenet":
        if alpha not in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
            raise _ArgumentError("With weights='imagenet', `alpha` must be one of 0.35, 0.5, "
                                 f"0.75, 1.0, 1.3 or 1.4. Received: alpha={alpha}")
        rows = _b.imagenet_rows(input_shape, _SIZES)
    img_input = _b.image_input(input_tensor, input_shape)
    x = layers.Conv2D(_b.make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2),
                      padding="same", use_bias=False, name="Conv1")(img_input)
    x = layers.ReLU(6.0, name="Conv1_relu")(_bn(x, "bn_Conv1"))
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    last = _b.make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.ReLU(6.0, name="out_relu")(_bn(x, "Conv_1_bn"))
    if include_top:
        x = _b.dense_top(x, classes, classifier_activation, weights,
                         pool_name="global_average_pooling2d")
    else:
        x = _b.pool(x, pooling)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    file_name = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
                 f"{'' if include_top else '_no_top'}.h5")
    return _b.finish(img_input, input_tensor, x, name, weights, (file_name, _BASE_URL + file_name))


preprocess_input = _b.preprocess_input_for("tf")


decode_predictions = _imagenet_utils.decode_predictions
