"""``kbridge.random``: seeded random ops, as in ``keras.random``."""
