"""Interactive logging: whether progress bars and training messages go to stdout.

When disabled, ``Progbar`` (and so ``fit``'s progress) writes its final lines to the Python
logger ``"kbridge"`` instead, as Keras sends them to absl logging.

Example:
    >>> kbridge.utils.disable_interactive_logging()
    >>> kbridge.utils.is_interactive_logging_enabled()
    False
"""

__all__ = [
    "disable_interactive_logging", "enable_interactive_logging",
    "is_interactive_logging_enabled",
]

_interactive = [True]


def enable_interactive_logging():
    """Progress bars write to stdout (the default)."""
    _interactive[0] = True


def disable_interactive_logging():
    """Progress bars write to the ``"kbridge"`` logger instead of stdout."""
    _interactive[0] = False


def is_interactive_logging_enabled():
    """Whether progress bars write to stdout."""
    return _interactive[0]
