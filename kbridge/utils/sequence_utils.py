"""kbridge.utils submodule `sequence_utils` (being filled in)."""

__all__ = []
