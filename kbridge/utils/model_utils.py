"""kbridge.utils submodule `model_utils` (being filled in)."""

__all__ = []
