"""Hugging Face ResNet checkpoints <-> :class:`~model_zoo.vision.resnet.ResNetBackbone`.

``load_hf_resnet(directory, backend)`` reads an HF ``config.json`` (``model_type: "resnet"``)
and ``model.safetensors`` of a ``ResNetModel`` (or the ``resnet.`` body of
``ResNetForImageClassification``; its classifier is skipped) and returns the backbone on
``backend``; importing this module registers it with ``kbridge.hub``. ``export_resnet_to_hf``
writes a ``ResNetModel`` checkpoint back. Convolutions ``[out, in, kh, kw]`` become kbridge's
``[kh, kw, in, out]``; BatchNorm weight/bias/running_mean/running_var become
gamma/beta/moving_mean/moving_variance (``num_batches_tracked`` only counts training steps).
"""

import numpy as np

from kbridge.hub.errors import ReleaseError
from model_zoo import hf_checkpoint
from model_zoo._blocks import check_activation, export_hf
from model_zoo.vision import _common

__all__ = ["config_from_hf", "config_to_hf", "detect", "export_resnet_to_hf",
           "load_hf_resnet", "hf_to_kbridge_weights", "kbridge_to_hf_weights", "register"]

# HF config key -> ResNetBackbone argument (HF's default when absent).
_CONFIG_KEYS = {
    "num_channels": ("num_channels", 3), "embedding_size": ("embedding_size", 64),
    "hidden_sizes": ("hidden_sizes", [256, 512, 1024, 2048]),
    "depths": ("depths", [3, 4, 6, 3]), "layer_type": ("layer_type", "bottleneck"),
    "hidden_act": ("activation", "relu"),
    "downsample_in_first_stage": ("downsample_in_first_stage", False),
    "downsample_in_bottleneck": ("downsample_in_bottleneck", False),
}
_BATCH_NORM = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
               "moving_variance": "running_var"}


def detect(path, config):
    """True for a Hugging Face ResNet checkpoint directory (``model_type: "resnet"``)."""
    return isinstance(config, dict) and config.get("model_type") == "resnet"


def config_from_hf(hf_config):
    """``ResNetBackbone`` keyword arguments from an HF ResNet ``config.json`` dict."""
    config = {ours: hf_config.get(theirs, default)
              for theirs, (ours, default) in _CONFIG_KEYS.items()}
    check_activation(config["activation"], "hidden_act", ReleaseError)
    if config["layer_type"] not in ("bottleneck", "basic"):
        raise ReleaseError("config.json: layer_type must be 'bottleneck' or 'basic'. "
                           f"Received: layer_type={config['layer_type']!r}")
    return config


def config_to_hf(config):
    """An HF ``config.json`` dict (``ResNetModel``) for a ``ResNetBackbone`` config."""
    hf = {"architectures": ["ResNetModel"], "model_type": "resnet"}
    hf.update({theirs: config[ours] for theirs, (ours, _) in _CONFIG_KEYS.items()})
    return hf


def _conv_layers(config):
    """``(kbridge prefix, HF prefix)`` of every conv + batch-norm pair, in model order."""
    pairs = [("embedder", "embedder.embedder")]
    in_channels = config["embedding_size"]
    n_convs = 3 if config["layer_type"] == "bottleneck" else 2
    for s, (channels, depth) in enumerate(zip(config["hidden_sizes"], config["depths"])):
        for i in range(depth):
            ours, hf = f"stage_{s}_layer_{i}", f"encoder.stages.{s}.layers.{i}"
            strides = 2 if i == 0 and (s > 0 or config["downsample_in_first_stage"]) else 1
            if i == 0 and (in_channels != channels or strides != 1):
                pairs.append((f"{ours}/shortcut", f"{hf}.shortcut"))
            pairs.extend((f"{ours}/layer_{j}", f"{hf}.layer.{j}") for j in range(n_convs))
        in_channels = channels
    return pairs


def hf_to_kbridge_weights(arrays, config):
    """``{kbridge variable path: array}`` from HF ResNet weights (``{name: array}``)."""
    arrays = {k: v for k, v in hf_checkpoint.strip_prefix(arrays, ("resnet.",)).items()
              if not k.startswith("classifier.") and not k.endswith(".num_batches_tracked")}
    out = {}
    for ours, hf in _conv_layers(config):
        out[f"{ours}/convolution/kernel"] = _common.torch_conv_to_kbridge(
            hf_checkpoint.pop(arrays, f"{hf}.convolution.weight", "ResNet"))
        for k, theirs in _BATCH_NORM.items():
            out[f"{ours}/normalization/{k}"] = hf_checkpoint.pop(
                arrays, f"{hf}.normalization.{theirs}", "ResNet")
    if arrays:
        raise ReleaseError(f"ResNet checkpoint: weights this architecture does not have: "
                           f"{sorted(arrays)[:5]}")
    return out


def kbridge_to_hf_weights(arrays, config):
    """The inverse of :func:`hf_to_kbridge_weights`: ``{HF name: array}`` (``ResNetModel``)."""
    out = {}
    for ours, hf in _conv_layers(config):
        out[f"{hf}.convolution.weight"] = _common.kbridge_conv_to_torch(
            arrays[f"{ours}/convolution/kernel"])
        for k, theirs in _BATCH_NORM.items():
            out[f"{hf}.normalization.{theirs}"] = arrays[f"{ours}/normalization/{k}"]
        out[f"{hf}.normalization.num_batches_tracked"] = np.zeros((), np.int64)
    return out


def load_hf_resnet(directory, backend=None, dtype=None, name="resnet", quantize=None):
    """A :class:`ResNetBackbone` on ``backend`` with the weights of an HF ResNet checkpoint.

    Example:
        >>> model = load_hf_resnet("resnet-50/", backend="torch")
        >>> model(pixel_values)["pooler_output"].shape
        (1, 2048, 1, 1)
    """
    from model_zoo.vision.resnet import ResNetBackbone

    return hf_checkpoint.load(directory, ResNetBackbone, config_from_hf, hf_to_kbridge_weights,
                              backend, quantize, dtype=dtype, name=name)


def export_resnet_to_hf(model, directory):
    """Write ``model`` (a :class:`ResNetBackbone`) as an HF ``ResNetModel`` checkpoint;
    returns ``directory``."""
    from model_zoo.vision.resnet import ResNetBackbone

    return export_hf(model, ResNetBackbone, "export_resnet_to_hf", directory, config_to_hf,
                     kbridge_to_hf_weights, "embedder.embedder.convolution.weight")


def register():
    """Register the ResNet converter with ``kbridge.hub`` (done when this module is
    imported)."""
    from kbridge import hub

    hub.register_checkpoint_loader("hf-resnet", detect, load_hf_resnet)


register()
