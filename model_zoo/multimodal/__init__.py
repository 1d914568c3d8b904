"""Multimodal models of the zoo: CLIP and its Hugging Face converter.

Importing this package registers the converter with ``kbridge.hub``, so
``kbridge.hub.load(dir, backend=B)`` reads HF ``clip`` checkpoints.

Example:
    >>> model = kbridge.hub.load("clip-vit-base-patch32/", backend="torch")
    >>> out = model({"input_ids": ids, "attention_mask": mask, "pixel_values": images})
    >>> out["logits_per_image"].shape                       # images: [B, 3, 224, 224]
    (1, 2)
"""

from model_zoo.multimodal import convert_clip
from model_zoo.multimodal.clip import CLIPModel
from model_zoo.multimodal.convert_clip import export_clip_to_hf, load_hf_clip

__all__ = ["CLIPModel", "convert_clip", "export_clip_to_hf", "load_hf_clip"]
