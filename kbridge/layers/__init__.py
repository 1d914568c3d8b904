"""``kbridge.layers``: the Layer base class and every built-in layer (Keras 3 names)."""

import importlib

from kbridge.layers.input_layer import Input, InputLayer
from kbridge.layers.layer import InputSpec, Layer

# Family modules; each defines ``__all__``. Listed once here, imported on first attribute use.
_FAMILIES = (
    "core", "merging", "reshaping", "regularization", "activation_layers", "convolution",
    "pooling", "normalization", "attention", "rnn", "preprocessing", "operation",
    "image_augmentation", "text_vectorization", "audio_preprocessing", "conv_lstm",
    "adaptive_pooling", "wrapper", "reversible_embedding", "adapter_layers", "serialization",
)
_loaded = False


def _load_all():
    global _loaded
    if not _loaded:
        for family in _FAMILIES:
            module = importlib.import_module(f"kbridge.layers.{family}")
            for name in getattr(module, "__all__", ()):
                globals()[name] = getattr(module, name)
        _loaded = True


def __getattr__(name):
    _load_all()
    if name in globals():
        return globals()[name]
    raise AttributeError(f"module 'kbridge.layers' has no attribute {name!r}")


def __dir__():
    _load_all()
    return sorted(globals())
