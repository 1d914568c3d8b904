"""EfficientNetV2 B0-B3, S, M, L (Tan & Le 2021), Keras's ``keras.applications.efficientnet_v2``.

``include_preprocessing=True`` (default) puts the input scaling inside the model, so
``preprocess_input`` is the identity.

Example:
    >>> model = EfficientNetV2B0(weights=None, input_shape=(32, 32, 3), classes=10)
"""

import math as _math

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.applications.efficientnet import _classifier
from kbridge.applications.efficientnet import _conv_init
from kbridge.applications.efficientnet import _mb_block
from kbridge.applications.efficientnet import _named

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
# (kernel, repeats, filters in, filters out, expansion, se_ratio, stride, fused) per stage.
_B_STAGES = ((3, 1, 32, 16, 1, 0, 1, 1), (3, 2, 16, 32, 4, 0, 2, 1), (3, 2, 32, 48, 4, 0, 2, 1),
             (3, 3, 48, 96, 4, 0.25, 2, 0), (3, 5, 96, 112, 6, 0.25, 1, 0),
             (3, 8, 112, 192, 6, 0.25, 2, 0))
_STAGES = {
    "s": ((3, 2, 24, 24, 1, 0, 1, 1), (3, 4, 24, 48, 4, 0, 2, 1), (3, 4, 48, 64, 4, 0, 2, 1),
          (3, 6, 64, 128, 4, 0.25, 2, 0), (3, 9, 128, 160, 6, 0.25, 1, 0),
          (3, 15, 160, 256, 6, 0.25, 2, 0)),
    "m": ((3, 3, 24, 24, 1, 0, 1, 1), (3, 5, 24, 48, 4, 0, 2, 1), (3, 5, 48, 80, 4, 0, 2, 1),
          (3, 7, 80, 160, 4, 0.25, 2, 0), (3, 14, 160, 176, 6, 0.25, 1, 0),
          (3, 18, 176, 304, 6, 0.25, 2, 0), (3, 5, 304, 512, 6, 0.25, 1, 0)),
    "l": ((3, 4, 32, 32, 1, 0, 1, 1), (3, 7, 32, 64, 4, 0, 2, 1), (3, 7, 64, 96, 4, 0, 2, 1),
          (3, 10, 96, 192, 4, 0.25, 2, 0), (3, 19, 192, 224, 6, 0.25, 1, 0),
          (3, 25, 224, 384, 6, 0.25, 2, 0), (3, 7, 384, 640, 6, 0.25, 1, 0)),
    "b0": _B_STAGES, "b1": _B_STAGES, "b2": _B_STAGES, "b3": _B_STAGES,
}
# variant: (width, depth, default size)
_VARIANTS = {"b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260),
             "b3": (1.2, 1.4, 300), "s": (1.0, 1.0, 384), "m": (1.0, 1.0, 480),
             "l": (1.0, 1.0, 480)}


def _round_filters(filters, width):
    return int(max(8, int(filters * width + 4) // 8 * 8))


def _efficientnet_v2(variant, include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, include_preprocessing, name, dropout_rate=0.2,
                     drop_connect_rate=0.2, bn_momentum=0.9, activation="swish"):
    from kbridge.applications import _layers as layers

    width, depth, default_size = _VARIANTS[variant]
    stages = _STAGES[variant]
    _b.check_weights(weights, include_top, classes)
    input_shape = _b.obtain_input_shape(input_shape, default_size, 32, include_top, weights)
    img_input = _b.image_input(input_tensor, input_shape)
    axis = _b.channel_axis()
    x = img_input
    if include_preprocessing:
        channels = input_shape[-1] if _b.channels_last() else input_shape[0]
        if variant.startswith("b") and channels == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=[0.485, 0.456, 0.406],
                                     variance=[0.229**2, 0.224**2, 0.225**2], axis=axis)(x)
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)
    x = layers.Conv2D(_round_filters(stages[0][2], width), 3, strides=2, padding="same",
                      use_bias=False, kernel_initializer=_conv_init(), name="stem_conv")(x)
    x = layers.BatchNormalization(axis=axis, momentum=bn_momentum, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)
    total = float(sum(stage[1] for stage in stages))
    b = 0
    for i, (kernel, repeats, f_in, f_out, expand, se_ratio, stride, fused) in enumerate(stages):
        f_in, f_out = _round_filters(f_in, width), _round_filters(f_out, width)
        for j in range(int(_math.ceil(depth * repeats))):
            x = _mb_block(x, f"block{i + 1}{chr(j + 97)}_", f_in if j == 0 else f_out, f_out,
                          kernel, stride if j == 0 else 1, expand, se_ratio, activation,
                          drop_connect_rate * b / total, version=2, fused=bool(fused),
                          bn_momentum=bn_momentum)
            b += 1
    x = layers.Conv2D(_round_filters(1280, width), 1, padding="same", use_bias=False,
                      kernel_initializer=_conv_init(), name="top_conv")(x)
    x = layers.BatchNormalization(axis=axis, momentum=bn_momentum, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    x = _classifier(x, include_top, pooling, classes, classifier_activation, weights,
                    dropout_rate)
    return _b.finish(img_input, input_tensor, x, name, weights,
                     _b.weights_file(_BASE_URL, f"efficientnetv2-{variant}", include_top))


def _constructor(variant):
    def constructor(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    include_preprocessing=True, name=f"efficientnetv2-{variant}"):
        return _efficientnet_v2(variant, include_top, weights, input_tensor, input_shape,
                                pooling, classes, classifier_activation, include_preprocessing,
                                name)

    return _named(constructor, f"EfficientNetV2{variant.upper()}", _VARIANTS[variant][2])


EfficientNetV2B0 = _constructor("b0")
EfficientNetV2B1 = _constructor("b1")
EfficientNetV2B2 = _constructor("b2")
EfficientNetV2B3 = _constructor("b3")
EfficientNetV2S = _constructor("s")
EfficientNetV2M = _constructor("m")
EfficientNetV2L = _constructor("l")


preprocess_input = _b.preprocess_input_for(None)


decode_predictions = _imagenet_utils.decode_predictions
