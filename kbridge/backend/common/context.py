"""Which backend is active: a process default plus a context-variable override.

The override is a :class:`contextvars.ContextVar`, so ``with kbridge.backend.use("jax")``
is scoped to the current thread / asyncio task and never leaks into another.

Above both sits a per-thread *forced* backend, a plain attribute: layer calls on the plain
path (``kbridge.layers.layer.enter_plain_calls``, used by ``TorchModule.forward``) set it
instead of the context variable, because ``torch.compile`` cannot trace
``ContextVar.set``.
"""

import contextlib
import contextvars
import importlib.util
import os
import threading

from kbridge.errors import BackendError

BACKENDS = ("numpy", "jax", "torch", "tensorflow")
# Import names whose presence makes a backend available (checked without importing).
_IMPORT_NAMES = {"numpy": "numpy", "jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}
_DEFAULT_ORDER = ("jax", "torch", "tensorflow", "numpy")
_ALIASES = {"tf": "tensorflow", "np": "numpy", "pytorch": "torch"}

_override = contextvars.ContextVar("kbridge_backend", default=None)


class _Forced(threading.local):
    def __init__(self):
        self.name = None


_forced = _Forced()
_process_default = None
_available_cache = None


def available():
    """Backends whose framework is installed, in the canonical order.

    Example:
        >>> kbridge.backend.available()
        ['numpy', 'jax', 'torch', 'tensorflow']
    """
    global _available_cache
    if _available_cache is None:
        _available_cache = [
            name for name in BACKENDS if importlib.util.find_spec(_IMPORT_NAMES[name]) is not None
        ]
    return list(_available_cache)


def standardize_name(name):
    """Canonical backend name for ``name`` (accepts 'tf', 'np', 'pytorch')."""
    if not isinstance(name, str):
        raise BackendError(
            f"A backend name must be one of {list(BACKENDS)}. Received: {name!r}"
        )
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in BACKENDS:
        raise BackendError(
            f"Unknown backend {name!r}. Expected one of {list(BACKENDS)}."
        )
    return key


def _check_installed(name):
    if name not in available():
        raise BackendError(
            f"Backend {name!r} is not installed. Installed backends: {available()}. "
            f"Install it with `pip install kbridge[{name}]`."
        )
    return name


def _initial_default():
    env = os.environ.get("KBRIDGE_BACKEND", "").strip()
    if env and env.lower() != "auto":
        return _check_installed(standardize_name(env))
    found = available()
    for name in _DEFAULT_ORDER:
        if name in found:
            return name
    return "numpy"


def auto_requested():
    """Whether ``KBRIDGE_BACKEND=auto`` asks ``fit`` to train on the backend that
    :func:`kbridge.backend.fastest` measures fastest for the model (models are still built
    on the default backend, the first installed of jax, torch, tensorflow, numpy)."""
    return os.environ.get("KBRIDGE_BACKEND", "").strip().lower() == "auto"


def forced():
    """The backend forced on this thread by the plain layer-call path, or None."""
    return _forced.name


def force(name):
    """Force ``name`` (a canonical backend name, or None to stop) on this thread: it wins
    over ``use`` blocks opened outside and the process default. Plain attribute write, so
    ``torch.compile`` traces it; callers restore the previous value themselves."""
    _forced.name = name


def get():
    """Name of the active backend (forced, else scoped override, else the process default)."""
    name = _forced.name
    if name is not None:
        return name
    name = _override.get()
    if name is not None:
        return name
    global _process_default
    if _process_default is None:
        _process_default = _initial_default()
    return _process_default


def set(name):  # noqa: A001 - mirrors the public ``kbridge.backend.set``
    """Set the process-wide default backend (scoped ``use`` blocks still win)."""
    global _process_default
    _process_default = _check_installed(standardize_name(name))


@contextlib.contextmanager
def use(name):
    """Make ``name`` the active backend inside a ``with`` block (thread-safe).

    Example:
        >>> with kbridge.backend.use("torch"):
        ...     x = kbridge.ops.ones((2, 2))   # a torch.Tensor
    """
    canonical = _check_installed(standardize_name(name))
    previous = _forced.name
    if previous is not None:  # inside a plain-path layer call: scope the forced backend
        _forced.name = canonical
        try:
            yield name
        finally:
            _forced.name = previous
        return
    token = _override.set(canonical)
    try:
        yield name
    finally:
        _override.reset(token)


class ContextScope:
    """Base of the scope objects that are the value of a context variable (``_var``, set by
    each subclass) for the extent of a ``with`` block; entries nest and unwind in order."""

    _var = None

    def __enter__(self):
        self.__dict__.setdefault("_tokens", []).append(self._var.set(self))
        return self

    def __exit__(self, *exc):
        self._var.reset(self._tokens.pop())
        return False
