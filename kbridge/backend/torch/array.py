"""torch backend: array ops."""
