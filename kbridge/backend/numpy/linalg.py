"""numpy backend: linalg ops."""
