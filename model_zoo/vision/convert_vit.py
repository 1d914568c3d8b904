"""Hugging Face ViT checkpoints <-> :class:`~model_zoo.vision.vit.ViTBackbone`.

``load_hf_vit(directory, backend)`` reads an HF ``config.json`` (``model_type: "vit"``) and
``model.safetensors`` of a ``ViTModel`` (or the ``vit.`` body of ``ViTForImageClassification``;
its classifier is not part of the backbone and is skipped) and returns the backbone on
``backend``; importing this module registers it with ``kbridge.hub``. ``export_vit_to_hf``
writes a ``ViTModel`` checkpoint back. HF linear weights are ``[out, in]`` (transposed here);
the patch convolution ``[out, in, kh, kw]`` becomes kbridge's ``[kh, kw, in, out]``.
"""

from kbridge.hub.errors import ReleaseError
from model_zoo import hf_checkpoint
from model_zoo._blocks import check_activation, export_hf
from model_zoo.vision import _common

__all__ = ["config_from_hf", "config_to_hf", "detect", "export_vit_to_hf", "load_hf_vit",
           "hf_to_kbridge_weights", "kbridge_to_hf_weights", "register"]

# HF config key -> ViTBackbone argument (HF's default when absent).
_CONFIG_KEYS = {
    "image_size": ("image_size", 224), "patch_size": ("patch_size", 16),
    "num_channels": ("num_channels", 3), "hidden_size": ("hidden_dim", 768),
    "num_hidden_layers": ("num_layers", 12), "num_attention_heads": ("num_heads", 12),
    "intermediate_size": ("intermediate_dim", 3072), "hidden_act": ("activation", "gelu"),
    "layer_norm_eps": ("layer_norm_epsilon", 1e-12), "qkv_bias": ("qkv_bias", True),
    "pooler_output_size": ("pooler_dim", None), "pooler_act": ("pooler_activation", "tanh"),
    "initializer_range": ("initializer_range", 0.02),
}
# Weights of task heads / masked-image modelling that the backbone does not use.
_SKIPPED_PREFIXES = ("classifier.", "embeddings.mask_token", "decoder.")
_LINEARS = {"attention/query": "attention.attention.query",
            "attention/key": "attention.attention.key",
            "attention/value": "attention.attention.value",
            "attention/output": "attention.output.dense",
            "intermediate": "intermediate.dense", "output": "output.dense"}
_NORMS = {"layernorm_before": "layernorm_before", "layernorm_after": "layernorm_after"}


def detect(path, config):
    """True for a Hugging Face ViT checkpoint directory (``model_type: "vit"``)."""
    return isinstance(config, dict) and config.get("model_type") == "vit"


def config_from_hf(hf_config, add_pooling_layer=True):
    """``ViTBackbone`` keyword arguments from an HF ViT ``config.json`` dict."""
    config = {ours: hf_config.get(theirs, default)
              for theirs, (ours, default) in _CONFIG_KEYS.items()}
    for key in ("activation", "pooler_activation"):
        check_activation(config[key], key, ReleaseError)
    config["add_pooling_layer"] = add_pooling_layer
    return config


def config_to_hf(config):
    """An HF ``config.json`` dict (``ViTModel``) for a ``ViTBackbone`` config."""
    hf = {"architectures": ["ViTModel"], "model_type": "vit", "hidden_dropout_prob": 0.0,
          "attention_probs_dropout_prob": 0.0}
    hf.update({theirs: config[ours] for theirs, (ours, _) in _CONFIG_KEYS.items()})
    return hf


