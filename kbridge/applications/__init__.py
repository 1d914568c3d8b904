"""``kbridge.applications``: Keras's image-classification architectures on kbridge layers.

Same module names, constructors, signatures, layer names and weight order as
``keras.applications`` (Keras 3.15), so Keras's weight files load: ``weights=None`` (random),
a path to a ``.h5`` / ``.weights.h5`` file, or ``"imagenet"`` (read from Keras's cache,
``~/.keras/models``; kbridge does not download). Modules load on first use.

Example:
    >>> model = kbridge.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3),
    ...                                          classes=10)
"""

import importlib as _importlib

_MODULES = (
    "convnext", "densenet", "efficientnet", "efficientnet_v2", "imagenet_utils",
    "inception_resnet_v2", "inception_v3", "mobilenet", "mobilenet_v2", "mobilenet_v3",
    "nasnet", "resnet", "resnet50", "resnet_v2", "vgg16", "vgg19", "xception",
)
_CONSTRUCTORS = {
    "convnext": ("ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny",
                 "ConvNeXtXLarge"),
    "densenet": ("DenseNet121", "DenseNet169", "DenseNet201"),
    "efficientnet": tuple(f"EfficientNetB{i}" for i in range(8)),
    "efficientnet_v2": ("EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2",
                        "EfficientNetV2B3", "EfficientNetV2L", "EfficientNetV2M",
                        "EfficientNetV2S"),
    "inception_resnet_v2": ("InceptionResNetV2",),
    "inception_v3": ("InceptionV3",),
    "mobilenet": ("MobileNet",),
    "mobilenet_v2": ("MobileNetV2",),
    "mobilenet_v3": ("MobileNetV3Large", "MobileNetV3Small"),
    "nasnet": ("NASNetLarge", "NASNetMobile"),
    "resnet": ("ResNet101", "ResNet152", "ResNet50"),
    "resnet_v2": ("ResNet101V2", "ResNet152V2", "ResNet50V2"),
    "vgg16": ("VGG16",),
    "vgg19": ("VGG19",),
    "xception": ("Xception",),
}
_OWNER = {name: module for module, names in _CONSTRUCTORS.items() for name in names}


def __getattr__(name):
    if name in _MODULES:
        value = _importlib.import_module(f"kbridge.applications.{name}")
    elif name in _OWNER:
        value = getattr(_importlib.import_module(f"kbridge.applications.{_OWNER[name]}"), name)
    else:
        raise AttributeError(f"module 'kbridge.applications' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(_MODULES) | set(_OWNER))


__all__ = sorted(set(_MODULES) | set(_OWNER))
