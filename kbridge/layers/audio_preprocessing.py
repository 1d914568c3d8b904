"""kbridge.layers family module `audio_preprocessing` (being filled in)."""

__all__ = []
