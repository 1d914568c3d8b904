"""ResNet50V2/101V2/152V2 (pre-activation ResNets), Keras's ``keras.applications.resnet_v2``.

Example:
    >>> model = ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3))
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.applications.resnet import _build_resnet


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
               pooling=None, classes=1000, classifier_activation="softmax", name="resnet50v2"):
    """ResNet50V2 (He et al. 2016, identity mappings) as a Functional model."""
    return _build_resnet((3, 4, 6, 3), True, "resnet50v2", include_top, weights, input_tensor,
                         input_shape, pooling, classes, classifier_activation, name)


def ResNet101V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet101v2"):
    """ResNet101V2 as a Functional model (see :func:`ResNet50V2`)."""
    return _build_resnet((3, 4, 23, 3), True, "resnet101v2", include_top, weights,
                         input_tensor, input_shape, pooling, classes, classifier_activation,
                         name)


def ResNet152V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet152v2"):
    """ResNet152V2 as a Functional model (see :func:`ResNet50V2`)."""
    return _build_resnet((3, 8, 36, 3), True, "resnet152v2", include_top, weights,
                         input_tensor, input_shape, pooling, classes, classifier_activation,
                         name)


preprocess_input = _b.preprocess_input_for("tf")


decode_predictions = _imagenet_utils.decode_predictions
