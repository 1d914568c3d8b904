"""Hugging Face CLIP checkpoints <-> :class:`~model_zoo.multimodal.clip.CLIPModel`.

``load_hf_clip(directory, backend)`` reads a ``CLIPModel`` checkpoint (``model_type: "clip"``:
``config.json`` with ``text_config`` / ``vision_config``, and ``model.safetensors``) and returns
the model on ``backend``; importing ``model_zoo`` registers it with ``kbridge.hub``.
``export_clip_to_hf(model, directory)`` writes a ``CLIPModel`` checkpoint back. HF linear
weights are ``[out, in]`` (transposed here); the patch convolution ``[out, in, kh, kw]``
becomes kbridge's ``[kh, kw, in, out]``. The ``position_ids`` buffers older checkpoints carry
are skipped.
"""

from kbridge.hub.errors import ReleaseError
from model_zoo import hf_checkpoint
from model_zoo._blocks import export_hf
from model_zoo.vision import _common

__all__ = ["config_from_hf", "config_to_hf", "detect", "export_clip_to_hf",
           "hf_to_kbridge_weights", "kbridge_to_hf_weights", "load_hf_clip", "register"]

# HF sub-config key -> (tower argument, CLIPTextConfig / CLIPVisionConfig default).
_TEXT_KEYS = {
    "vocab_size": ("vocabulary_size", 49408),
    "max_position_embeddings": ("max_sequence_length", 77), "hidden_size": ("hidden_dim", 512),
    "num_hidden_layers": ("num_layers", 12), "num_attention_heads": ("num_heads", 8),
    "intermediate_size": ("intermediate_dim", 2048), "hidden_act": ("activation", "quick_gelu"),
    "layer_norm_eps": ("layer_norm_epsilon", 1e-5), "eos_token_id": ("eos_token_id", 49407),
    "initializer_range": ("initializer_range", 0.02),
}
_VISION_KEYS = {
    "image_size": ("image_size", 224), "patch_size": ("patch_size", 32),
    "num_channels": ("num_channels", 3), "hidden_size": ("hidden_dim", 768),
    "num_hidden_layers": ("num_layers", 12), "num_attention_heads": ("num_heads", 12),
    "intermediate_size": ("intermediate_dim", 3072), "hidden_act": ("activation", "quick_gelu"),
    "layer_norm_eps": ("layer_norm_epsilon", 1e-5),
    "initializer_range": ("initializer_range", 0.02),
}
# (HF name inside a block, kbridge path inside layer_i, kind).
_BLOCK = tuple(
    [(f"self_attn.{p}.{w}", f"self_attn/{p}/{ours}", kind)
     for p in ("q_proj", "k_proj", "v_proj", "out_proj")
     for w, ours, kind in (("weight", "kernel", "linear"), ("bias", "bias", "copy"))]
    + [(f"mlp.{p}.{w}", f"mlp/{p}/{ours}", kind) for p in ("fc1", "fc2")
       for w, ours, kind in (("weight", "kernel", "linear"), ("bias", "bias", "copy"))]
    + [(f"{n}.{w}", f"{n}/{ours}", "copy") for n in ("layer_norm1", "layer_norm2")
       for w, ours in (("weight", "gamma"), ("bias", "beta"))])


def detect(path, config):
    """True for a Hugging Face CLIP checkpoint directory (``model_type: "clip"``)."""
    return isinstance(config, dict) and config.get("model_type") == "clip"


def _sub(hf_config, key, keys):
    sub = hf_config.get(key) or {}
    if not isinstance(sub, dict):
        raise ReleaseError(f"config.json: {key} must be an object. Received: {type(sub).__name__}")
    config = {ours: sub.get(theirs, default) for theirs, (ours, default) in keys.items()}
    from model_zoo.multimodal.clip import ACTIVATIONS

    if config["activation"] not in ACTIVATIONS:
        raise ReleaseError(f"config.json: {key}.hidden_act must be one of {sorted(ACTIVATIONS)}"
                           f". Received: {config['activation']!r}")
    if not isinstance(config.get("eos_token_id", 0), int):
        raise ReleaseError(f"config.json: {key}.eos_token_id must be an int. Received: "
                           f"{config['eos_token_id']!r}")
    return config


def config_from_hf(hf_config):
    """``CLIPModel`` keyword arguments from an HF CLIP ``config.json`` dict."""
    return {"text_config": _sub(hf_config, "text_config", _TEXT_KEYS),
            "vision_config": _sub(hf_config, "vision_config", _VISION_KEYS),
            "projection_dim": hf_config.get("projection_dim", 512),
            "logit_scale_init_value": hf_config.get("logit_scale_init_value", 2.6592)}


