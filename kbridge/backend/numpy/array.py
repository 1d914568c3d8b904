"""numpy backend: array ops."""
