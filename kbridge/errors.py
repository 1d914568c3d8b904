"""The kbridge error hierarchy.

Every error kbridge raises on purpose derives from :class:`KbridgeError`. Subclasses also
derive from the builtin that callers already catch (``ValueError``, ``TypeError``,
``NotImplementedError``), so ``except ValueError`` keeps working.
"""


class KbridgeError(Exception):
    """Base class of every error kbridge raises deliberately."""


class ArgumentError(KbridgeError, ValueError):
    """An argument has a value outside what the function accepts."""


class BackendError(KbridgeError, ValueError):
    """An unknown, uninstalled or mismatched backend."""


class BackendMismatchError(KbridgeError, TypeError):
    """Tensors of two frameworks were mixed in one op."""


class ShapeError(KbridgeError, ValueError):
    """A tensor has a shape other than the one expected."""


class DTypeError(KbridgeError, TypeError):
    """A dtype is unknown or not accepted here."""


class MissingOpError(KbridgeError, NotImplementedError):
    """A backend does not implement an op (see ``kbridge.backend.common.gaps``)."""
