"""kbridge.utils submodule `feature_space` (being filled in)."""

__all__ = []
