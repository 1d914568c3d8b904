"""``kbridge.Variable``: framework-neutral state with backend-native storage.

``kbridge.Variable(...)`` builds the subclass of the active backend:

========== =================================== ==========================================
backend    storage (``.value``)                ``assign``
========== =================================== ==========================================
numpy      ``np.ndarray``                      rebinds the array
jax        ``jax.Array``                       rebinds the array (functional, jit-friendly)
torch      ``torch.nn.Parameter``              copies in place (identity kept for optimizers)
tensorflow ``tf.Variable``                     ``tf.Variable.assign``
========== =================================== ==========================================

Each backend subclass implements ``_to_native(value, dtype)``, ``_initialize(native)``,
``_direct_assign(native)`` and ``numpy()``; everything else lives here.
"""

import contextvars
import math
import weakref

import numpy as np

from kbridge.backend.common import context, naming
from kbridge.backend.common import stateless as _stateless
from kbridge.backend.common.context import ContextScope
from kbridge.backend.common.dtypes import numpy_dtype, standardize_dtype
from kbridge.backend.common.keras_tensor import TensorOperators, _ops
from kbridge.errors import ShapeError

_budget = contextvars.ContextVar("kbridge_allocation_budget", default=None)


class AllocationBudget(ContextScope):
    """A cap on the Variables created inside ``with budget:`` (this thread or task): at most
    ``max_bytes`` in all and ``max_count`` of them. The Variable that would pass either cap
    raises ``error(message)`` before its initializer allocates anything.

    Loading a release builds its architecture under the budget its weight files allow, so
    a config that asks for a 60 GiB kernel, or a million layers, fails at once.
    """

    _var = _budget
    # Variables a model has beyond its saved weights (seed generator states, counters).
    SLACK_BYTES = 64 * 1024 * 1024
    SLACK_COUNT = 256

    def __init__(self, max_bytes, max_count, error, defer_initializers=False):
        self.max_bytes, self.max_count, self.error = max_bytes, max_count, error
        self.bytes = self.count = 0
        # With ``defer_initializers``, Variables start *pending*: a zero-stride placeholder
        # of their shape and dtype, no memory, until the loader hands them their value;
        # ``initialize_unassigned`` runs the initializers of those never assigned.
        self.defer_initializers = defer_initializers
        self.deferred = []

    @classmethod
    def for_weights(cls, arrays, error, defer_initializers=False):
        """The budget of a model that will receive ``arrays`` ({name: array})."""
        total = sum(int(a.nbytes) for a in arrays.values())
        return cls(total + cls.SLACK_BYTES, 2 * len(arrays) + cls.SLACK_COUNT, error,
                   defer_initializers)

    def initialize_unassigned(self):
        """Run the deferred initializers of the Variables still pending (nothing loaded into
        them: a new classification head, seed states, counters)."""
        for ref, initializer, shape, dtype in self.deferred:
            variable = ref()  # weak: a Variable a layer dropped (quantized away) is gone
            if variable is not None and variable._pending:
                variable.assign(initializer(shape, dtype=dtype))
        self.deferred = []

    def charge(self, path, shape, dtype):
        size = math.prod(shape) * np.dtype(numpy_dtype(dtype)).itemsize  # Python ints
        self.bytes += size
        self.count += 1
        if self.bytes > self.max_bytes:
            raise self.error(f"weight '{path}' of shape {shape} ({size} bytes) takes the "
                             f"architecture past the {self.max_bytes} bytes allowed")
        if self.count > self.max_count:
            raise self.error(f"the architecture creates more than {self.max_count} weights")


def _variable_class(backend):
    from kbridge.backend.common.dispatch import backend_module

    return backend_module(backend, "core").Variable