def hf_to_kbridge_weights(arrays, config):
    """``{kbridge variable path: array}`` from HF ViT weights (``{name: array}``)."""
    arrays = {k: v for k, v in hf_checkpoint.strip_prefix(arrays, ("vit.",)).items()
              if not k.startswith(_SKIPPED_PREFIXES)}

    def pop(key):
        return hf_checkpoint.pop(arrays, key, "ViT")

    out = {"embeddings/cls_token": pop("embeddings.cls_token"),
           "embeddings/position_embeddings": pop("embeddings.position_embeddings"),
           "embeddings/projection/kernel": _common.torch_conv_to_kbridge(
               pop("embeddings.patch_embeddings.projection.weight")),
           "embeddings/projection/bias": pop("embeddings.patch_embeddings.projection.bias")}
    for i in range(config["num_layers"]):
        hf = f"encoder.layer.{i}"
        for ours, theirs in _LINEARS.items():
            out[f"layer_{i}/{ours}/kernel"] = pop(f"{hf}.{theirs}.weight").T
            if config["qkv_bias"] or ours.split("/")[-1] not in ("query", "key", "value"):
                out[f"layer_{i}/{ours}/bias"] = pop(f"{hf}.{theirs}.bias")
        for ours, theirs in _NORMS.items():
            out[f"layer_{i}/{ours}/gamma"] = pop(f"{hf}.{theirs}.weight")
            out[f"layer_{i}/{ours}/beta"] = pop(f"{hf}.{theirs}.bias")
    out["layernorm/gamma"] = pop("layernorm.weight")
    out["layernorm/beta"] = pop("layernorm.bias")
    if config["add_pooling_layer"]:
        out["pooler/kernel"] = pop("pooler.dense.weight").T
        out["pooler/bias"] = pop("pooler.dense.bias")
    if arrays:
        raise ReleaseError(f"ViT checkpoint: weights this architecture does not have: "
                           f"{sorted(arrays)[:5]}")
    return out


def kbridge_to_hf_weights(arrays, config):
    """The inverse of :func:`hf_to_kbridge_weights`: ``{HF name: array}`` (``ViTModel``)."""
    out = {"embeddings.cls_token": arrays["embeddings/cls_token"],
           "embeddings.position_embeddings": arrays["embeddings/position_embeddings"],
           "embeddings.patch_embeddings.projection.weight": _common.kbridge_conv_to_torch(
               arrays["embeddings/projection/kernel"]),
           "embeddings.patch_embeddings.projection.bias": arrays["embeddings/projection/bias"],
           "layernorm.weight": arrays["layernorm/gamma"],
           "layernorm.bias": arrays["layernorm/beta"]}
    for i in range(config["num_layers"]):
        hf = f"encoder.layer.{i}"
        for ours, theirs in _LINEARS.items():
            out[f"{hf}.{theirs}.weight"] = arrays[f"layer_{i}/{ours}/kernel"].T
            if f"layer_{i}/{ours}/bias" in arrays:
                out[f"{hf}.{theirs}.bias"] = arrays[f"layer_{i}/{ours}/bias"]
        for ours, theirs in _NORMS.items():
            out[f"{hf}.{theirs}.weight"] = arrays[f"layer_{i}/{ours}/gamma"]
            out[f"{hf}.{theirs}.bias"] = arrays[f"layer_{i}/{ours}/beta"]
    if config["add_pooling_layer"]:
        out["pooler.dense.weight"] = arrays["pooler/kernel"].T
        out["pooler.dense.bias"] = arrays["pooler/bias"]
    return out


def load_hf_vit(directory, backend=None, dtype=None, name="vit", quantize=None):
    """A :class:`ViTBackbone` on ``backend`` with the weights of an HF ViT checkpoint.

    The pooler is included when the checkpoint has one (``ViTModel``; not
    ``ViTForImageClassification``, which is built without it).

    Example:
        >>> model = load_hf_vit("vit-base-patch16-224/", backend="jax")
        >>> model(pixel_values)["last_hidden_state"].shape
        (1, 197, 768)
    """
    from model_zoo.vision.vit import ViTBackbone

    hf_config, arrays = hf_checkpoint.read(directory)
    has_pooler = any(k.endswith("pooler.dense.weight") for k in arrays)
    config = config_from_hf(hf_config, add_pooling_layer=has_pooler)
    weights = hf_to_kbridge_weights(arrays, config)
    model = hf_checkpoint.build(ViTBackbone, backend, **config, dtype=dtype, name=name)
    return hf_checkpoint.assign(model, weights, directory, quantize=quantize)


def export_vit_to_hf(model, directory):
    """Write ``model`` (a :class:`ViTBackbone`) as an HF ``ViTModel`` checkpoint; returns
    ``directory``. ``transformers.ViTModel.from_pretrained(directory)`` gives the same
    outputs (a backbone without pooler: load it with ``add_pooling_layer=False``)."""
    from model_zoo.vision.vit import ViTBackbone

    return export_hf(model, ViTBackbone, "export_vit_to_hf", directory, config_to_hf,
                     kbridge_to_hf_weights, "layernorm.weight")


def register():
    """Register the ViT converter with ``kbridge.hub`` (done when this module is imported)."""
    from kbridge import hub

    hub.register_checkpoint_loader("hf-vit", detect, load_hf_vit)


register()
