"""NASNetMobile / NASNetLarge (Zoph et al. 2018), Keras's ``keras.applications.nasnet``.

channels_last only, as in Keras.

Example:
    >>> model = NASNetMobile(weights=None, include_top=False, input_shape=(32, 32, 3))
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.errors import ArgumentError as _ArgumentError

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
_BN = dict(axis=-1, momentum=0.9997, epsilon=1e-3)


def _sep_block(x, filters, kernel_size=(3, 3), strides=(1, 1), block_id=None):
    """ReLU, separable conv (strided: padded first), BN, ReLU, separable conv, BN."""
    from kbridge.applications import _layers as layers

    x = layers.Activation("relu")(x)
    padding = "same"
    if strides == (2, 2):
        x = layers.ZeroPadding2D(_b.correct_pad(x, kernel_size),
                                 name=f"separable_conv_1_pad_{block_id}")(x)
        padding = "valid"
    x = layers.SeparableConv2D(filters, kernel_size, strides=strides, padding=padding,
                               use_bias=False, name=f"separable_conv_1_{block_id}")(x)
    x = layers.BatchNormalization(**_BN, name=f"separable_conv_1_bn_{block_id}")(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(filters, kernel_size, padding="same", use_bias=False,
                               name=f"separable_conv_2_{block_id}")(x)
    return layers.BatchNormalization(**_BN, name=f"separable_conv_2_bn_{block_id}")(x)


def _adjust(p, ip, filters, block_id):
    """Bring the previous cell's output ``p`` to the shape of ``ip`` with ``filters``."""
    from kbridge.applications import _layers as layers

    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:
        p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                     name=f"adjust_avg_pool_1_{block_id}")(p)
        p1 = layers.Conv2D(filters // 2, (1, 1), padding="same", use_bias=False,
                           kernel_initializer="he_normal", name=f"adjust_conv_1_{block_id}")(p1)
        p2 = layers.ZeroPadding2D(((0, 1), (0, 1)))(p)
        p2 = layers.Cropping2D(((1, 0), (1, 0)))(p2)
        p2 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                     name=f"adjust_avg_pool_2_{block_id}")(p2)
        p2 = layers.Conv2D(filters // 2, (1, 1), padding="same", use_bias=False,
                           kernel_initializer="he_normal", name=f"adjust_conv_2_{block_id}")(p2)
        p = layers.Concatenate(axis=-1)([p1, p2])
        return layers.BatchNormalization(**_BN, name=f"adjust_bn_{block_id}")(p)
    if p.shape[-1] != filters:
        p = layers.Activation("relu")(p)
        p = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False,
                          kernel_initializer="he_normal",
                          name=f"adjust_conv_projection_{block_id}")(p)
        return layers.BatchNormalization(**_BN, name=f"adjust_bn_{block_id}")(p)
    return p


def _squeeze(ip, filters, kind, block_id):
    from kbridge.applications import _layers as layers

    h = layers.Activation("relu")(ip)
    h = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{kind}_conv_1_{block_id}")(h)
    return layers.BatchNormalization(**_BN, name=f"{kind}_bn_1_{block_id}")(h)


def _normal_cell(ip, p, filters, block_id):
    from kbridge.applications import _layers as layers

    p = _adjust(p, ip, filters, block_id)
    h = _squeeze(ip, filters, "normal", block_id)
    x1 = layers.Add(name=f"normal_add_1_{block_id}")([
        _sep_block(h, filters, (5, 5), block_id=f"normal_left1_{block_id}"),
        _sep_block(p, filters, block_id=f"normal_right1_{block_id}")])
    x2 = layers.Add(name=f"normal_add_2_{block_id}")([
        _sep_block(p, filters, (5, 5), block_id=f"normal_left2_{block_id}"),
        _sep_block(p, filters, (3, 3), block_id=f"normal_right2_{block_id}")])

    def avg(t, side):
        return layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same",
                                       name=f"normal_{side}_{block_id}")(t)

    x3 = layers.Add(name=f"normal_add_3_{block_id}")([avg(h, "left3"), p])
    x4 = layers.Add(name=f"normal_add_4_{block_id}")([avg(p, "left4"), avg(p, "right4")])
    x5 = layers.Add(name=f"normal_add_5_{block_id}")([
        _sep_block(h, filters, block_id=f"normal_left5_{block_id}"), h])
    x = layers.Concatenate(axis=-1, name=f"normal_concat_{block_id}")([p, x1, x2, x3, x4, x5])
    return x, ip


