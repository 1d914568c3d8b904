"""``kbridge.optimizers.legacy``: the Keras 2 optimizer names, which Keras 3 (and so kbridge)
no longer supports. Each name exists so that old code fails with a clear message.

Example:
    >>> kbridge.optimizers.legacy.Adam()   # ImportError: use kbridge.optimizers.Adam
"""

from kbridge.errors import KbridgeError


class LegacyOptimizerError(KbridgeError, ImportError):
    """A ``kbridge.optimizers.legacy`` optimizer was created."""


class _LegacyOptimizer:
    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        replacement = f"kbridge.optimizers.{name}" if name != "Optimizer" else (
            "a kbridge.optimizers optimizer")
        raise LegacyOptimizerError(
            f"`kbridge.optimizers.legacy.{name}` is not supported: kbridge follows Keras 3, "
            f"which dropped the legacy (Keras 2) optimizers. Use {replacement} instead; its "
            "arguments are Keras 3's (e.g. no `decay`: pass a learning-rate schedule).")


def _legacy(name):
    return type(name, (_LegacyOptimizer,), {"__module__": __name__,
                                            "__doc__": f"Unsupported: use kbridge.optimizers."
                                                       f"{name}."})


Adagrad = _legacy("Adagrad")
Adam = _legacy("Adam")
Ftrl = _legacy("Ftrl")
Optimizer = _legacy("Optimizer")
RMSprop = _legacy("RMSprop")
SGD = _legacy("SGD")

__all__ = ["SGD", "Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop"]
