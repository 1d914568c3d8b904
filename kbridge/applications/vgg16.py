"""VGG16 (Simonyan & Zisserman 2014), Keras's ``keras.applications.vgg16``; shared VGG builder.

Example:
    >>> model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="max")
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _build_vgg(convs_per_block, include_top, weights, input_tensor, input_shape, pooling,
              classes, classifier_activation, name):
    """A VGG net: five blocks of 3x3 convolutions (``convs_per_block``) and max pooling."""
    from kbridge.applications import _layers as layers

    img_input = _b.model_input(weights, include_top, classes, input_tensor, input_shape,
                               224, 32)
    x = img_input
    for block, (filters, convs) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block), 1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        _b.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _b.pool(x, pooling)
    tag = f"vgg{sum(convs_per_block) + 3}"
    return _b.finish(img_input, input_tensor, x, name, weights, _b.weights_file(
        f"{_BASE_URL}{tag}/", f"{tag}_weights_tf_dim_ordering_tf_kernels", include_top))


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg16"):
    """VGG16 as a Functional model; Keras's layer names and weights."""
    return _build_vgg((2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name)


preprocess_input = _b.preprocess_input_for("caffe")


decode_predictions = _imagenet_utils.decode_predictions
