"""kbridge.layers family module `reversible_embedding` (being filled in)."""

__all__ = []
