"""Keras 3's top-level scopes: ``StatelessScope``, ``SymbolicScope``, ``RematScope``/``remat``
and ``device``.

Example:
    >>> v = kbridge.Variable(np.zeros(2), name="v")
    >>> with kbridge.StatelessScope([(v, np.ones(2))]) as scope:
    ...     v.assign(v + 1)                 # recorded in the scope, not applied
    >>> scope.get_current_value(v), v.numpy()
    (array([2., 2.]), array([0., 0.]))
"""

import contextvars
import functools
import re

from kbridge.backend.common import stateless as _stateless
from kbridge.backend.common.context import ContextScope
from kbridge.errors import ArgumentError

__all__ = ["RematScope", "StatelessScope", "SymbolicScope", "device", "get_current_remat_mode",
           "in_symbolic_scope", "rematerialized_call", "remat"]


# --- StatelessScope -----------------------------------------------------------------------
class StatelessScope(_stateless.StatelessScope):
    """Run stateful code without changing any Variable (Keras's ``StatelessScope``).

    Inside the block, the Variables of ``state_mapping`` read as the given values, and every
    ``assign`` is recorded in the scope instead of changing the Variable.
    ``get_current_value(v)`` gives the value ``v`` has in the scope (None if the scope never
    saw it), during or after the block.

    Args:
        state_mapping: ``[(variable, value), ...]`` (or a dict).
        collect_losses: gather losses passed to ``add_loss`` in ``scope.losses``.
        initialize_variables: accepted for Keras compatibility; kbridge Variables are always
            initialised when created.
    """

    def __init__(self, state_mapping=None, collect_losses=False, initialize_variables=True):
        from kbridge.backend.common.variables import Variable

        pairs = list(state_mapping.items() if isinstance(state_mapping, dict)
                     else state_mapping or ())
        for pair in pairs:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise ArgumentError("`state_mapping` must hold (Variable, value) pairs. "
                                    f"Received an item: {pair!r}")
            variable, value = pair
            if not isinstance(variable, Variable):
                raise ArgumentError("`state_mapping` keys must be kbridge Variables. "
                                    f"Received: {type(variable).__name__}")
            shape = tuple(getattr(value, "shape", ()))
            if hasattr(value, "shape") and shape != variable.shape:
                raise ArgumentError(
                    f"The value for Variable '{variable.path}' must have its shape "
                    f"{variable.shape}. Received shape: {shape}")
        super().__init__(pairs)
        self._mapped = {id(v): v for v, _ in pairs}
        self.collect_losses = collect_losses
        self.initialize_variables = initialize_variables
        self.losses = []
        self._active = False

    def __enter__(self):
        super().__enter__()
        self._active = True
        return self

    def __exit__(self, *exc):
        self._active = False
        return super().__exit__(*exc)

    def add_loss(self, loss):
        """Record a loss (kept in ``losses`` when ``collect_losses``)."""
        if self.collect_losses:
            self.losses.append(loss)

    def add_update(self, update):
        """Apply ``(variable, value)`` inside the scope (as ``variable.assign(value)``)."""
        variable, value = update
        variable.assign(value)

    def get_current_value(self, variable):
        """``variable``'s value in this scope, or None if the scope did not touch it."""
        key = id(variable)
        if key not in self._mapped and key not in self._touched:
            return None
        return variable._value if self._active else self.final_value(variable)


def in_stateless_scope():
    """Whether a StatelessScope is active."""
    return _stateless.in_stateless_scope()


# --- SymbolicScope ------------------------------------------------------------------------
_symbolic = contextvars.ContextVar("kbridge_symbolic_scope", default=None)


class SymbolicScope(ContextScope):
    """Mark a block as symbolic tracing (Keras's ``SymbolicScope``); ``in_symbolic_scope()``
    reports it, so code can skip work that only matters for real values.

    Example:
        >>> with kbridge.SymbolicScope():
        ...     kbridge.scopes.in_symbolic_scope()
        True
    """

    _var = _symbolic


def in_symbolic_scope():
    return _symbolic.get() is not None


def get_symbolic_scope():
    return _symbolic.get()


# --- remat --------------------------------------------------------------------------------
_REMAT_MODES = ("full", "activations", "larger_than", "list_of_layers", None)
_remat_scope = contextvars.ContextVar("kbridge_remat_scope", default=None)


