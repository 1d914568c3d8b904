"""torch backend: nn ops."""
