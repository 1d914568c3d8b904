"""kbridge.layers family module `image_augmentation` (being filled in)."""

__all__ = []
