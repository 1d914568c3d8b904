"""MobileNetV3Small/Large (Howard et al. 2019), Keras's ``keras.applications.mobilenet_v3``.

The models include their preprocessing (``include_preprocessing=True`` rescales [0, 255] to
[-1, 1]), so ``preprocess_input`` is the identity.

Example:
    >>> model = MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=10)
"""

import warnings as _warnings

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.errors import ArgumentError as _ArgumentError

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
# (expansion, filters, kernel ("k": 5, or 3 when minimalistic), stride, squeeze-excite,
#  activation ("hs": hard swish, or relu when minimalistic)) per block.
_SMALL = ((1, 16, 3, 2, True, "relu"), (72 / 16, 24, 3, 2, False, "relu"),
          (88 / 24, 24, 3, 1, False, "relu"), (4, 40, "k", 2, True, "hs"),
          (6, 40, "k", 1, True, "hs"), (6, 40, "k", 1, True, "hs"), (3, 48, "k", 1, True, "hs"),
          (3, 48, "k", 1, True, "hs"), (6, 96, "k", 2, True, "hs"), (6, 96, "k", 1, True, "hs"),
          (6, 96, "k", 1, True, "hs"))
_LARGE = ((1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"),
          (3, 24, 3, 1, False, "relu"), (3, 40, "k", 2, True, "relu"),
          (3, 40, "k", 1, True, "relu"), (3, 40, "k", 1, True, "relu"),
          (6, 80, 3, 2, False, "hs"), (2.5, 80, 3, 1, False, "hs"), (2.3, 80, 3, 1, False, "hs"),
          (2.3, 80, 3, 1, False, "hs"), (6, 112, 3, 1, True, "hs"), (6, 112, 3, 1, True, "hs"),
          (6, 160, "k", 2, True, "hs"), (6, 160, "k", 1, True, "hs"),
          (6, 160, "k", 1, True, "hs"))


def _relu(x):
    from kbridge.applications import _layers as layers

    return layers.ReLU()(x)


def _hard_swish(x):
    from kbridge.applications import _layers as layers

    return layers.Activation("hard_swish")(x)


def _hard_sigmoid(x):
    from kbridge.applications import _layers as layers

    # Written as graph ops, as Keras does, so the graph (and its layer order) is Keras's.
    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _bn(x, name):
    from kbridge.applications import _layers as layers

    return layers.BatchNormalization(axis=_b.channel_axis(), epsilon=1e-3, momentum=0.999,
                                     name=name)(x)


def _se_block(inputs, filters, se_ratio, prefix):
    from kbridge.applications import _layers as layers

    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(
        inputs)
    x = layers.Conv2D(_b.make_divisible(filters * se_ratio), kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv")(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv_1")(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, _hard_sigmoid(x)])


def _inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, activation,
                        block_id):
    from kbridge.applications import _layers as layers

    shortcut = x
    in_filters = x.shape[_b.channel_axis()]
    prefix = "expanded_conv_"
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = layers.Conv2D(_b.make_divisible(in_filters * expansion), kernel_size=1,
                          padding="same", use_bias=False, name=f"{prefix}expand")(x)
        x = activation(_bn(x, f"{prefix}expand_bn"))
    if stride == 2:
        x = layers.ZeroPadding2D(_b.correct_pad(x, kernel_size),
                                 name=f"{prefix}depthwise_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = activation(_bn(x, f"{prefix}depthwise_bn"))
    if se_ratio:
        x = _se_block(x, _b.make_divisible(in_filters * expansion), se_ratio, prefix)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False,
                      name=f"{prefix}project")(x)
    x = _bn(x, f"{prefix}project_bn")
    if stride == 1 and in_filters == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


