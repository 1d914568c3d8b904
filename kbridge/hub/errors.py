"""Errors of the hub."""

from kbridge.errors import KbridgeError


class ReleaseError(KbridgeError, ValueError):
    """A release (or checkpoint) is malformed, corrupt, or does not fit its architecture.

    The message names the file and the problem.
    """
