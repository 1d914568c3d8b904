"""Reading and writing Hugging Face checkpoint directories with numpy only: the one place
every model-zoo converter (BERT, GPT-2, ViT, ResNet, ...) reads ``config.json`` and the
safetensors weights (one file or shards), assigns converted arrays to a model, and writes
a checkpoint back.

A converter is then three things of its own: ``config_from_hf`` / ``config_to_hf``, a
weight-name table, and the array layouts (transposes) of its framework of origin.
"""

import json
import os

import numpy as np

from kbridge.hub.errors import ReleaseError

__all__ = ["assign", "model_arrays", "pop", "read", "read_config", "read_weights",
           "strip_prefix", "write"]


def read_config(directory):
    """The ``config.json`` of a checkpoint directory, as a dict (ReleaseError otherwise)."""
    from kbridge.hub import release

    config = release.read_json(os.path.join(os.fspath(directory), release.CONFIG_FILE))
    if not isinstance(config, dict):
        raise ReleaseError(f"{directory}: config.json must hold a JSON object")
    return config


def read_weights(directory):
    """``{HF name: np.ndarray}`` (memory-mapped) of a checkpoint's safetensors weights,
    from ``model.safetensors`` or the shards ``model.safetensors.index.json`` names."""
    from kbridge.hub import release

    directory = os.fspath(directory)
    if not (os.path.exists(os.path.join(directory, release.WEIGHTS_FILE))
            or os.path.exists(os.path.join(directory, release.INDEX_FILE))):
        present = sorted(f for f in os.listdir(directory) if f.endswith((".bin", ".h5", ".pt")))
        hint = (f" It holds {present}: convert them to safetensors first (e.g. transformers' "
                "`model.save_pretrained(dir, safe_serialization=True)`)." if present else "")
        raise ReleaseError(f"{directory}: no model.safetensors or model.safetensors.index.json."
                           + hint)
    return release.read_weights(directory)


def read(directory):
    """``(config dict, {HF name: np.ndarray})`` of a checkpoint directory."""
    return read_config(directory), read_weights(directory)


def assign(model, arrays, directory):
    """Assign ``{path: array}`` to ``model`` (cast to each variable's dtype), checked;
    returns ``model``."""
    from kbridge.hub import release

    variables = release.weight_map(model)
    # 0-d arrays (CLIP's logit_scale) are copied: np.ascontiguousarray would make them (1,)
    arrays = {k: (np.array(a, dtype=variables[k].dtype) if np.ndim(a) == 0 else
                  np.ascontiguousarray(a, dtype=variables[k].dtype)) if k in variables else a
              for k, a in arrays.items()}
    release.assign_weights(model, arrays, where=os.path.basename(os.path.normpath(directory)))
    return model


def model_arrays(model):
    """``{path: np.ndarray}`` of a model's weights."""
    from kbridge.hub import release

    return {k: np.asarray(v.numpy()) for k, v in release.weight_map(model).items()}


def write(directory, hf_config, hf_arrays):
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
