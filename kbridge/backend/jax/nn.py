"""jax backend: nn ops."""
