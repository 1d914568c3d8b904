"""The ``Metric`` base class: state in kbridge Variables, plus the stateless API.

A metric creates its Variables (``add_variable``) when it is constructed, on the backend
active then (``metric.backend_name``); ``update_state``, ``result`` and ``reset_state`` run
with that backend active, so numpy inputs become that backend's tensors. Updates are written
with ``kbridge.ops`` and ``Variable.assign`` and never branch in Python on tensor values,
which gives three ways to run the same code:

* eagerly, mutating the Variables;
* inside ``tf.function`` (tensorflow metrics), traced into the graph;
* ``stateless_update_state`` / ``stateless_result`` inside a ``StatelessScope``: pure
  functions of the variable values, usable inside ``jax.jit``.
"""

import functools

import kbridge.losses  # noqa: F401 - loss classes claim the shared names first
from kbridge import ops
from kbridge.backend.common import context, naming
from kbridge.backend.common.stateless import StatelessScope
from kbridge.backend.common.variables import Variable
from kbridge.errors import KbridgeError
from kbridge.losses.loss import NamedWithDtype
from kbridge.saving import registry


class MetricError(KbridgeError, ValueError):
    """A metric was configured or called incorrectly."""


def _in_own_backend(method):
    """Run ``method`` with the metric's backend active (numpy inputs go to it)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        name = getattr(self, "backend_name", None)
        if name is None or context._override.get() == name:
            return method(self, *args, **kwargs)
        token = context._override.set(name)
        try:
            return method(self, *args, **kwargs)
        finally:
            context._override.reset(token)

    wrapper._in_own_backend = True
    # Tell TF autograph to trace this as plain Python instead of converting it (the attribute
    # `tf.autograph.experimental.do_not_convert` sets). Metric code has no tensor-dependent
    # Python control flow, and converting kbridge's generic op dispatchers under autograph
    # can bind the wrong op implementation.
    wrapper.autograph_info__ = frozenset()
    return wrapper


class Metric(NamedWithDtype):
    """Base class of metrics (Keras 3 ``keras.metrics.Metric``).

    A subclass creates its state in ``__init__`` with ``add_variable`` and implements
    ``update_state(y_true, y_pred, sample_weight=None)`` and ``result()``.

    Args:
        dtype: the dtype of the state and result (default ``floatx()``).
        name: the metric's name (logs use it).

    Example:
        >>> class Count(kbridge.metrics.Metric):
        ...     def __init__(self, name="count", dtype=None):
        ...         super().__init__(name=name, dtype=dtype)
        ...         self.n = self.add_variable((), "zeros", name="n")
        ...     def update_state(self, values, sample_weight=None):
        ...         self.n.assign_add(kbridge.ops.cast(kbridge.ops.size(values), self.dtype))
        ...     def result(self):
        ...         return self.n.value
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for attr in ("update_state", "result", "reset_state"):
            fn = cls.__dict__.get(attr)
            if fn is not None and not getattr(fn, "_in_own_backend", False):
                setattr(cls, attr, _in_own_backend(fn))
        if cls.__module__.startswith("kbridge.") and \
                registry._REGISTRY.get(cls.__name__) is None:
            # Loss classes share some names (MeanSquaredError ...); those stay losses in the
            # global registry and metrics.get / metrics.deserialize resolve them.
            registry.register(cls)

    def __init__(self, dtype=None, name=None):
        object.__setattr__(self, "_variables", [])
        object.__setattr__(self, "_metrics", [])
        self._set_name_and_dtype(name, dtype)
        self.backend_name = context.get()

    def _check_super_called(self):
        if "_variables" not in self.__dict__:
            raise MetricError(f"{type(self).__name__}.__init__ must call super().__init__() "
                              "before creating variables.")

    def __setattr__(self, name, value):
        if isinstance(value, Metric) and "_metrics" in self.__dict__ and \
                all(value is not m for m in self._metrics):
            self._metrics.append(value)
        object.__setattr__(self, name, value)

    # --- state ---------------------------------------------------------------------
    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """Create a non-trainable state Variable on the metric's backend."""
        from kbridge import initializers

        self._check_super_called()
        init = initializers.get(initializer)
        with context.use(self.backend_name), naming.name_scope(self.name.replace("/", ">")):
            variable = Variable(init, shape=tuple(shape), dtype=dtype or self.dtype,
                                trainable=False, aggregation=aggregation,
                                synchronization="on_read", name=name)
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        return self.add_variable(shape, initializer or "zeros", dtype=dtype, name=name)

    @property
    def variables(self):
        out = list(self._variables)
        for metric in self._metrics:
            out.extend(metric.variables)
        return out

    def reset_state(self):
        """Set every state Variable back to zeros."""
        for v in self.variables:
            v.assign(ops.zeros(v.shape, dtype=v.dtype))

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not implement update_state().")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement result().")

    def __call__(self, *args, **kwargs):
        """``update_state`` then ``result``."""
        self._check_super_called()
        self.update_state(*args, **kwargs)
        return self.result()

    # --- stateless API -------------------------------------------------------------
    def _mapping(self, metric_variables):
        own = self.variables
        if len(metric_variables) != len(own):
            raise MetricError(
                f"`metric_variables` must hold one value per variable of "
                f"{type(self).__name__} ({len(own)}, in `metric.variables` order). "
                f"Received {len(metric_variables)} values.")
        return list(zip(own, metric_variables))

    def stateless_update_state(self, metric_variables, *args, **kwargs):
        """``update_state`` as a pure function: new variable values, Variables untouched.

        Example:
            >>> state = [v.value for v in metric.variables]
            >>> state = jax.jit(metric.stateless_update_state)(state, y_true, y_pred)
        """
        mapping = self._mapping(metric_variables)
        with StatelessScope(mapping) as scope:
            self.update_state(*args, **kwargs)
        if len(self.variables) != len(mapping):
            raise MetricError(
                f"{type(self).__name__} created its variables during stateless_update_state "
                "(their shapes depend on the data). Call update_state once on a sample batch "
                "(then reset_state) before using the stateless API.")
        return [scope.final_value(v) for v in self.variables]

    def stateless_result(self, metric_variables):
        """``result()`` computed from ``metric_variables`` instead of the Variables."""
        with StatelessScope(self._mapping(metric_variables)):
            return self.result()

    def stateless_reset_state(self):
        """The variable values ``reset_state()`` would set, without setting them."""
        with StatelessScope() as scope:
            self.reset_state()
        return [scope.final_value(v) for v in self.variables]

    # --- config --------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
