"""kbridge.layers family module `adaptive_pooling` (being filled in)."""

__all__ = []
