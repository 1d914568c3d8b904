"""math ops."""

from kbridge.backend.common.dispatch import op_decorator

op = op_decorator("math")
