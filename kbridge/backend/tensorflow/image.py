"""tensorflow backend: image ops."""
