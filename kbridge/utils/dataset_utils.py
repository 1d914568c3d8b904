"""kbridge.utils submodule `dataset_utils` (being filled in)."""

__all__ = []
