"""jax backend: array ops."""
