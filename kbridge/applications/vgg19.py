"""VGG19, Keras's ``keras.applications.vgg19``.

Example:
    >>> model = VGG19(weights=None, include_top=False, input_shape=(32, 32, 3))
"""

from kbridge.applications.vgg16 import _build_vgg
from kbridge.applications.vgg16 import decode_predictions, preprocess_input


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg19"):
    """VGG19 as a Functional model; Keras's layer names and weights."""
    return _build_vgg((2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, pooling,
                      classes, classifier_activation, name)


__all__ = ["VGG19", "decode_predictions", "preprocess_input"]