def config_to_hf(config):
    """An HF ``config.json`` dict (``CLIPModel``) for a ``CLIPModel`` config."""
    text = {theirs: config["text_config"][ours] for theirs, (ours, _) in _TEXT_KEYS.items()}
    vision = {theirs: config["vision_config"][ours]
              for theirs, (ours, _) in _VISION_KEYS.items()}
    text.update(model_type="clip_text_model", projection_dim=config["projection_dim"],
                pad_token_id=1, bos_token_id=0 if text["eos_token_id"] == 2 else 49406)
    vision.update(model_type="clip_vision_model", projection_dim=config["projection_dim"])
    return {"architectures": ["CLIPModel"], "model_type": "clip", "text_config": text,
            "vision_config": vision, "projection_dim": config["projection_dim"],
            "logit_scale_init_value": config["logit_scale_init_value"]}


def _weight_table(config):
    """``[(hf_name, kbridge_path, kind)]`` for every weight of a ``CLIPModel``."""
    table = [
        ("text_model.embeddings.token_embedding.weight",
         "text_model/token_embedding/embeddings", "copy"),
        ("text_model.embeddings.position_embedding.weight", "text_model/position_embedding",
         "copy"),
        ("text_model.final_layer_norm.weight", "text_model/final_layer_norm/gamma", "copy"),
        ("text_model.final_layer_norm.bias", "text_model/final_layer_norm/beta", "copy"),
        ("vision_model.embeddings.class_embedding", "vision_model/class_embedding", "copy"),
        ("vision_model.embeddings.patch_embedding.weight",
         "vision_model/patch_embedding/kernel", "conv"),
        ("vision_model.embeddings.position_embedding.weight",
         "vision_model/position_embedding", "copy"),
        ("vision_model.pre_layrnorm.weight", "vision_model/pre_layernorm/gamma", "copy"),
        ("vision_model.pre_layrnorm.bias", "vision_model/pre_layernorm/beta", "copy"),
        ("vision_model.post_layernorm.weight", "vision_model/post_layernorm/gamma", "copy"),
        ("vision_model.post_layernorm.bias", "vision_model/post_layernorm/beta", "copy"),
        ("text_projection.weight", "text_projection/kernel", "linear"),
        ("visual_projection.weight", "visual_projection/kernel", "linear"),
        ("logit_scale", "logit_scale", "copy"),
    ]
    for tower in ("text_model", "vision_model"):
        for i in range(config[tower.replace("model", "config")]["num_layers"]):
            table.extend((f"{tower}.encoder.layers.{i}.{hf}", f"{tower}/layer_{i}/{ours}", kind)
                         for hf, ours, kind in _BLOCK)
    return table


def hf_to_kbridge_weights(arrays, config):
    """``{kbridge variable path: array}`` from HF CLIP weights ``{name: array}``."""
    arrays = {k: v for k, v in arrays.items() if not k.endswith("position_ids")}
    out = {}
    for hf, ours, kind in _weight_table(config):
        array = hf_checkpoint.pop(arrays, hf, "CLIP")
        out[ours] = (array.T if kind == "linear" else
                     _common.torch_conv_to_kbridge(array) if kind == "conv" else array)
    if arrays:
        raise ReleaseError("CLIP checkpoint: weights this architecture does not have: "
                           f"{sorted(arrays)[:5]}")
    return out


def kbridge_to_hf_weights(arrays, config):
    """The inverse of :func:`hf_to_kbridge_weights`: ``{HF name: array}`` (``CLIPModel``)."""
    out = {}
    for hf, ours, kind in _weight_table(config):
        array = arrays[ours]
        out[hf] = (array.T if kind == "linear" else
                   _common.kbridge_conv_to_torch(array) if kind == "conv" else array)
    return out


def load_hf_clip(directory, backend=None, dtype=None, name="clip", quantize=None):
    """A :class:`CLIPModel` on ``backend`` with the weights of an HF CLIP checkpoint.

    Example:
        >>> model = load_hf_clip("clip-vit-base-patch32/", backend="jax")
        >>> model.get_image_features(pixel_values).shape      # pixel_values: [B, 3, 224, 224]
        (1, 512)
    """
    from model_zoo.multimodal.clip import CLIPModel

    return hf_checkpoint.load(directory, CLIPModel, config_from_hf, hf_to_kbridge_weights,
                              backend, quantize, dtype=dtype, name=name)


def export_clip_to_hf(model, directory):
    """Write ``model`` (a :class:`CLIPModel`) as an HF ``CLIPModel`` checkpoint; returns
    ``directory``. ``transformers.CLIPModel.from_pretrained(directory)`` gives the same
    features and logits.

    Example:
        >>> export_clip_to_hf(model, "exported/")
    """
    from model_zoo.multimodal.clip import CLIPModel

    return export_hf(model, CLIPModel, "export_clip_to_hf", directory, config_to_hf,
                     kbridge_to_hf_weights, "logit_scale")


def register():
    """Register the CLIP converter with ``kbridge.hub`` (done when this module is imported)."""
    from kbridge import hub

    hub.register_checkpoint_loader("hf-clip", detect, load_hf_clip)


register()
