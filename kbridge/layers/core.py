"""core layers."""

__all__ = []
