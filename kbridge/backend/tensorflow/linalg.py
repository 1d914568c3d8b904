"""tensorflow backend: linalg ops."""
