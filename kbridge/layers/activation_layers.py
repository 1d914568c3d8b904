"""activation_layers layers."""

__all__ = []
