"""kbridge.layers family module `text_vectorization` (being filled in)."""

__all__ = []
