"""Name scopes (for variable paths) and unique automatic names (``get_uid``)."""

import collections
import contextlib
import contextvars
import re
import threading

from kbridge.errors import ArgumentError, KbridgeError

_scope = contextvars.ContextVar("kbridge_name_scope", default=())
_callers = contextvars.ContextVar("kbridge_name_scope_callers", default=())
_counters = collections.defaultdict(int)
_lock = threading.Lock()


class name_scope:  # noqa: N801 - Keras's name
    """Prefix the paths of Variables created inside with ``name/`` (Keras's ``name_scope``).

    Args:
        name: the scope name (a string without '/').
        caller: the object opening the scope; with ``deduplicate``, re-entering the innermost
            scope of the same name and caller adds no level.
        deduplicate: see ``caller``.
        override_parent: an absolute path ('a/b', or '' for the root) replacing the enclosing
            scopes.

    Example:
        >>> with kbridge.name_scope("encoder"):
        ...     v = kbridge.Variable(np.zeros(2), name="bias")
        >>> v.path
        'encoder/bias'
    """

    def __init__(self, name, caller=None, deduplicate=True, override_parent=None):
        if not isinstance(name, str) or "/" in name:
            raise ArgumentError("A name scope must be a string without '/'. "
                                f"Received: name={name!r}")
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        self._tokens = []

    def __enter__(self):
        scope, callers = _scope.get(), _callers.get()
        if (self.deduplicate and self.caller is not None and scope and scope[-1] == self.name
                and callers and callers[-1] is self.caller):
            self._tokens.append(None)
            return self
        if self.override_parent is not None:
            scope = tuple(p for p in self.override_parent.split("/") if p)
            callers = (None,) * len(scope)
        self._tokens.append((_scope.set(scope + (self.name,)),
                             _callers.set(callers + (self.caller,))))
        return self

    def __exit__(self, *exc):
        tokens = self._tokens.pop()
        if tokens is not None:
            _callers.reset(tokens[1])
            _scope.reset(tokens[0])
        return False


def current_scope_path():
    """The enclosing name scopes as 'a/b' ('' at the top)."""
    return "/".join(_scope.get())


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


def get_uid(prefix=""):
    """1, 2, 3 ... per ``prefix``; shares its counter with automatic names (after two
    ``get_uid("dense")`` calls, the next automatic Dense name is ``dense_2``, as in Keras).

    Example:
        >>> kbridge.backend.get_uid("my_block")
        1
    """
    with _lock:
        _counters[prefix] += 1
        return _counters[prefix]


def reset_uids():
    with _lock:
        _counters.clear()


def validate_name(name, what="Variable"):
    if not isinstance(name, str) or not name or "/" in name:
        raise KbridgeError(
            f"A {what} name must be a non-empty string without '/'. Received: name={name!r}"
        )
    return name