class RematScope(ContextScope):
    """Ask layers called inside to recompute their activations in the backward pass.

    Args:
        mode: "full" (every layer), "activations" (only activation functions),
            "larger_than" (layers whose output has more than ``output_size_threshold``
            elements), "list_of_layers" (layers named in ``layer_names``) or None (off).
        output_size_threshold: the size for "larger_than".
        layer_names: the names for "list_of_layers".

    ``get_current_remat_mode()`` gives the innermost scope; ``applies_to(layer, size)`` says
    whether a layer call should go through :func:`remat`.

    Example:
        >>> with kbridge.RematScope(mode="full"):
        ...     kbridge.scopes.get_current_remat_mode().mode
        'full'
    """

    _var = _remat_scope

    def __init__(self, mode="full", output_size_threshold=1024, layer_names=None):
        if mode not in _REMAT_MODES:
            raise ArgumentError(f"`mode` must be one of {_REMAT_MODES}. Received: mode={mode!r}")
        self.mode = mode
        self.output_size_threshold = output_size_threshold
        self.layer_names = list(layer_names or [])

    def applies_to(self, layer, output_size=None):
        """Whether ``layer`` (with ``output_size`` output elements) is rematerialised whole."""
        if self.mode == "full":
            return True
        if self.mode == "list_of_layers":
            return getattr(layer, "name", None) in self.layer_names
        if self.mode == "larger_than":
            return output_size is not None and output_size > self.output_size_threshold
        return False


def get_current_remat_mode():
    """The innermost active ``RematScope`` (None outside any, or for mode=None)."""
    scope = _remat_scope.get()
    return scope if scope is not None and scope.mode is not None else None


def rematerialized_call(layer, scope, call, *args, **kwargs):
    """``call`` (a layer's ``call``) wrapped as ``scope`` (a RematScope) asks for ``layer``.

    "full" and "list_of_layers" (by name) rematerialise the whole call; "larger_than" when
    the output (shape from ``layer.compute_output_spec``) has more elements than the
    threshold; "activations" only the layer's ``activation``. Returns ``call`` unchanged
    otherwise. This is the hook ``Layer.__call__`` uses for layers created in a RematScope.

    Example:
        >>> with kbridge.RematScope("full") as scope:
        ...     fn = kbridge.scopes.rematerialized_call(dense, scope, dense.call, x)
        >>> y = fn(x)
    """
    if scope is None or scope.mode is None:
        return call
    if scope.mode == "activations":
        activation = getattr(layer, "activation", None)
        if activation is None:
            return call

        @functools.wraps(call)
        def with_remat_activation(*a, **k):
            layer.activation = remat(activation)
            try:
                return call(*a, **k)
            finally:
                layer.activation = activation

        return with_remat_activation
    size = None
    if scope.mode == "larger_than":
        import math

        from kbridge.backend.common.keras_tensor import KerasTensor
        from kbridge.tree import flatten, map_structure

        def spec(x):
            shape = getattr(x, "shape", None)
            return x if shape is None or isinstance(x, KerasTensor) else \
                KerasTensor(tuple(shape), str(getattr(x, "dtype", "float32")).split(".")[-1])

        try:
            out = layer.compute_output_spec(*map_structure(spec, list(args)),
                                            **map_structure(spec, kwargs))
        except Exception:  # noqa: BLE001 - no shape inference: keep the plain call
            return call
        size = sum(math.prod(d or 1 for d in t.shape) for t in flatten(out)
                   if isinstance(t, KerasTensor))
    return remat(call) if scope.applies_to(layer, size) else call


def _backend_of_args(args, kwargs):
    from kbridge.backend.common import context
    from kbridge.tree import flatten

    import kbridge.backend

    for x in flatten((list(args), kwargs)):
        try:
            return kbridge.backend.of(x)
        except Exception:  # noqa: BLE001 - a non-tensor leaf: keep looking
            continue
    return context.get()


