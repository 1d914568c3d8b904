"""kbridge.utils submodule `logging_utils` (being filled in)."""

__all__ = []
