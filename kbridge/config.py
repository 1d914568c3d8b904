"""``kbridge.config``: Keras 3's ``keras.config`` settings.

Numeric settings (``floatx``, ``epsilon``, ``image_data_format``) are kbridge's own, shared
with ``kbridge.backend``. Unlike Keras, several backends live in one process:
``set_backend(name)`` switches the *default* backend of new tensors, layers and models (as
``kbridge.backend.set``), without reloading anything; ``kbridge.backend.use(name)`` blocks
still win, and existing tensors and models keep their own backend.

``max_epochs`` / ``max_steps_per_epoch`` (also from ``KERAS_MAX_EPOCHS`` /
``KERAS_MAX_STEPS_PER_EPOCH``, or the ``KBRIDGE_`` spellings) cap ``fit`` for quick debugging
runs.

Example:
    >>> kbridge.config.set_floatx("float64")
    >>> kbridge.config.floatx()
    'float64'
    >>> kbridge.config.set_backend("torch")     # new tensors/models default to torch
"""

import os

from kbridge.backend.common.config import (
    epsilon,
    image_data_format,
    set_epsilon,
    set_image_data_format,
)
from kbridge.backend.common import dtypes as _dtypes
from kbridge.backend.common.dtypes import floatx
from kbridge.errors import ArgumentError

__all__ = [
    "backend", "disable_flash_attention", "disable_interactive_logging",
    "disable_traceback_filtering", "dtype_policy", "enable_flash_attention",
    "enable_interactive_logging", "enable_traceback_filtering", "enable_unsafe_deserialization",
    "epsilon", "floatx", "image_data_format", "in_safe_mode", "is_flash_attention_enabled",
    "is_interactive_logging_enabled", "is_nnx_enabled", "is_traceback_filtering_enabled",
    "max_epochs", "max_steps_per_epoch", "set_backend", "set_dtype_policy", "set_epsilon",
    "set_floatx", "set_image_data_format", "set_max_epochs", "set_max_steps_per_epoch",
]


def _env_int(*names):
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise ArgumentError(f"${name} must be an integer. Received: {value!r}") from None
    return None


_settings = {
    "flash_attention": None,         # None: layers decide (Keras's default), True/False: forced
    "traceback_filtering": True,
    "safe_mode": None,               # None: callers' own ``safe_mode`` argument applies
    "max_epochs": _env_int("KBRIDGE_MAX_EPOCHS", "KERAS_MAX_EPOCHS"),
    "max_steps_per_epoch": _env_int("KBRIDGE_MAX_STEPS_PER_EPOCH", "KERAS_MAX_STEPS_PER_EPOCH"),
}


def set_floatx(value):
    """Set the default float dtype ('float16', 'bfloat16', 'float32' or 'float64')."""
    _dtypes.set_floatx(value)


# --- backend ----------------------------------------------------------------------------
def backend():
    """Name of the active backend ('numpy', 'jax', 'torch' or 'tensorflow')."""
    from kbridge.backend.common import context

    return context.get()


def set_backend(backend):
    """Make ``backend`` the process-wide default backend (no reload, unlike Keras).

    kbridge runs several backends in one process, so this only changes where new tensors,
    variables and models go; existing ones keep theirs, and ``kbridge.backend.use`` blocks
    still take precedence.

    Example:
        >>> kbridge.config.set_backend("jax")
        >>> kbridge.ops.ones((2,))      # a jax.Array
    """
    from kbridge.backend.common import context

    context.set(backend)


# --- dtype policy -------------------------------------------------------------------------
def dtype_policy():
    """The global ``DTypePolicy`` new layers use (``floatx()`` unless set)."""
    from kbridge import dtype_policies

    return dtype_policies.dtype_policy()


def set_dtype_policy(policy):
    """Set the global dtype policy: a name ('mixed_float16', 'float32', ...) or a DTypePolicy."""
    from kbridge import dtype_policies

    dtype_policies.set_dtype_policy(policy)


# --- logging ------------------------------------------------------------------------------
def enable_interactive_logging():
    """Progress bars and training logs go to stdout (the default)."""
    from kbridge.utils import logging_utils

    logging_utils.enable_interactive_logging()


def disable_interactive_logging():
    """Training logs go to Python's ``logging`` instead of interactive progress bars."""
    from kbridge.utils import logging_utils

    logging_utils.disable_interactive_logging()


def is_interactive_logging_enabled():
    """Whether progress bars write to stdout (True unless disabled)."""
    from kbridge.utils import logging_utils

    return logging_utils.is_interactive_logging_enabled()


def enable_traceback_filtering():
    """Record that tracebacks may be filtered.

    kbridge does not rewrite tracebacks (its frames are few and its errors name what was
    expected), so this is only the setting Keras code reads back.
    """
    _settings["traceback_filtering"] = True


def disable_traceback_filtering():
    """Record that tracebacks must be shown in full (kbridge always does)."""
    _settings["traceback_filtering"] = False


def is_traceback_filtering_enabled():
    return _settings["traceback_filtering"]


# --- attention ----------------------------------------------------------------------------
def enable_flash_attention():
    """Ask attention layers to use flash attention where the backend has a kernel."""
    _settings["flash_attention"] = True


def disable_flash_attention():
    """Ask attention layers never to use flash attention."""
    _settings["flash_attention"] = False


def is_flash_attention_enabled():
    """True/False once set by ``enable_``/``disable_flash_attention``; None by default."""
    return _settings["flash_attention"]


def is_nnx_enabled():
    """False: kbridge's JAX backend does not build Flax NNX modules (Keras's opt-in mode)."""
    return False


# --- deserialization ----------------------------------------------------------------------
def enable_unsafe_deserialization():
    """Let every load run stored code (Lambda layers), as if ``safe_mode=False`` were passed.

    Only for files you trust.
    """
    _settings["safe_mode"] = False


def in_safe_mode():
    """False after ``enable_unsafe_deserialization()``; None while callers' own ``safe_mode``
    argument decides (the default)."""
    return _settings["safe_mode"]


# --- debugging caps on fit ----------------------------------------------------------------
def _check_cap(name, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ArgumentError(f"`{name}` must be a positive int or None. Received: {name}={value!r}")
    return value


def set_max_epochs(max_epochs):
    """Cap the number of epochs every ``fit`` runs (None removes the cap)."""
    _settings["max_epochs"] = _check_cap("max_epochs", max_epochs)


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Cap the number of batches per epoch in ``fit`` (None removes the cap)."""
    _settings["max_steps_per_epoch"] = _check_cap("max_steps_per_epoch", max_steps_per_epoch)


def max_epochs():
    """The epoch cap for ``fit``, or None."""
    return _settings["max_epochs"]


def max_steps_per_epoch():
    """The per-epoch step cap for ``fit``, or None."""
    return _settings["max_steps_per_epoch"]


def fit_limits(epochs, steps_per_epoch):
    """``(epochs, steps_per_epoch)`` for ``fit`` after the ``max_epochs`` /
    ``max_steps_per_epoch`` caps (the trainer calls this).

    Example:
        >>> kbridge.config.set_max_epochs(2)
        >>> kbridge.config.fit_limits(10, None)
        (2, None)
    """
    cap_epochs, cap_steps = max_epochs(), max_steps_per_epoch()
    if cap_epochs is not None:
        epochs = min(epochs, cap_epochs)
    if cap_steps is not None:
        steps_per_epoch = cap_steps if steps_per_epoch is None else min(steps_per_epoch, cap_steps)
    return epochs, steps_per_epoch
