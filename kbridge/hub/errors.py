"""Errors of the hub."""

from kbridge.errors import KbridgeError

# A release is hostile input: whatever it holds, an error about it stays readable.
MAX_MESSAGE = 500


def bounded(message, limit=MAX_MESSAGE):
    """``message`` cut in the middle to at most ``limit`` characters."""
    message = str(message)
    if len(message) <= limit:
        return message
    keep = (limit - 5) // 2
    return f"{message[:keep]} ... {message[-keep:]}"


class ReleaseError(KbridgeError, ValueError):
    """A release (or checkpoint) is malformed, corrupt, or does not fit its architecture.

    The message names the file and the problem, in at most ``MAX_MESSAGE`` characters
    (a longer one is cut in the middle, so both the file and the problem stay).
    """

    def __init__(self, message=""):
        super().__init__(bounded(message))
