"""Pieces the zoo's models and converters share: Hugging Face activations, eager building,
multi-head attention, the settings every transformer block keeps, and checkpoint export."""

import math

import numpy as np

from kbridge import ops
from kbridge.backend.common import naming
from kbridge.errors import KbridgeError
from kbridge.hub.errors import ReleaseError
from kbridge.layers.layer import Layer
from model_zoo import hf_checkpoint

PACKAGE = "kbridge_zoo"


def quick_gelu(x):
    """``x * sigmoid(1.702 * x)``: the GELU approximation OpenAI's CLIP was trained with."""
    return ops.multiply(x, ops.sigmoid(ops.multiply(ops.cast(1.702, ops.dtype(x)), x)))


def _tanh_gelu(x):
    return ops.gelu(x, approximate=True)


# Hugging Face ``hidden_act`` / ``activation_function`` names -> functions; HF's "gelu" is the
# exact (erf) GELU.
ACTIVATIONS = {
    "gelu": lambda x: ops.gelu(x, approximate=False),
    "gelu_new": _tanh_gelu,
    "gelu_pytorch_tanh": _tanh_gelu,
    "gelu_fast": _tanh_gelu,
    "quick_gelu": quick_gelu,
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


def check_heads(hidden_dim, num_heads):
    """Raise unless ``hidden_dim`` splits evenly into ``num_heads`` heads."""
    if hidden_dim % num_heads:
        raise KbridgeError("`hidden_dim` must be a multiple of `num_heads`. Received: "
                           f"hidden_dim={hidden_dim}, num_heads={num_heads}")


def build_child(layer, input_shape):
    """Build ``layer`` now, inside its own name scope (so its variable paths nest)."""
    with naming.layer_scope(layer.name):
        layer.build(input_shape)
    layer.built = True


def split_heads(x, num_heads):
    """``[B, T, H * D]`` -> ``[B, H, T, D]``."""
    b, t, d = x.shape
    return ops.transpose(ops.reshape(x, (b, t, num_heads, d // num_heads)), (0, 2, 1, 3))


def merge_heads(x):
    """``[B, H, T, D]`` -> ``[B, T, H * D]``."""
    b, h, t, d = x.shape
    return ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (b, t, h * d))


def attend(q, k, v, allowed=None):
    """Softmax attention of ``q [B,H,T,D]`` over ``k, v [B,H,S,D]``; ``allowed [.,.,T,S]``."""
    scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
    scores = ops.divide(scores, ops.cast(math.sqrt(q.shape[-1]), ops.dtype(scores)))
    if allowed is not None:
        # `where`, not an additive bias: adding the dtype minimum would overflow to -inf.
        lowest = ops.cast(np.finfo(np.float32).min, ops.dtype(scores))
        scores = ops.where(allowed, scores, lowest)
    return ops.matmul(ops.softmax(scores, axis=-1), v)


class TransformerBlock(Layer):
    """Base of the zoo's pre-LN transformer blocks: checks, keeps and configures the settings
    they all take; a subclass makes its sublayers (with Hugging Face's names) and calls them."""

    def __init__(self, hidden_dim, num_heads, intermediate_dim, activation, layer_norm_epsilon,
                 initializer_range, **kwargs):
        super().__init__(**kwargs)
        check_heads(hidden_dim, num_heads)
        self.hidden_dim, self.num_heads = int(hidden_dim), int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.activation = check_activation(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer_range = float(initializer_range)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
                       "intermediate_dim": self.intermediate_dim, "activation": self.activation,
                       "layer_norm_epsilon": self.layer_norm_epsilon,
                       "initializer_range": self.initializer_range})
        return config


def export_config(model, model_class, exporter):
    """``model.get_config()``, after checking that ``model`` is a ``model_class`` (else a
    ReleaseError naming the ``exporter`` function)."""
    if not isinstance(model, model_class):
        raise ReleaseError(f"{exporter} expects a model_zoo {model_class.__name__}. "
                           f"Received: {type(model).__name__}")
    return model.get_config()


def write_hf(directory, hf_config, hf_arrays, dtype_of=None):
    """Write an HF checkpoint whose ``torch_dtype`` is that of ``hf_arrays[dtype_of]`` (default:
    the first array); returns ``directory``."""
    array = hf_arrays[dtype_of] if dtype_of else next(iter(hf_arrays.values()))
    return hf_checkpoint.write(directory, {**hf_config, "torch_dtype": str(array.dtype)},
                               hf_arrays)


def export_hf(model, model_class, exporter, directory, config_to_hf, to_hf, dtype_of=None):
    """Write ``model`` (a ``model_class``) as an HF checkpoint in ``directory``: its config
    through ``config_to_hf(config)``, its weights through ``to_hf(arrays, config)`` (see
    :func:`export_config` and :func:`write_hf`); returns ``directory``."""
    config = export_config(model, model_class, exporter)
    hf_arrays = to_hf(hf_checkpoint.model_arrays(model), config)
    return write_hf(directory, config_to_hf(config), hf_arrays, dtype_of)
