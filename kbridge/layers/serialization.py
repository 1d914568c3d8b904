"""kbridge.layers family module `serialization` (being filled in)."""

__all__ = []
