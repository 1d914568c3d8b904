"""jax backend: random ops."""
