"""Backend selection and the framework-neutral configuration.

Several backends live in one process. The active one is a context variable, so
``with kbridge.backend.use("torch"):`` is scoped and thread-safe; tensors carry their own
backend, and ops dispatch on them.

Example:
    >>> kbridge.backend.available()
    ['numpy', 'jax', 'torch', 'tensorflow']
    >>> with kbridge.backend.use("jax"):
    ...     x = kbridge.ops.ones((2,))
    >>> kbridge.backend.of(x)
    'jax'
"""

from kbridge.backend.common.config import (
    epsilon,
    image_data_format,
    set_epsilon,
    set_image_data_format,
    standardize_data_format,
)
from kbridge.backend.common.context import BACKENDS, available, get, set, standardize_name, use
from kbridge.backend.common.dtypes import (
    floatx,
    is_complex,
    is_float,
    is_int,
    result_type,
    set_floatx,
    standardize_dtype,
)
from kbridge.backend.common.keras_tensor import KerasTensor, is_keras_tensor
from kbridge.backend.common.naming import name_scope
from kbridge.backend.common.variables import Variable
from kbridge.errors import BackendError


def of(x):
    """Backend name of a tensor, Variable, layer or model.

    numpy arrays belong to the numpy backend. Raises ``BackendError`` for anything else.
    """
    from kbridge.backend.common import dispatch

    name = getattr(x, "backend_name", None)
    if isinstance(name, str):
        return name
    backend, flags = dispatch.classify(type(x))
    if backend == dispatch.SYMBOLIC:
        raise BackendError(f"A KerasTensor is symbolic and has no backend. Received: {x!r}")
    if backend is None and flags & dispatch.F_ARRAY:
        return "numpy"
    if backend is None:
        raise BackendError(
            "kbridge.backend.of() expects a tensor, Variable, layer or model. "
            f"Received: {type(x).__name__}"
        )
    return backend


def backend():
    """Keras-compatible alias of :func:`get`."""
    return get()


def load(name):
    """Import a backend's package now (otherwise it is imported on first use)."""
    from kbridge.backend.common.dispatch import backend_module

    return backend_module(standardize_name(name), "core")
