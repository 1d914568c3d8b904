"""numpy backend: image ops."""
