"""ResNet50/101/152 (Keras's ``keras.applications.resnet``) and the shared ResNet builder.

Example:
    >>> model = kbridge.applications.ResNet50(weights=None, input_shape=(64, 64, 3),
    ...                                       include_top=False, pooling="avg")
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
_EPS = 1.001e-5


def _bn(x, name):
    from kbridge.applications import _layers as layers

    return layers.BatchNormalization(axis=_b.channel_axis(), epsilon=_EPS, name=name)(x)


def _block_v1(x, filters, stride, conv_shortcut, name):
    from kbridge.applications import _layers as layers

    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _bn(shortcut, f"{name}_0_bn")
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(_bn(x, f"{name}_1_bn"))
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(_bn(x, f"{name}_2_bn"))
    x = _bn(layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x), f"{name}_3_bn")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _block_v2(x, filters, stride, conv_shortcut, name):
    from kbridge.applications import _layers as layers

    preact = layers.Activation("relu", name=f"{name}_preact_relu")(_bn(x, f"{name}_preact_bn"))
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.Activation("relu", name=f"{name}_1_relu")(_bn(x, f"{name}_1_bn"))
    x = layers.ZeroPadding2D(((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(_bn(x, f"{name}_2_bn"))
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def _stack(x, filters, blocks, stride, name, preact):
    """One stage: v1 downsamples in its first block, v2 in its last (Keras's layouts)."""
    for i in range(1, blocks + 1):
        if preact:
            block_stride = stride if i == blocks else 1
            x = _block_v2(x, filters, block_stride, i == 1, f"{name}_block{i}")
        else:
            x = _block_v1(x, filters, stride if i == 1 else 1, i == 1, f"{name}_block{i}")
    return x


def _build_resnet(depths, preact, weights_name, include_top, weights, input_tensor, input_shape,
                 pooling, classes, classifier_activation, name):
    """A ResNet (v1, or v2 with ``preact``) with ``depths`` blocks in its four stages."""
    from kbridge.applications import _layers as layers

    img_input = _b.model_input(weights, include_top, classes, input_tensor, input_shape,
                               224, 32)
    x = layers.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    if not preact:
        x = layers.Activation("relu", name="conv1_relu")(_bn(x, "conv1_bn"))
    x = layers.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for i, (filters, blocks) in enumerate(zip((64, 128, 256, 512), depths)):
        if preact:
            stride = 1 if i == 3 else 2
        else:
            stride = 1 if i == 0 else 2
        x = _stack(x, filters, blocks, stride, f"conv{i + 2}", preact)
    if preact:
        x = layers.Activation("relu", name="post_relu")(_bn(x, "post_bn"))
    x = _b.top(x, include_top, pooling, classes, classifier_activation, weights)
    return _b.finish(img_input, input_tensor, x, name, weights, _b.weights_file(
        _BASE_URL, f"{weights_name}_weights_tf_dim_ordering_tf_kernels", include_top))


_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _constructor(depth, preact):
    """``ResNet<depth>``, or ``ResNet<depth>V2`` (pre-activation blocks) when ``preact``."""
    title = f"ResNet{depth}{'V2' if preact else ''}"
    weights_name = title.lower()

    def constructor(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    name=weights_name):
        return _build_resnet(_BLOCKS[depth], preact, weights_name, include_top, weights,
                             input_tensor, input_shape, pooling, classes,
                             classifier_activation, name)

    paper = "He et al. 2016, identity mappings" if preact else "He et al. 2015"
    return _b.named_constructor(constructor, title, f"{title} ({paper}) as a Functional model; "
                                "Keras's layer names and weights.")


ResNet50 = _constructor(50, preact=False)
ResNet101 = _constructor(101, preact=False)
ResNet152 = _constructor(152, preact=False)


preprocess_input = _b.preprocess_input_for("caffe")


decode_predictions = _imagenet_utils.decode_predictions