class Variable(TensorOperators):
    """A mutable tensor with a name, a path and a trainable flag.

    Args:
        initializer: a value (array, tensor, number) or a callable ``f(shape, dtype)``.
        shape: required when ``initializer`` is callable; checked otherwise.
        dtype: defaults to the value's dtype, or ``floatx()`` for a callable.
        trainable: whether optimizers update it.
        name: a name without '/'; the ``path`` adds the enclosing name scopes.

    Example:
        >>> with kbridge.backend.use("torch"):
        ...     v = kbridge.Variable(np.zeros((2, 3)), name="w")
        >>> v.assign_add(np.ones((2, 3)))
        >>> v.value      # a torch.nn.Parameter
    """

    backend_name = None  # set by each backend's subclass
    __array_priority__ = 100
    # True from a deferred creation (see AllocationBudget) until the first assignment: the
    # value is then a read-only numpy placeholder, not yet a backend tensor.
    _pending = False

    def __new__(cls, *args, **kwargs):
        if cls is Variable:
            cls = _variable_class(context.get())
        return object.__new__(cls)

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, autocast=True,
                 aggregation="none", synchronization="auto", name=None, layout=None):
        self.name = naming.validate_name(name or "variable")
        self.path = naming.current_path(self.name)
        self.trainable = bool(trainable)
        self.autocast = autocast
        self.aggregation = aggregation
        self.synchronization = synchronization
        self._layout = layout  # a distribution TensorLayout; kept for the distribution API
        if callable(initializer):
            if shape is None:
                raise ShapeError(
                    f"Variable '{self.name}': a callable initializer needs `shape`. "
                    f"Received: shape=None"
                )
            shape = tuple(int(d) for d in shape)
            dtype = standardize_dtype(dtype)
            budget = _budget.get()
            if budget is not None:
                budget.charge(self.path, shape, dtype)
            if (budget is not None and budget.defer_initializers
                    and hasattr(initializer, "get_config")):
                # Loading: the value is about to be overwritten. Nothing is allocated or drawn.
                # (Only initializer objects: a plain function may compute the value from data
                # it holds, such as a layer quantizing its kernel, and is run now.)
                budget.deferred.append((weakref.ref(self), initializer, shape, dtype))
                self._pending = True
                self._value = np.broadcast_to(np.zeros((), numpy_dtype(dtype)), shape)
                return
            value = initializer(shape, dtype=dtype)
        else:
            value = initializer
            dtype = None if dtype is None else standardize_dtype(dtype)
        native = self._to_native(value, dtype)
        if shape is not None and tuple(native.shape) != tuple(shape):
            raise ShapeError(
                f"Variable '{self.name}': expected shape {tuple(shape)}, "
                f"received a value of shape {tuple(native.shape)}."
            )
        self._initialize(native)

    # --- the backend hooks ---------------------------------------------------------
    def _to_native(self, value, dtype):
        raise NotImplementedError

    def _initialize(self, native):
        raise NotImplementedError

    def _direct_assign(self, native):
        raise NotImplementedError

    def _adopt(self, native):
        """Become the storage of ``native``, which nobody else holds (a tensor the loader
        just read). Backends that can skip the copy of ``_initialize`` override this."""
        self._initialize(native)

    def numpy(self):
        """The value as a numpy array."""
        raise NotImplementedError

    # --- state ---------------------------------------------------------------------
    @property
    def value(self):
        """The backend-native tensor holding the value."""
        return self._value

    @property
    def shape(self):
        return tuple(self._value.shape)

    @property
    def dtype(self):
        return standardize_dtype(self._value.dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def assign(self, value):
        """Replace the value; the shape must stay the same. Returns ``value``'s native form."""
        native = self._to_native(value, self.dtype)
        if tuple(native.shape) != self.shape:
            raise ShapeError(
                f"Variable '{self.path}' has shape {self.shape}; cannot assign a value of "
                f"shape {tuple(native.shape)}."
            )
        if self._pending:
            del self._pending
            self._initialize(native)
            return self._value
        scope = _stateless.current_scope()
        if scope is not None:
            # Functional update: rebind, so the caller's state is untouched (and tracers work).
            scope.record(self)
            self._value = native
        else:
            self._direct_assign(native)
        return self._value

    def _load(self, array):
        """Assign ``array``, a numpy array the caller gives away (the hub's loader has just
        read it): a pending Variable keeps it as its storage without a copy where the
        backend allows (numpy, torch), so a load holds each weight once."""
        if not self._pending:
            return self.assign(array)
        native = self._to_native(array, self.dtype)
        if tuple(native.shape) != self.shape:
            raise ShapeError(f"Variable '{self.path}' has shape {self.shape}; cannot load a "
                             f"value of shape {tuple(native.shape)}.")
        del self._pending
        self._adopt(native)
        return self._value

    def _share(self, native):
        """Hold ``native`` itself (a wrapped framework module's own parameter or variable)
        as the storage from now on: no copy, and both sides see every update."""
        self.__dict__.pop("_pending", None)
        self._value = native

    def _to_native_stateless(self, value):
        """``value`` as this backend's tensor, for a StatelessScope (no copy, no Parameter)."""
        return self._to_native(value, None)

    def assign_add(self, value):
        return self.assign(_ops().add(self.value, value))

    def assign_sub(self, value):
        return self.assign(_ops().subtract(self.value, value))

    # --- Python protocols ----------------------------------------------------------
    def __repr__(self):
        return (
            f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, "
            f"backend={self.backend_name}>"
        )

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.numpy())
        return out if dtype is None else out.astype(dtype)

    def __len__(self):
        return self.shape[0]

    def __bool__(self):
        return bool(self.numpy())

    def __float__(self):
        return float(self.numpy())

    def __int__(self):
        return int(self.numpy())

    def __index__(self):
        return int(self.numpy())

    __hash__ = object.__hash__

    def __pos__(self):
        return self.value


def unique_paths(variables):
    """``{path: Variable}`` for ``variables`` (deduplicated by identity, in order); a path
    that repeats gets ``_1``, ``_2`` ... so every key is unique."""
    out, seen = {}, set()
    for v in variables:
        if id(v) in seen:
            continue
        seen.add(id(v))
        key, n = v.path, 1
        while key in out:
            key = f"{v.path}_{n}"
            n += 1
        out[key] = v
    return out
