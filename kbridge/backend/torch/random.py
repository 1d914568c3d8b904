"""torch backend: random ops."""
