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
    standardize_dtype,
)
from kbridge.backend.common.dtypes import is_float as is_float_dtype
from kbridge.backend.common.dtypes import is_int as is_int_dtype
from kbridge.backend.common.keras_tensor import KerasTensor, is_keras_tensor
from kbridge.backend.common.naming import get_uid, name_scope
from kbridge.backend.common.selection import BackendTiming, fastest
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


def set_floatx(value):
    """Set the default float dtype ('float16', 'bfloat16', 'float32' or 'float64')."""
    from kbridge.backend.common import dtypes

    dtypes.set_floatx(value)


def backend():
    """Keras-compatible alias of :func:`get`."""
    return get()


def load(name):
    """Import a backend's package now (otherwise it is imported on first use)."""
    from kbridge.backend.common.dispatch import backend_module

    return backend_module(standardize_name(name), "core")


def clear_session(free_memory=True):
    """Reset kbridge's global state, as Keras's ``clear_session``.

    Automatic names start again (the next ``Dense`` is ``dense``), and the settings Keras keeps
    in its global state go back to their defaults: the dtype policy, interactive logging,
    flash attention, traceback filtering and unsafe deserialization. Framework caches are
    cleared for loaded frameworks (torch.compile's, TensorFlow's kernel cache).
    ``free_memory`` runs the garbage collector.

    Example:
        >>> kbridge.layers.Dense(2).name, kbridge.layers.Dense(2).name
        ('dense', 'dense_1')
        >>> kbridge.backend.clear_session()
        >>> kbridge.layers.Dense(2).name
        'dense'
    """
    import gc
    import sys

    from kbridge import config, dtype_policies
    from kbridge.backend.common import naming
    from kbridge.utils import logging_utils

    naming.reset_uids()
    dtype_policies.set_dtype_policy(None)
    logging_utils.enable_interactive_logging()
    config._settings.update(flash_attention=None, traceback_filtering=True, safe_mode=None)
    if "torch" in sys.modules:
        import torch._dynamo

        torch._dynamo.reset()
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        if tf.executing_eagerly():
            from tensorflow.python.eager import context as tf_context

            tf_context.context().clear_kernel_cache()
    if free_memory:
        gc.collect()
