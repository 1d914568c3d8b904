"""ResNet50V2/101V2/152V2 (pre-activation ResNets), Keras's ``keras.applications.resnet_v2``.

Example:
    >>> model = ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3))
"""

from kbridge.applications import _builder as _b
from kbridge.applications import imagenet_utils as _imagenet_utils
from kbridge.applications.resnet import _constructor


ResNet50V2 = _constructor(50, preact=True)
ResNet101V2 = _constructor(101, preact=True)
ResNet152V2 = _constructor(152, preact=True)


preprocess_input = _b.preprocess_input_for("tf")


decode_predictions = _imagenet_utils.decode_predictions
