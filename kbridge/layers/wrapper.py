"""kbridge.layers family module `wrapper` (being filled in)."""

__all__ = []
