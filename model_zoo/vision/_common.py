"""Pieces the vision models and their converters share: eager building, activations, and
reading / writing Hugging Face checkpoint directories with numpy only."""

import json
import os

import numpy as np

from kbridge import ops
from kbridge.backend.common import naming
from kbridge.errors import KbridgeError
from kbridge.hub.errors import ReleaseError

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


# --- Hugging Face checkpoints ------------------------------------------------------------
def read_hf_checkpoint(directory):
    """``(config dict, {name: np.ndarray})`` of an HF checkpoint directory (safetensors)."""
    from kbridge.hub import release

    directory = os.fspath(directory)
    config = release.read_json(os.path.join(directory, release.CONFIG_FILE))
    if not (os.path.exists(os.path.join(directory, release.WEIGHTS_FILE))
            or os.path.exists(os.path.join(directory, release.INDEX_FILE))):
        present = sorted(f for f in os.listdir(directory) if f.endswith((".bin", ".h5", ".pt")))
        hint = (f" It holds {present}: convert them to safetensors first (e.g. transformers' "
                "`model.save_pretrained(dir, safe_serialization=True)`)." if present else "")
        raise ReleaseError(f"{directory}: no model.safetensors or model.safetensors.index.json."
                           + hint)
    return config, release.read_weights(directory)


def assign_checkpoint(model, arrays, directory):
    """Assign ``{path: array}`` to ``model`` (cast to each variable's dtype), checked."""
    from kbridge.hub import release

    variables = release.weight_map(model)
    arrays = {k: np.ascontiguousarray(a, dtype=variables[k].dtype) if k in variables else a
              for k, a in arrays.items()}
    release.assign_weights(model, arrays, where=os.path.basename(os.path.normpath(directory)))
    return model


def model_arrays(model):
    """``{path: np.ndarray}`` of a model's weights."""
    from kbridge.hub import release

    return {k: np.asarray(v.numpy()) for k, v in release.weight_map(model).items()}


def write_hf_checkpoint(directory, hf_config, hf_arrays):
    """Write ``config.json`` + ``model.safetensors`` (torch metadata) into ``directory``.

    (``safetensors_io.write`` makes strided arrays contiguous itself, keeping 0-d shapes
    such as ``num_batches_tracked``, which ``np.ascontiguousarray`` would turn into ``(1,)``.)
    """
    from kbridge.hub import release, safetensors_io

    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, release.CONFIG_FILE), "w") as f:
        json.dump(hf_config, f, indent=2, sort_keys=True)
        f.write("\n")
    safetensors_io.write(os.path.join(directory, release.WEIGHTS_FILE), hf_arrays,
                         {"format": "pt"})
    return directory


def strip_prefix(arrays, prefixes):
    """Drop a task model's prefix (``vit.``, ``resnet.``) from the weight names."""
    out = {}
    for key, value in arrays.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        out[key] = value
    return out


def pop(arrays, key, what):
    try:
        return arrays.pop(key)
    except KeyError:
        raise ReleaseError(f"{what} checkpoint: weight {key!r} is missing (is this a {what} "
                           "checkpoint?)") from None


def torch_conv_to_kbridge(kernel):
    """``[out, in, kh, kw]`` (torch) -> ``[kh, kw, in, out]`` (kbridge, channels_last)."""
    return np.transpose(kernel, (2, 3, 1, 0))


def kbridge_conv_to_torch(kernel):
    return np.transpose(kernel, (3, 2, 0, 1))
