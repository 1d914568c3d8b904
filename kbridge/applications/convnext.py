"""ConvNeXt Tiny/Small/Base/Large/XLarge (Liu et al. 2022), Keras's ``keras.applications.convnext``.

The models normalise their inputs themselves (``include_preprocessing=True``), so
``preprocess_input`` is the identity. channels_last only, as in Keras.

Example:
    >>> model = ConvNeXtTiny(weights=None, input_shape=(32, 32, 3), classes=10)
"""

import numpy as _np

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.errors import ArgumentError as _ArgumentError
from kbridge.applications._custom_layers import LayerScale as _LayerScale
from kbridge.applications._custom_layers import StochasticDepth as _StochasticDepth

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
# variant: (blocks per stage, channels per stage)
_CONFIGS = {
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
    "large": ((3, 3, 27, 3), (192, 384, 768, 1536)),
    "xlarge": ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}


def _block(x, dim, drop_path_rate, layer_scale_init_value, name):
    from kbridge.applications import _layers as layers

    inputs = x
    x = layers.Conv2D(dim, kernel_size=7, padding="same", groups=dim,
                      name=f"{name}_depthwise_conv")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
    x = layers.Dense(4 * dim, name=f"{name}_pointwise_conv_1")(x)
    x = layers.Activation("gelu", name=f"{name}_gelu")(x)
    x = layers.Dense(dim, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = _LayerScale(layer_scale_init_value, dim, name=f"{name}_layer_scale")(x)
    if drop_path_rate:
        last = _StochasticDepth(drop_path_rate, name=f"{name}_stochastic_depth")
    else:
        last = layers.Activation("linear", name=f"{name}_identity")
    return inputs + last(x)


def _convnext(variant, include_top, include_preprocessing, weights, input_tensor, input_shape,
              pooling, classes, classifier_activation, name, drop_path_rate=0.0,
              layer_scale_init_value=1e-6):
    from kbridge.applications import _layers as layers
    from kbridge.models import Sequential

    if not _b.channels_last():
        raise _ArgumentError("ConvNeXt supports only the 'channels_last' image data format. "
                             "Received: image_data_format='channels_first'")
    depths, dims = _CONFIGS[variant]
    _b.check_weights(weights, include_top, classes)
    if weights == "imagenet" and f"convnext_{variant}" not in name:
        raise _ArgumentError(f"With weights='imagenet' the model name must contain "
                             f"'convnext_{variant}'. Received: name={name!r}")
    input_shape = _b.obtain_input_shape(input_shape, 224, 32, include_top, weights)
    img_input = _b.image_input(input_tensor, input_shape)
    x = input_tensor if input_tensor is not None else img_input
    if include_preprocessing and input_shape[-1] == 3:
        x = layers.Normalization(mean=[0.485 * 255, 0.456 * 255, 0.406 * 255],
                                 variance=[(0.229 * 255) ** 2, (0.224 * 255) ** 2,
                                           (0.225 * 255) ** 2],
                                 name=f"{name}_prestem_normalization")(x)
    downsample = [Sequential([
        layers.Conv2D(dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
        layers.LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm")],
        name=f"{name}_stem")]
    for i in range(3):
        downsample.append(Sequential([
            layers.LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
            layers.Conv2D(dims[i + 1], kernel_size=2, strides=2,
                          name=f"{name}_downsampling_conv_{i}")],
            name=f"{name}_downsampling_block_{i}"))
    rates = [float(r) for r in _np.linspace(0.0, drop_path_rate, sum(depths))]
    cur = 0
    for i in range(4):
        x = downsample[i](x)
        for j in range(depths[i]):
            x = _block(x, dims[i], rates[cur + j], layer_scale_init_value,
                       f"{name}_stage_{i}_block_{j}")
        cur += depths[i]
    if include_top:
        _b.validate_activation(classifier_activation, weights)
        x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        x = layers.Dense(classes, activation=classifier_activation,
                         name=f"{name}_head_dense")(x)
    else:
        x = _b.pool(x, pooling)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
    return _b.finish(img_input, input_tensor, x, name, weights,
                     _b.weights_file(_BASE_URL, name, include_top))


def _constructor(variant):
    def constructor(include_top=True, include_preprocessing=True, weights="imagenet",
                    input_tensor=None, input_shape=None, pooling=None, classes=1000,
                    classifier_activation="softmax", name=f"convnext_{variant}"):
        return _convnext(variant, include_top, include_preprocessing, weights, input_tensor,
                         input_shape, pooling, classes, classifier_activation, name)

    title = f"ConvNeXt{'XLarge' if variant == 'xlarge' else variant.capitalize()}"
    return _b.named_constructor(constructor, title, f"{title} as a Functional model; Keras's "
                                "layer names and weights (channels_last).")


ConvNeXtTiny = _constructor("tiny")
ConvNeXtSmall = _constructor("small")
ConvNeXtBase = _constructor("base")
ConvNeXtLarge = _constructor("large")
ConvNeXtXLarge = _constructor("xlarge")


preprocess_input = _b.preprocess_input_for(None)


decode_predictions = _imagenet_utils.decode_predictions
