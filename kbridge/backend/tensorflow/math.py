"""tensorflow backend: math ops."""
