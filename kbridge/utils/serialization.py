"""kbridge.utils submodule `serialization` (being filled in)."""

__all__ = []
