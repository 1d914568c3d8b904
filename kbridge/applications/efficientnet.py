"""EfficientNetB0-B7 (Tan & Le 2019), Keras's ``keras.applications.efficientnet``.

The models include their preprocessing (rescaling and a ``Normalization`` layer whose
statistics come with the weights), so ``preprocess_input`` is the identity. The block builder
here is shared with :mod:`kbridge.applications.efficientnet_v2`.

Example:
    >>> model = EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=10)
"""

import math as _math

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils

_BASE_URL = "https://storage.googleapis.com/keras-applications/"
# (kernel, repeats, filters in, filters out, expansion, stride) per stage; se_ratio 0.25.
_STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2),
           (3, 3, 40, 80, 6, 2), (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2),
           (3, 1, 192, 320, 6, 1))
_IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)


def _conv_init():
    from kbridge.initializers import VarianceScaling

    return VarianceScaling(scale=2.0, mode="fan_out", distribution="truncated_normal")


def _dense_init():
    from kbridge.initializers import VarianceScaling

    return VarianceScaling(scale=1.0 / 3.0, mode="fan_out", distribution="uniform")


def _bn(x, name, momentum):
    from kbridge.applications import _layers as layers

    return layers.BatchNormalization(axis=_b.channel_axis(), momentum=momentum, name=name)(x)


def _squeeze_excite(x, filters, filters_se, activation, name):
    """Squeeze-and-excitation: pool, reduce, expand (sigmoid), scale ``x``."""
    from kbridge.applications import _layers as layers

    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    shape = (1, 1, filters) if _b.channels_last() else (filters, 1, 1)
    se = layers.Reshape(shape, name=f"{name}se_reshape")(se)
    se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                       kernel_initializer=_conv_init(), name=f"{name}se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                       kernel_initializer=_conv_init(), name=f"{name}se_expand")(se)
    return layers.Multiply(name=f"{name}se_excite")([x, se])


def _mb_block(inputs, name, filters_in, filters_out, kernel_size, strides, expand_ratio,
             se_ratio, activation, drop_rate, version=1, fused=False, bn_momentum=0.99):
    """One (fused) mobile inverted bottleneck block of EfficientNet v1 / v2.

    v1 pads explicitly before a strided depthwise conv (layer ``dwconv``); v2 uses 'same'
    padding (``dwconv2``). A fused block replaces expand + depthwise by one k x k conv.
    """
    from kbridge.applications import _layers as layers

    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        k, s = (kernel_size, strides) if fused else (1, 1)
        x = layers.Conv2D(filters, k, strides=s, padding="same", use_bias=False,
                          kernel_initializer=_conv_init(), name=f"{name}expand_conv")(x)
        x = _bn(x, f"{name}expand_bn", bn_momentum)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    if not fused:
        padding = "same"
        if version == 1 and strides == 2:
            x = layers.ZeroPadding2D(_b.correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(x)
            padding = "valid"
        x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding=padding,
                                   use_bias=False, depthwise_initializer=_conv_init(),
                                   name=f"{name}dwconv" if version == 1 else f"{name}dwconv2")(x)
        x = _bn(x, f"{name}bn", bn_momentum)
        x = layers.Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = _squeeze_excite(x, filters, max(1, int(filters_in * se_ratio)), activation, name)
    k, s = (kernel_size, strides) if fused and expand_ratio == 1 else (1, 1)
    x = layers.Conv2D(filters_out, k, strides=s, padding="same", use_bias=False,
                      kernel_initializer=_conv_init(), name=f"{name}project_conv")(x)
    x = _bn(x, f"{name}project_bn", bn_momentum)
    if fused and expand_ratio == 1:
        x = layers.Activation(activation, name=f"{name}project_activation")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.Add(name=f"{name}add")([x, inputs])
    return x


def _classifier(x, include_top, pooling, classes, classifier_activation, weights, dropout_rate):
    """The EfficientNet top: pool, dropout, Dense ``predictions``; or just pooling."""
    from kbridge.applications import _layers as layers
    from kbridge.initializers import Constant

    if not include_top:
        return _b.pool(x, pooling, "avg_pool", "max_pool")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name="top_dropout")(x)
    _b.validate_activation(classifier_activation, weights)
    return layers.Dense(classes, activation=classifier_activation, kernel_initializer=_dense_init(),
                        bias_initializer=Constant(0.0), name="predictions")(x)


def _efficientnet(width, depth, default_size, dropout_rate, variant, include_top, weights,
                  input_tensor, input_shape, pooling, classes, classifier_activation, name,
                  drop_connect_rate=0.2, activation="swish"):
    from kbridge.applications import _layers as layers

    img_input = _b.model_input(weights, include_top, classes, input_tensor, input_shape,
                               default_size, 32)

    def round_filters(filters):
        return _b.make_divisible(filters * width, 8)

    def round_repeats(repeats):
        return int(_math.ceil(depth * repeats))

    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=_b.channel_axis())(x)
    if weights == "imagenet":
        # The published weights were trained on inputs divided by the std, not the variance.
        x = layers.Rescaling([1.0 / _math.sqrt(s) for s in _IMAGENET_STDDEV_RGB])(x)
    x = layers.ZeroPadding2D(_b.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=_conv_init(), name="stem_conv")(x)
    x = layers.Activation(activation, name="stem_activation")(_bn(x, "stem_bn", 0.99))
    total = float(sum(round_repeats(stage[1]) for stage in _STAGES))
    b = 0
    for i, (kernel, repeats, f_in, f_out, expand, stride) in enumerate(_STAGES):
        f_in, f_out = round_filters(f_in), round_filters(f_out)
        for j in range(round_repeats(repeats)):
            x = _mb_block(x, f"block{i + 1}{chr(j + 97)}_", f_in if j == 0 else f_out, f_out,
                         kernel, stride if j == 0 else 1, expand, 0.25, activation,
                         drop_connect_rate * b / total)
            b += 1
    x = layers.Conv2D(round_filters(1280), 1, padding="same", use_bias=False,
                      kernel_initializer=_conv_init(), name="top_conv")(x)
    x = layers.Activation(activation, name="top_activation")(_bn(x, "top_bn", 0.99))
    x = _classifier(x, include_top, pooling, classes, classifier_activation, weights,
                   dropout_rate)
    return _b.finish(img_input, input_tensor, x, name, weights,
                     _b.weights_file(_BASE_URL, f"efficientnet{variant}", include_top))


# variant: (width, depth, default size, dropout)
_VARIANTS = {"b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
             "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
             "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5)}


def _named(constructor, title, size):
    """``constructor`` published as ``title``, documented with its default input size."""
    return _b.named_constructor(constructor, title, f"{title} as a Functional model (default "
                                f"input {size}x{size}); Keras's layer names and weights.")


def _constructor(variant):
    def constructor(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    name=f"efficientnet{variant}"):
        return _efficientnet(*_VARIANTS[variant], variant, include_top, weights, input_tensor,
                             input_shape, pooling, classes, classifier_activation, name)

    return _named(constructor, f"EfficientNet{variant.upper()}", _VARIANTS[variant][2])


EfficientNetB0 = _constructor("b0")
EfficientNetB1 = _constructor("b1")
EfficientNetB2 = _constructor("b2")
EfficientNetB3 = _constructor("b3")
EfficientNetB4 = _constructor("b4")
EfficientNetB5 = _constructor("b5")
EfficientNetB6 = _constructor("b6")
EfficientNetB7 = _constructor("b7")


preprocess_input = _b.preprocess_input_for(None)


decode_predictions = _imagenet_utils.decode_predictions
