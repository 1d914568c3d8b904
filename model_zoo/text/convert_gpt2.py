"""Hugging Face GPT-2 checkpoints <-> :class:`~model_zoo.text.gpt2.GPT2CausalLM`.

``load_hf_gpt2(directory, backend)`` reads an HF ``config.json`` (``model_type: "gpt2"``) and
``model.safetensors`` (or shards + ``model.safetensors.index.json``) of a ``GPT2LMHeadModel``
or ``GPT2Model`` and returns the causal LM on ``backend``. Importing this module registers it
with ``kbridge.hub.register_checkpoint_loader``, so ``kbridge.hub.load(dir, backend=B)`` does
the same. ``export_gpt2_to_hf(model, directory)`` writes the model back in HF's layout
(``transformers.GPT2LMHeadModel`` loads it and gives the same logits).

GPT-2's projections are HF ``Conv1D`` modules whose weights are already ``[in, out]`` -- the
layout of a kbridge Dense kernel -- so no weight is transposed. The LM head is tied to the
token embedding: HF checkpoints omit ``lm_head.weight`` (or hold a copy equal to ``wte``).

Only numpy (and kbridge's own safetensors reader/writer) is needed: no torch, no transformers.
"""

import numpy as np

from kbridge.hub.errors import ReleaseError
from model_zoo import hf_checkpoint
from model_zoo._blocks import export_hf

__all__ = ["config_from_hf", "config_to_hf", "detect", "export_gpt2_to_hf", "load_hf_gpt2",
           "hf_to_kbridge_weights", "kbridge_to_hf_weights", "register"]

# HF config key -> GPT2CausalLM argument, and HF's defaults.
_CONFIG_KEYS = {
    "vocab_size": "vocabulary_size",
    "n_layer": "num_layers",
    "n_head": "num_heads",
    "n_embd": "hidden_dim",
    "n_inner": "intermediate_dim",
    "n_positions": "max_sequence_length",
    "activation_function": "activation",
    "layer_norm_epsilon": "layer_norm_epsilon",
    "initializer_range": "initializer_range",
}
_HF_DEFAULTS = {"vocab_size": 50257, "n_layer": 12, "n_head": 12, "n_embd": 768, "n_inner": None,
                "n_positions": 1024, "activation_function": "gelu_new",
                "layer_norm_epsilon": 1e-5, "initializer_range": 0.02}
# Variants of the architecture this model does not implement: flag -> the value it needs.
_UNSUPPORTED = {"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
                "reorder_and_upcast_attn": False, "add_cross_attention": False,
                "tie_word_embeddings": True}
# Non-weights some checkpoints carry: the causal-mask buffers of older transformers versions.
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")


def detect(path, config):
    """True for a Hugging Face GPT-2 checkpoint directory (``model_type: "gpt2"``)."""
    return isinstance(config, dict) and config.get("model_type") == "gpt2"


def config_from_hf(hf_config):
    """``GPT2CausalLM`` keyword arguments from an HF GPT-2 ``config.json`` dict."""
    from model_zoo.text.gpt2 import ACTIVATIONS

    for flag, needed in _UNSUPPORTED.items():
        value = hf_config.get(flag, needed)
        if value != needed:
            raise ReleaseError(f"config.json: GPT-2 with {flag}={value!r} is not supported "
                               f"(kbridge's GPT2CausalLM implements {flag}={needed!r})")
    act = hf_config.get("activation_function", "gelu_new")
    if act not in ACTIVATIONS:
        raise ReleaseError(f"config.json: activation_function must be one of "
                           f"{sorted(ACTIVATIONS)}. Received: activation_function={act!r}")
    return {ours: hf_config.get(theirs, _HF_DEFAULTS[theirs])
            for theirs, ours in _CONFIG_KEYS.items()}


def config_to_hf(config):
    """An HF ``config.json`` dict (``GPT2LMHeadModel``) for a ``GPT2CausalLM`` config."""
    hf = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
          "tie_word_embeddings": True, "scale_attn_weights": True,
          "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
          "n_ctx": config["max_sequence_length"]}
    hf.update({theirs: config[ours] for theirs, ours in _CONFIG_KEYS.items()})
    return hf


def _strip(key):
    # GPT2LMHeadModel prefixes the body with "transformer."; GPT2Model has no prefix.
    return key[len("transformer."):] if key.startswith("transformer.") else key


