"""Shape and dtype inference for ops called on :class:`KerasTensor` placeholders.

The numpy backend implements every op with kbridge's dtype rules, so running it on small
placeholder arrays gives the output dtype and shape. Unknown (``None``) dimensions are
probed with two different sizes; a dimension of the output that changes between the two
runs is unknown too. Ops whose shape cannot be found this way (say, a decomposition that
fails on placeholder values), or would cost full-size arithmetic (contractions and
convolutions, see :mod:`kbridge.ops._specs`), pass ``spec=`` to their public declaration
instead; a spec raises :class:`NeedsProbe` to leave an unusual call to the probe.

Placeholders are zero-stride views of one element: a weight's placeholder costs no memory.
"""

import numpy as np

from kbridge.backend.common import dispatch
from kbridge.backend.common.dtypes import numpy_dtype, standardize_dtype
from kbridge.backend.common.keras_tensor import KerasTensor

# Two sizes for unknown dims, small to keep graph building cheap; if an op rejects them (a
# reshape such as (None, 5) -> (-1, 3)), larger ones divisible by more factors are tried.
_PROBES = (8, 12)
_RETRY_PROBES = (24, 36)


class NeedsProbe(Exception):
    """Raised by an op's spec for a call it leaves to the generic probe."""


def operand_spec(value):
    """``(shape, dtype)`` of a KerasTensor, Variable or backend tensor operand of a spec;
    :class:`NeedsProbe` for anything else (Python scalars and lists follow weak-type rules
    that only the probe applies)."""
    if isinstance(value, KerasTensor):
        return tuple(value.shape), value.dtype
    backend, _ = dispatch._CLASS_INFO.get(value.__class__) or dispatch.classify(value.__class__)
    if backend is None or backend == dispatch.SYMBOLIC or not hasattr(value, "shape"):
        raise NeedsProbe
    return tuple(value.shape), standardize_dtype(value.dtype)


def run_numpy(module, name, *args, **kwargs):
    """The numpy implementation of ``module.name`` on concrete (small) arguments."""
    with np.errstate(all="ignore"):
        return dispatch.resolve_impl("numpy", module, name)(*args, **kwargs)


def _placeholder(shape, dtype, probe):
    shape = tuple(probe if d is None else d for d in shape)
    dt = numpy_dtype(dtype)
    one = np.ones((), dt) if dt.kind in "fc" else np.zeros((), dt)
    return np.broadcast_to(one, shape)


def _to_placeholders(value, probe):
    cls = value.__class__
    if cls in (list, tuple):
        return cls(_to_placeholders(v, probe) for v in value)
    if isinstance(value, dict):
        return {k: _to_placeholders(v, probe) for k, v in value.items()}
    if isinstance(value, KerasTensor):
        return _placeholder(value.shape, value.dtype, probe)
    backend, _ = dispatch._CLASS_INFO.get(cls) or dispatch.classify(cls)
    if backend is not None and backend != dispatch.SYMBOLIC:
        # A concrete tensor or Variable of some backend: only its shape and dtype matter.
        return _placeholder(tuple(value.shape), standardize_dtype(value.dtype), probe)
    return value


def _is_partial_shape(value):
    """A shape argument with unknown sizes, e.g. ``(ops.shape(x)[0], 2)`` on a KerasTensor."""
    return (value.__class__ in (list, tuple) and any(d is None for d in value)
            and all(d is None or isinstance(d, (int, np.integer)) for d in value))


def _has_unknown_dims(values):
    for v in values:
        if _is_partial_shape(v):
            return True
        if isinstance(v, KerasTensor) and None in v.shape:
            return True
        if v.__class__ in (list, tuple) and _has_unknown_dims(v):
            return True
        if isinstance(v, dict) and _has_unknown_dims(v.values()):
            return True
    return False


def _fill_shape(value, probe):
    if _is_partial_shape(value):
        return value.__class__(probe if d is None else d for d in value)
    return value


def _run(impl, args, kwargs, probe):
    args = _to_placeholders(tuple(_fill_shape(a, probe) for a in args), probe)
    kwargs = _to_placeholders({k: _fill_shape(v, probe) for k, v in kwargs.items()}, probe)
    with np.errstate(all="ignore"):
        return impl(*args, **kwargs)


def _merge(a, b):
    """KerasTensors for the numpy outputs ``a`` (and ``b``, the second probe, if any)."""
    if isinstance(a, (list, tuple)):
        bs = b if b is not None else [None] * len(a)
        return a.__class__(_merge(x, y) for x, y in zip(a, bs))
    if isinstance(a, dict):
        return {k: _merge(v, None if b is None else b[k]) for k, v in a.items()}
    if isinstance(a, (np.ndarray, np.generic)):
        shape = np.shape(a)
        if b is not None:
            shape = tuple(d if d == e else None for d, e in zip(shape, np.shape(b)))
        return KerasTensor(shape, standardize_dtype(a.dtype))
    return a


def _probe(impl, args, kwargs, probes, dynamic):
    first = _run(impl, args, kwargs, probes[0])
    second = _run(impl, args, kwargs, probes[1]) if dynamic else None
    return _merge(first, second)


def symbolic_call(module, name, spec, args, kwargs):
    """Output KerasTensor(s) of ``module.name`` applied to ``args``, without real data."""
    if spec is not None:
        try:
            outputs = spec(*args, **kwargs)
        except NeedsProbe:
            spec = None
    if spec is None:
        impl = dispatch.resolve_impl("numpy", module, name)
        dynamic = _has_unknown_dims(args) or _has_unknown_dims(kwargs.values())
        try:
            outputs = _probe(impl, args, kwargs, _PROBES, dynamic)
        except Exception:
            if not dynamic:
                raise
            outputs = _probe(impl, args, kwargs, _RETRY_PROBES, dynamic)
    if module != "random" and _recorder is not None:
        _recorder(name, args, kwargs, outputs)
    return outputs


# ``f(op name, args, kwargs, outputs)`` called for every symbolic op call: the layers package
# registers the graph recording that functional models are built from.
_recorder = None


def set_recorder(recorder):
    """Install the function that records symbolic op calls (``None`` to stop)."""
    global _recorder
    _recorder = recorder
