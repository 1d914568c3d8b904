"""numpy backend: math ops."""
