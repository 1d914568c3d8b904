"""The JAX backend."""

NAME = "jax"
