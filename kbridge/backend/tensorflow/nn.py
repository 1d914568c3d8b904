"""tensorflow backend: nn ops."""