def _reduction_cell(ip, p, filters, block_id):
    from kbridge.applications import _layers as layers

    p = _adjust(p, ip, filters, block_id)
    h = _squeeze(ip, filters, "reduction", block_id)
    h3 = layers.ZeroPadding2D(_b.correct_pad(h, 3), name=f"reduction_pad_1_{block_id}")(h)
    x1 = layers.Add(name=f"reduction_add_1_{block_id}")([
        _sep_block(h, filters, (5, 5), (2, 2), f"reduction_left1_{block_id}"),
        _sep_block(p, filters, (7, 7), (2, 2), f"reduction_right1_{block_id}")])
    x2 = layers.Add(name=f"reduction_add_2_{block_id}")([
        layers.MaxPooling2D((3, 3), strides=(2, 2), padding="valid",
                            name=f"reduction_left2_{block_id}")(h3),
        _sep_block(p, filters, (7, 7), (2, 2), f"reduction_right2_{block_id}")])
    x3 = layers.Add(name=f"reduction_add3_{block_id}")([
        layers.AveragePooling2D((3, 3), strides=(2, 2), padding="valid",
                                name=f"reduction_left3_{block_id}")(h3),
        _sep_block(p, filters, (5, 5), (2, 2), f"reduction_right3_{block_id}")])
    x4 = layers.Add()([x2, layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same",
                                                   name=f"reduction_left4_{block_id}")(x1)])
    x5 = layers.Add(name=f"reduction_add4_{block_id}")([
        _sep_block(x1, filters, (3, 3), block_id=f"reduction_left4_{block_id}"),
        layers.MaxPooling2D((3, 3), strides=(2, 2), padding="valid",
                            name=f"reduction_right5_{block_id}")(h3)])
    x = layers.Concatenate(axis=-1, name=f"reduction_concat_{block_id}")([x2, x3, x4, x5])
    return x, ip


def _nasnet(input_shape, penultimate_filters, num_blocks, stem_block_filters, skip_reduction,
            filter_multiplier, include_top, weights, input_tensor, pooling, classes,
            default_size, classifier_activation, name, files):
    from kbridge.applications import _layers as layers

    if not _b.channels_last():
        raise _ArgumentError("NASNet supports only the 'channels_last' image data format. "
                             "Received: image_data_format='channels_first'")
    _b.check_weights(weights, include_top, classes)
    if input_shape is not None and None in tuple(input_shape) and weights == "imagenet":
        raise _ArgumentError("With weights='imagenet' the NASNet input shape must be static. "
                             f"Received: input_shape={input_shape}")
    input_shape = _b.obtain_input_shape(input_shape, default_size, 32, include_top, weights)
    img_input = _b.image_input(input_tensor, input_shape)
    filters = penultimate_filters // 24
    m = filter_multiplier
    x = layers.Conv2D(stem_block_filters, (3, 3), strides=(2, 2), padding="valid",
                      use_bias=False, kernel_initializer="he_normal", name="stem_conv1")(img_input)
    x = layers.BatchNormalization(**_BN, name="stem_bn1")(x)
    x, p = _reduction_cell(x, None, filters // m**2, "stem_1")
    x, p = _reduction_cell(x, p, filters // m, "stem_2")
    for stage in range(3):
        if stage:
            x, p0 = _reduction_cell(x, p, filters * m**stage, f"reduce_{stage * num_blocks}")
            p = p if skip_reduction else p0
        for i in range(num_blocks):
            block_id = f"{stage * num_blocks + i + (1 if stage else 0)}"
            x, p = _normal_cell(x, p, filters * m**stage, block_id)
    x = layers.Activation("relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        _b.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _b.pool(x, pooling)
    local, remote = files[0] if include_top else files[1]
    return _b.finish(img_input, input_tensor, x, name, weights, (local, _BASE_URL + remote))


def NASNetMobile(input_shape=None, include_top=True, weights="imagenet", input_tensor=None,
                 pooling=None, classes=1000, classifier_activation="softmax",
                 name="nasnet_mobile"):
    """NASNet-A Mobile (4 @ 1056) as a Functional model; default input 224x224.

    Example:
        >>> model = NASNetMobile(weights=None, include_top=False, pooling="avg")
    """
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return _nasnet(input_shape, 1056, 4, 32, False, 2, include_top, weights, input_tensor,
                   pooling, classes, 224, classifier_activation, name,
                   (("nasnet_mobile.h5", "NASNet-mobile.h5"),
                    ("nasnet_mobile_no_top.h5", "NASNet-mobile-no-top.h5")))


def NASNetLarge(input_shape=None, include_top=True, weights="imagenet", input_tensor=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="nasnet_large"):
    """NASNet-A Large (6 @ 4032) as a Functional model; default input 331x331.

    Example:
        >>> model = NASNetLarge(weights=None, include_top=False, input_shape=(64, 64, 3))
    """
    return _nasnet(input_shape, 4032, 6, 96, True, 2, include_top, weights, input_tensor,
                   pooling, classes, 331, classifier_activation, name,
                   (("nasnet_large.h5", "NASNet-large.h5"),
                    ("nasnet_large_no_top.h5", "NASNet-large-no-top.h5")))


preprocess_input = _b.preprocess_input_for("tf")


decode_predictions = _imagenet_utils.decode_predictions
