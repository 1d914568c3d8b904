"""Optional dependencies, imported where they are needed."""

import importlib


def require(module, message, error=ImportError):
    """The module named ``module`` (dotted), or ``error(message)`` where it is not installed:
    ``message`` says what needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise error(message) from None
