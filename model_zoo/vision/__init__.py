"""Vision models of the zoo: ViT and ResNet backbones and their Hugging Face converters.

Importing this package registers the converters with ``kbridge.hub``, so
``kbridge.hub.load(dir, backend=B)`` reads HF ``vit`` and ``resnet`` checkpoints.

Example:
    >>> model = kbridge.hub.load("vit-checkpoint/", backend="torch")
    >>> model(pixel_values)["last_hidden_state"].shape   # pixel_values: [B, C, H, W]
"""

from model_zoo.vision import convert_resnet, convert_vit
from model_zoo.vision.convert_resnet import export_resnet_to_hf, load_hf_resnet
from model_zoo.vision.convert_vit import export_vit_to_hf, load_hf_vit
from model_zoo.vision.resnet import ResNetBackbone
from model_zoo.vision.vit import ViTBackbone

__all__ = ["ResNetBackbone", "ViTBackbone", "convert_resnet", "convert_vit",
           "export_resnet_to_hf", "export_vit_to_hf", "load_hf_resnet", "load_hf_vit"]
