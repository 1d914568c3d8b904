"""tensorflow backend: random ops."""