def _mobilenet_v3(blocks, last_point_ch, model_type, input_shape, alpha, minimalistic,
                  include_top, weights, input_tensor, classes, pooling, dropout_rate,
                  classifier_activation, include_preprocessing, name):
    from kbridge import backend
    from kbridge.applications import _layers as layers

    _b.check_weights(weights, include_top, classes)
    last = _b.channels_last()
    if input_shape is not None and input_tensor is not None:
        if not backend.is_keras_tensor(input_tensor):
            raise _ArgumentError("`input_tensor` must be a symbolic tensor (kbridge.Input). "
                                 f"Received: {type(input_tensor).__name__}")
        if input_tensor.shape[2 if last else 1] != input_shape[1]:
            raise _ArgumentError("`input_shape` does not match `input_tensor`. Received: "
                                 f"input_shape={input_shape}, "
                                 f"input_tensor.shape={input_tensor.shape}")
    if input_shape is None and input_tensor is not None and backend.is_keras_tensor(input_tensor):
        rows, cols = input_tensor.shape[1:3] if last else input_tensor.shape[2:4]
        input_shape = (cols, rows, 3) if last else (3, cols, rows)
    if input_shape is None:
        input_shape = (None, None, 3) if last else (3, None, None)
    rows, cols = (input_shape[0], input_shape[1]) if last else tuple(input_shape[1:3])
    if rows and cols and (rows < 32 or cols < 32):
        raise _ArgumentError(f"Input size must be at least 32x32. Received: "
                             f"input_shape={tuple(input_shape)}")
    if weights == "imagenet":
        if (not minimalistic and alpha not in (0.75, 1.0)) or (minimalistic and alpha != 1.0):
            raise _ArgumentError("With weights='imagenet', `alpha` must be 0.75 or 1.0 (1.0 "
                                 f"when minimalistic). Received: alpha={alpha}, "
                                 f"minimalistic={minimalistic}")
        if rows != cols or rows != 224:
            _warnings.warn("`input_shape` is undefined, non-square or not 224: loading the "
                           "weights for 224x224.", stacklevel=3)
    img_input = _b.image_input(input_tensor, input_shape)
    kernel, activation, se_ratio = (3, _relu, None) if minimalistic else (5, _hard_swish, 0.25)
    x = img_input
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="conv")(x)
    x = activation(_bn(x, "conv_bn"))
    for block_id, (expansion, filters, k, stride, se, act) in enumerate(blocks):
        x = _inverted_res_block(x, expansion, _b.make_divisible(filters * alpha),
                                kernel if k == "k" else k, stride, se_ratio if se else None,
                                activation if act == "hs" else _relu, block_id)
    last_conv_ch = _b.make_divisible(x.shape[_b.channel_axis()] * 6)
    if alpha > 1.0:
        last_point_ch = _b.make_divisible(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False,
                      name="conv_1")(x)
    x = activation(_bn(x, "conv_1_bn"))
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True,
                          name="conv_2")(x)
        x = activation(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = layers.Flatten()(x)
        _b.validate_activation(classifier_activation, weights)
        x = layers.Activation(classifier_activation, name="predictions")(x)
    else:
        x = _b.pool(x, pooling, "avg_pool", "max_pool")
    model_name = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
    file_name = (f"weights_mobilenet_v3_{model_name}.h5" if include_top
                 else f"weights_mobilenet_v3_{model_name}_no_top_v2.h5")
    return _b.finish(img_input, input_tensor, x, name, weights, (file_name, _BASE_URL + file_name))


def MobileNetV3Small(input_shape=None, alpha=1.0, minimalistic=False, include_top=True,
                     weights="imagenet", input_tensor=None, classes=1000, pooling=None,
                     dropout_rate=0.2, classifier_activation="softmax",
                     include_preprocessing=True, name="MobileNetV3Small"):
    """MobileNetV3Small as a Functional model; Keras's layer names and weights.

    Args:
        alpha: width multiplier.
        minimalistic: no squeeze-excite, hard-swish or 5x5 convolutions.
        include_preprocessing: rescale inputs from [0, 255] to [-1, 1] inside the model.

    Example:
        >>> model = MobileNetV3Small(weights=None, include_top=False, pooling="avg")
    """
    return _mobilenet_v3(_SMALL, 1024, "small", input_shape, alpha, minimalistic, include_top,
                         weights, input_tensor, classes, pooling, dropout_rate,
                         classifier_activation, include_preprocessing, name)


def MobileNetV3Large(input_shape=None, alpha=1.0, minimalistic=False, include_top=True,
                     weights="imagenet", input_tensor=None, classes=1000, pooling=None,
                     dropout_rate=0.2, classifier_activation="softmax",
                     include_preprocessing=True, name="MobileNetV3Large"):
    """MobileNetV3Large as a Functional model (see :func:`MobileNetV3Small`)."""
    return _mobilenet_v3(_LARGE, 1280, "large", input_shape, alpha, minimalistic, include_top,
                         weights, input_tensor, classes, pooling, dropout_rate,
                         classifier_activation, include_preprocessing, name)


preprocess_input = _b.preprocess_input_for(None)


decode_predictions = _imagenet_utils.decode_predictions
