"""kbridge.utils submodule `file_utils` (being filled in)."""

__all__ = []
