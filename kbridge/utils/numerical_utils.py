"""kbridge.utils submodule `numerical_utils` (being filled in)."""

__all__ = []
