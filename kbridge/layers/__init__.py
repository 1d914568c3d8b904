"""``kbridge.layers``: the Layer base class and every built-in layer (Keras 3 names)."""

from kbridge.layers.input_layer import Input, InputLayer
from kbridge.layers.layer import InputSpec, Layer
from kbridge.utils import _LazyExports

# Family modules; each defines ``__all__``. Listed once here, imported on first attribute use.
_FAMILIES = (
    "core", "merging", "reshaping", "regularization", "activation_layers", "convolution",
    "pooling", "normalization", "attention", "rnn", "preprocessing", "operation",
    "image_augmentation", "text_vectorization", "audio_preprocessing", "conv_lstm",
    "adaptive_pooling", "wrapper", "reversible_embedding", "adapter_layers", "serialization",
)
_EXPORTS = _LazyExports(globals(), _FAMILIES)
_load_all = _EXPORTS.load  # kbridge.saving.registry loads every layer class through this


def __getattr__(name):
    return _EXPORTS.get(name)


def __dir__():
    return _EXPORTS.names()
