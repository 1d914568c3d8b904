"""Name scopes (for variable paths) and unique automatic names."""

import collections
import contextlib
import contextvars
import re
import threading

from kbridge.errors import KbridgeError

_scope = contextvars.ContextVar("kbridge_name_scope", default=())
_counters = collections.defaultdict(int)
_lock = threading.Lock()


@contextlib.contextmanager
def name_scope(name):
    """Prefix the paths of Variables created inside with ``name/``."""
    token = _scope.set(_scope.get() + (name,))
    try:
        yield
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def layer_scope(name):
    """``name_scope(name)`` unless ``name`` is already the innermost scope (build re-entry)."""
    scope = _scope.get()
    if scope and scope[-1] == name:
        yield
        return
    with name_scope(name):
        yield


def current_path(name):
    return "/".join(_scope.get() + (name,))


def to_snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def uniquify(prefix):
    """``prefix``, then ``prefix_1``, ``prefix_2`` ... (per process, thread-safe)."""
    with _lock:
        n = _counters[prefix]
        _counters[prefix] += 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_uids():
    with _lock:
        _counters.clear()


def validate_name(name, what="Variable"):
    if not isinstance(name, str) or not name or "/" in name:
        raise KbridgeError(
            f"A {what} name must be a non-empty string without '/'. Received: name={name!r}"
        )
    return name
