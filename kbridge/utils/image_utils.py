"""kbridge.utils submodule `image_utils` (being filled in)."""

__all__ = []