def hf_to_kbridge_weights(arrays, config):
    """``{kbridge variable path: array}`` from HF GPT-2 weights (``{name: array}``)."""
    arrays = {_strip(k): v for k, v in arrays.items() if not k.endswith(_IGNORED_SUFFIXES)}
    head = arrays.pop("lm_head.weight", None)
    out = {}
    try:
        out["wte/embeddings"] = arrays.pop("wte.weight")
        out["wpe/embeddings"] = arrays.pop("wpe.weight")
        for i in range(config["num_layers"]):
            for hf, ours in ((f"h.{i}.ln_1", f"h_{i}/ln_1"), (f"h.{i}.ln_2", f"h_{i}/ln_2")):
                out[f"{ours}/gamma"] = arrays.pop(f"{hf}.weight")
                out[f"{ours}/beta"] = arrays.pop(f"{hf}.bias")
            for hf, ours in (("attn.c_attn", "attn/c_attn"), ("attn.c_proj", "attn/c_proj"),
                             ("mlp.c_fc", "mlp/c_fc"), ("mlp.c_proj", "mlp/c_proj")):
                out[f"h_{i}/{ours}/kernel"] = arrays.pop(f"h.{i}.{hf}.weight")  # [in, out]
                out[f"h_{i}/{ours}/bias"] = arrays.pop(f"h.{i}.{hf}.bias")
        out["ln_f/gamma"] = arrays.pop("ln_f.weight")
        out["ln_f/beta"] = arrays.pop("ln_f.bias")
    except KeyError as e:
        raise ReleaseError(f"GPT-2 checkpoint: weight {e.args[0]!r} is missing (is this a "
                           "GPT-2 checkpoint?)") from None
    if arrays:
        raise ReleaseError(f"GPT-2 checkpoint: weights this architecture does not have: "
                           f"{sorted(arrays)[:5]}")
    if head is not None and not np.array_equal(np.asarray(head), np.asarray(out["wte/embeddings"])):
        raise ReleaseError("GPT-2 checkpoint: lm_head.weight differs from wte.weight; only the "
                           "tied head (tie_word_embeddings=True) is supported")
    return out


def kbridge_to_hf_weights(arrays, config):
    """The inverse of :func:`hf_to_kbridge_weights`: ``{HF name: array}``
    (``GPT2LMHeadModel`` names; the tied ``lm_head.weight`` is left out, as HF saves it)."""
    out = {"transformer.wte.weight": arrays["wte/embeddings"],
           "transformer.wpe.weight": arrays["wpe/embeddings"],
           "transformer.ln_f.weight": arrays["ln_f/gamma"],
           "transformer.ln_f.bias": arrays["ln_f/beta"]}
    for i in range(config["num_layers"]):
        hf = f"transformer.h.{i}"
        for norm in ("ln_1", "ln_2"):
            out[f"{hf}.{norm}.weight"] = arrays[f"h_{i}/{norm}/gamma"]
            out[f"{hf}.{norm}.bias"] = arrays[f"h_{i}/{norm}/beta"]
        for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            ours = name.replace(".", "/")
            out[f"{hf}.{name}.weight"] = arrays[f"h_{i}/{ours}/kernel"]
            out[f"{hf}.{name}.bias"] = arrays[f"h_{i}/{ours}/bias"]
    return out



def load_hf_gpt2(directory, backend=None, dtype=None, name="gpt2", quantize=None):
    """A :class:`GPT2CausalLM` on ``backend`` with the weights of an HF GPT-2 checkpoint.

    Args:
        directory: holds ``config.json`` and ``model.safetensors`` (or shards + index).
        backend: "numpy", "jax", "torch" or "tensorflow" (default: the active backend).
        dtype: variable dtype (default float32; half-precision checkpoints are upcast).
        name: the model's name.

    Example:
        >>> model = load_hf_gpt2("gpt2/", backend="torch")
        >>> model.generate(np.array([[464, 3290]]), max_new_tokens=8)
    """
    from model_zoo.text.gpt2 import GPT2CausalLM

    return hf_checkpoint.load(directory, GPT2CausalLM, config_from_hf, hf_to_kbridge_weights,
                              backend, quantize, dtype=dtype, name=name)


def export_gpt2_to_hf(model, directory):
    """Write ``model`` (a :class:`GPT2CausalLM`) as an HF GPT-2 checkpoint in ``directory``.

    Writes ``config.json`` and ``model.safetensors`` with ``transformers.GPT2LMHeadModel``'s
    names; ``GPT2LMHeadModel.from_pretrained(directory)`` gives the same logits. Returns
    ``directory``.

    Example:
        >>> export_gpt2_to_hf(model, "exported/")
        >>> transformers.GPT2LMHeadModel.from_pretrained("exported/")
    """
    from model_zoo.text.gpt2 import GPT2CausalLM

    return export_hf(model, GPT2CausalLM, "export_gpt2_to_hf", directory, config_to_hf,
                     kbridge_to_hf_weights, "transformer.wte.weight")


def register():
    """Register the GPT-2 converter with ``kbridge.hub`` (done when this module is imported)."""
    from kbridge import hub

    hub.register_checkpoint_loader("hf-gpt2", detect, load_hf_gpt2)


register()
