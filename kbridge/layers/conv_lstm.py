"""kbridge.layers family module `conv_lstm` (being filled in)."""

__all__ = []