def remat(f):
    """``f`` with gradient checkpointing: its intermediate values are recomputed in the
    backward pass instead of being kept (``jax.checkpoint``, ``torch.utils.checkpoint``,
    ``tf.recompute_grad``, chosen by the backend of the arguments). Values and gradients are
    the same as ``f``'s; the numpy backend has no gradients and just calls ``f``.

    Example:
        >>> block = kbridge.remat(lambda x: kbridge.ops.tanh(x) ** 2)
        >>> y = block(x)      # jax.grad / torch backward recompute tanh(x)
    """
    if not callable(f):
        raise ArgumentError(f"remat() needs a callable. Received: {f!r}")

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        backend = _backend_of_args(args, kwargs)
        if backend == "jax":
            import jax

            return jax.checkpoint(f)(*args, **kwargs)
        if backend == "torch":
            import torch.utils.checkpoint

            return torch.utils.checkpoint.checkpoint(f, *args, use_reentrant=False, **kwargs)
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.recompute_grad(f)(*args, **kwargs)
        return f(*args, **kwargs)

    return wrapped


# --- device -------------------------------------------------------------------------------
_DEVICE_NAME = re.compile(r"^(cpu|gpu|cuda|tpu|mps)(?::(\d+))?$")
_device = contextvars.ContextVar("kbridge_device", default=None)


def current_device():
    """The innermost ``kbridge.device`` name ('cpu:0', ...), or None."""
    return _device.get()


class device:  # noqa: N801 - Keras's name
    """Place tensors and Variables created inside on a device: ``"cpu"``, ``"gpu:1"`` ...

    The device is applied to the active backend's framework (``jax.default_device``,
    ``torch.device`` as a default-device context, ``tf.device``). A device the framework does
    not have is an error when entering the scope. The numpy backend has only the CPU.

    Example:
        >>> with kbridge.device("cpu"):
        ...     x = kbridge.ops.ones((2,))
    """

    def __init__(self, device_name):
        if not isinstance(device_name, str):
            raise ArgumentError("`device_name` must be a string such as 'cpu', 'gpu:0'. "
                                f"Received: {device_name!r}")
        match = _DEVICE_NAME.match(device_name.strip().lower())
        if match is None:
            raise ArgumentError(
                "`device_name` must be '<type>' or '<type>:<index>' with type one of cpu, gpu, "
                f"cuda, tpu, mps (e.g. 'gpu:0'). Received: {device_name!r}")
        kind, index = match.group(1), int(match.group(2) or 0)
        self.device_type = "gpu" if kind == "cuda" else kind
        self.index = index
        self.name = f"{self.device_type}:{index}"
        self._stack = []

    def __enter__(self):
        from kbridge.backend.common import context

        backend = context.get()
        framework_scope = getattr(self, f"_{backend}_scope")()
        if framework_scope is not None:
            framework_scope.__enter__()
        self._stack.append((framework_scope, _device.set(self.name)))
        return self

    def __exit__(self, *exc):
        framework_scope, token = self._stack.pop()
        _device.reset(token)
        if framework_scope is not None:
            framework_scope.__exit__(*exc)
        return False

    def _missing(self, backend, found):
        return ArgumentError(f"Device '{self.name}' is not available to the {backend} backend. "
                             f"Available: {found}")

    def _numpy_scope(self):
        if self.device_type != "cpu" or self.index != 0:
            raise self._missing("numpy", ["cpu:0"])
        return None

    def _jax_scope(self):
        import jax

        try:
            devices = jax.devices(self.device_type)
        except RuntimeError:
            devices = []
        if self.index >= len(devices):
            raise self._missing("jax", [f"{d.platform}:{d.id}" for d in jax.devices()])
        return jax.default_device(devices[self.index])

    def _torch_scope(self):
        import torch

        kind = {"gpu": "cuda"}.get(self.device_type, self.device_type)
        available = {"cpu": lambda: 1,
                     "cuda": torch.cuda.device_count,
                     "mps": lambda: int(torch.backends.mps.is_available())}
        if kind not in available or self.index >= available[kind]():
            raise self._missing("torch", ["cpu:0"] + [f"gpu:{i}" for i in
                                                      range(torch.cuda.device_count())])
        return torch.device(kind if kind == "cpu" else f"{kind}:{self.index}")

    def _tensorflow_scope(self):
        import tensorflow as tf

        devices = tf.config.list_logical_devices(self.device_type.upper())
        if self.index >= len(devices):
            raise self._missing("tensorflow", [d.name for d in tf.config.list_logical_devices()])
        return tf.device(f"/{self.device_type.upper()}:{self.index}")
