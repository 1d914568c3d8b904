"""kbridge.layers family module `adapter_layers` (being filled in)."""

__all__ = []
