"""One implementation for several backends.

Code that reads the same on more than one framework is written once, as a *shared module* in
``kbridge/backend/shared/``: ops composed of other ops (most of ``image``, the composite ``nn``
and ``linalg`` ops, windows and padding helpers), and numpy-like code that is the same over
``numpy`` and ``jax.numpy``. A backend module includes it, then defines below the include only
what its framework does differently::

    # kbridge/backend/jax/image.py
    import jax.numpy as jnp
    from kbridge.backend.common.shared import include

    include("image", globals(), xp=jnp)

    def resize(images, size, ...):  # jax.image.resize is one fused kernel
        ...

:func:`include` runs the shared module's code *in the backend module's namespace*. The shared
functions are then functions of that backend module: they see its bindings (``xp``) and call
its overrides (a shared ``ssim`` that calls ``resize`` calls the jax ``resize`` above), and they
cost exactly what a function written in the backend module costs — no namespace object, no
dispatch.

A shared module names what it needs from its includer at the top, with :func:`bound`::

    xp = bound("xp")          # numpy or jax.numpy
    convert_to_tensor = bound("convert_to_tensor")

``ops`` is always bound: :class:`BackendOps`, the includer's backend's own op implementations
by name across its modules (``ops.where``, ``ops.conv``), for calls into other modules without
the public dispatcher.
"""

import functools
import importlib.util
import sys

from kbridge.backend.common import dispatch
from kbridge.errors import KbridgeError

SHARED_PACKAGE = "kbridge.backend.shared"


class BackendOps:
    """One backend's op implementations by public name, across its op modules, undispatched.

    ``BackendOps("torch").where`` is ``kbridge.backend.torch.numpy.where``. A name is looked up
    on first use and then kept, so a call through it costs one attribute lookup.
    """

    MODULES = ("core", "numpy", "array", "math", "nn", "linalg", "image", "random")

    def __init__(self, backend):
        self._backend = backend

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        for module in self.MODULES:
            impl = getattr(dispatch.backend_module(self._backend, module), name, None)
            if impl is not None:
                setattr(self, name, impl)
                return impl
        raise AttributeError(f"The {self._backend} backend has no op `{name}`.")

    def __repr__(self):
        return f"BackendOps({self._backend!r})"


@functools.lru_cache(maxsize=None)
def backend_ops(backend):
    """The :class:`BackendOps` of ``backend`` (one per backend)."""
    return BackendOps(backend)


@functools.lru_cache(maxsize=None)
def _code(module):
    name = f"{SHARED_PACKAGE}.{module}"
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise KbridgeError(f"No shared backend module `{name}`.")
    return spec.loader.get_code(name)  # compiled once, from __pycache__ when it is fresh


def include(module, namespace, **bindings):
    """Run the shared module ``kbridge.backend.shared.<module>`` inside ``namespace``.

    Args:
        module: the shared module's name, e.g. ``"image"``.
        namespace: the including backend module's ``globals()``.
        **bindings: the names the shared module reads with :func:`bound` (``xp=jnp``).
    """
    backend = namespace["__name__"].split(".")[2]  # kbridge.backend.<name>.<module>
    namespace.update(bindings)
    namespace.setdefault("ops", backend_ops(backend))
    doc = namespace.get("__doc__")
    exec(_code(module), namespace)  # noqa: S102 - our own package's code, see module doc
    namespace["__doc__"] = doc


def bound(name):
    """The value the including backend module bound to ``name`` (see :func:`include`)."""
    namespace = sys._getframe(1).f_globals
    try:
        return namespace[name]
    except KeyError:
        raise KbridgeError(
            f"The shared backend module needs `{name}`, which its includer "
            f"({namespace.get('__name__')}) did not bind. Pass it to include(..., {name}=...)."
        ) from None
