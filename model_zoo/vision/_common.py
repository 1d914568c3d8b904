"""Pieces the vision models and their converters share: eager building, activations and
array layouts (HF checkpoint files are read and written by ``model_zoo.hf_checkpoint``)."""

import numpy as np

from kbridge import ops
from kbridge.backend.common import naming
from kbridge.errors import KbridgeError

PACKAGE = "kbridge_zoo"

# Hugging Face ``hidden_act`` names -> functions; HF's "gelu" is the exact (erf) GELU.
ACTIVATIONS = {
    "gelu": lambda x: ops.gelu(x, approximate=False),
    "gelu_new": lambda x: ops.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: ops.gelu(x, approximate=True),
    "relu": ops.relu,
    "silu": ops.silu,
    "swish": ops.silu,
    "tanh": ops.tanh,
}


def check_activation(name, argument="activation", error=KbridgeError):
    """``name`` if ``ACTIVATIONS`` has it; else ``error`` (converters pass ReleaseError)."""
    if name not in ACTIVATIONS:
        raise error(f"`{argument}` must be one of {sorted(ACTIVATIONS)}. "
                           f"Received: {argument}={name!r}")
    return name


def build_child(layer, input_shape):
    """Build ``layer`` now, inside its own name scope (so its variable paths nest)."""
    with naming.layer_scope(layer.name):
        layer.build(input_shape)
    layer.built = True


def torch_conv_to_kbridge(kernel):
    """``[out, in, kh, kw]`` (torch) -> ``[kh, kw, in, out]`` (kbridge, channels_last)."""
    return np.transpose(kernel, (2, 3, 1, 0))


def kbridge_conv_to_torch(kernel):
    return np.transpose(kernel, (3, 2, 0, 1))
