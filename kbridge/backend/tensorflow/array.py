"""tensorflow backend: array ops."""
