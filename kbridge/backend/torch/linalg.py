"""torch backend: linalg ops."""
