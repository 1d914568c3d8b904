"""From a public op to one backend's implementation, in as few steps as possible.

A public op (``kbridge.ops.add``) is declared once with its Keras signature and a docstring;
:func:`op_decorator` turns it into a dispatcher. Per call, the dispatcher

1. looks at the type of each argument (one dict lookup per argument, cached per class) to
   find the backend that owns the tensors — never importing a framework to check: a class of
   a framework that is not in ``sys.modules`` cannot exist;
2. only when needed, unwraps kbridge Variables, converts numpy arrays to the backend's
   tensors, or switches to symbolic shape inference for :class:`KerasTensor` inputs;
3. calls ``kbridge.backend.<name>.<module>.<op>``, resolved once and cached.

Everything else (dtype checks the framework already does) is left to the framework.
"""

import functools
import importlib
import sys

import numpy as np

from kbridge.backend.common import context
from kbridge.errors import BackendMismatchError, MissingOpError

F_VARIABLE = 1  # a kbridge Variable: pass its native value
F_ARRAY = 2  # a numpy array or scalar: convert to the backend's tensor
F_SYMBOLIC = 4  # a KerasTensor: infer shapes instead of computing

SYMBOLIC = "symbolic"
class _Info(tuple):
    """A class-info tag compared by identity. ``type(v)`` rather than ``v.__class__`` and a
    tuple subclass keep the dispatcher traceable by torch.compile (Dynamo keeps the identity
    of a tuple-subclass instance, and cannot read ``__class__`` of a Python constant)."""


_SEQUENCE = _Info(("seq", 0))
_CLASS_INFO = {list: _SEQUENCE, tuple: _SEQUENCE}
_NOT_A_TENSOR = (None, 0)

# Every registered public op: name -> dispatcher. Filled by ``op_decorator``.
OPS = {}


def _native_backend(cls):
    """Which framework owns ``cls`` (a tensor class), without importing any framework."""
    mods = sys.modules
    if "torch" in mods and issubclass(cls, mods["torch"].Tensor):
        return "torch"
    jax = mods.get("jax")
    if jax is not None and hasattr(jax, "Array") and issubclass(cls, jax.Array):
        return "jax"
    tf = mods.get("tensorflow")
    if tf is not None and hasattr(tf, "Tensor") and issubclass(
            cls, (tf.Tensor, tf.Variable, tf.IndexedSlices)):
        return "tensorflow"
    return None


def classify(cls):
    """``(backend or None, flags)`` for arguments of class ``cls``; cached."""
    from kbridge.backend.common.keras_tensor import KerasTensor
    from kbridge.backend.common.variables import Variable

    if issubclass(cls, KerasTensor):
        info = (SYMBOLIC, F_SYMBOLIC)
    elif issubclass(cls, Variable):
        info = (cls.backend_name, F_VARIABLE)
    elif issubclass(cls, (np.ndarray, np.generic)):
        info = (None, F_ARRAY)
    else:
        backend = _native_backend(cls)
        info = (backend, 0) if backend else _NOT_A_TENSOR
    _CLASS_INFO[cls] = info
    return info


def merge_backends(backend, b):
    """The backend of an op that saw tensors of ``backend`` and then of ``b``."""
    if backend is None or b == SYMBOLIC:
        return b
    if backend == SYMBOLIC:
        return backend
    raise BackendMismatchError(
        f"An op received tensors of two frameworks: {backend} and {b}. "
        f"Convert one of them first (kbridge.ops.convert_to_numpy, or "
        f"kbridge.convert for a model)."
    )


def scan(values, backend=None, flags=0):
    """Fold ``values`` (and nested lists/tuples in them) into ``(backend, flags)``."""
    for v in values:
        info = _CLASS_INFO.get(type(v)) or classify(type(v))
        if info is _SEQUENCE:
            backend, flags = scan(v, backend, flags)
            continue
        b, f = info
        flags |= f
        if b is not None and b != backend:
            backend = merge_backends(backend, b)
    return backend, flags


def backend_of_values(*values):
    """The backend owning the tensors in ``values``, else the active backend."""
    backend, _ = scan(values)
    return backend or context.get()


@functools.lru_cache(maxsize=None)
def backend_module(backend, module):
    """``kbridge.backend.<backend>.<module>``, imported on first use."""
    return importlib.import_module(f"kbridge.backend.{backend}.{module}")


def _prepare_value(v, backend, convert):
    info = _CLASS_INFO.get(type(v)) or classify(type(v))
    if info is _SEQUENCE:
        return type(v)(_prepare_value(e, backend, convert) for e in v)
    flag = info[1]
    if flag == F_VARIABLE:
        return v.value
    if flag == F_ARRAY and convert is not None:
        return convert(v)
    return v


def prepare(backend, args, kwargs):
    """Unwrap Variables and convert numpy inputs for ``backend``."""
    convert = None if backend == "numpy" else backend_module(backend, "core").convert_to_tensor
    args = tuple(_prepare_value(a, backend, convert) for a in args)
    if kwargs:
        kwargs = {k: _prepare_value(v, backend, convert) for k, v in kwargs.items()}
    return args, kwargs


def resolve_impl(backend, module, name):
    """The implementation of ``module.name`` in ``backend``, or a clear MissingOpError."""
    from kbridge.backend.common import gaps

    impl = getattr(backend_module(backend, module), name, None)
    if impl is None:
        reason = gaps.reason(backend, name) or "it is not implemented yet"
        raise MissingOpError(
            f"Op `kbridge.ops.{name}` is not available on the {backend} backend: {reason}."
        )
    return impl


def op_decorator(module, export=True):
    """Make the decorated signature-and-docstring function a dispatching public op.

    Args:
        module: the backend module implementing these ops ("numpy", "nn", "random", ...).
        export: whether the op is registered in ``OPS`` (the public op count).

    The decorated function's body is never run; it documents the op and fixes its signature.
    ``spec=`` (keyword) gives a symbolic shape function for ops whose output shape cannot be
    inferred by running the numpy backend on placeholder values.
    """

    def decorate(fn=None, *, spec=None):
        if fn is None:
            return functools.partial(decorate, spec=spec)
        name = fn.__name__
        impls = {}

        class_info = _CLASS_INFO.get

        def dispatcher(*args, **kwargs):
            # The loop of ``scan`` inlined for positional arguments: this is the hot path.
            backend, flags = None, 0
            for v in args:
                info = class_info(type(v)) or classify(type(v))
                if info is _SEQUENCE:
                    backend, flags = scan(v, backend, flags)
                    continue
                b, f = info
                flags |= f
                if b is not None and b != backend:
                    backend = merge_backends(backend, b)
            if kwargs:
                backend, flags = scan(kwargs.values(), backend, flags)
            if flags:
                if flags & F_SYMBOLIC:
                    from kbridge.backend.common.symbolic import symbolic_call

                    return symbolic_call(module, name, spec, args, kwargs)
                if backend is None:
                    backend = context.get()
                args, kwargs = prepare(backend, args, kwargs)
            elif backend is None:
                backend = context.get()
            impl = impls.get(backend)
            if impl is None:
                impl = impls[backend] = resolve_impl(backend, module, name)
            return impl(*args, **kwargs)

        functools.update_wrapper(dispatcher, fn)
        dispatcher.__kbridge_op__ = (module, name)
        # TensorFlow's autograph must call ops as they are, never rewrite the dispatcher.
        dispatcher.autograph_info__ = frozenset()
        if export:
            OPS[name] = dispatcher
        return dispatcher

    return decorate
