"""The ``Loss`` base class and the reduction of per-sample losses to a scalar.

A loss is computed in its ``dtype`` (``floatx()`` by default) on whatever backend its inputs
belong to (numpy inputs use the active backend), so one ``Loss`` object serves every backend.
Nothing here branches in Python on tensor values: losses run inside ``jax.jit`` and
``tf.function``.
"""

import inspect
import math

from kbridge import ops
from kbridge.backend.common import dtypes, naming
from kbridge.errors import KbridgeError
from kbridge.saving import registry

REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


class LossError(KbridgeError, ValueError):
    """A loss was configured or called incorrectly."""


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise LossError(
            f"`reduction` must be one of {list(REDUCTIONS)}. Received: reduction={reduction!r}")
    return reduction


def _rank(x):
    return len(x.shape)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Make ranks equal when they differ by one and the longer one ends in a size-1 axis.

    A rank-1 partner is expanded (``expand_rank_1``), otherwise the size-1 axis is squeezed.
    """
    r1, r2 = _rank(x1), _rank(x2)
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, -1)
        else:
            x1 = ops.squeeze(x1, -1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, -1)
        else:
            x2 = ops.squeeze(x2, -1)
    return x1, x2


def num_elements(x, dtype):
    """The number of elements of ``x`` as a ``dtype`` scalar (static when the shape is known)."""
    shape = tuple(x.shape)
    if all(d is not None for d in shape):
        return ops.cast(math.prod(shape), dtype)
    return ops.cast(ops.sum(ops.ones_like(x, dtype="int32")), dtype)


def get_mask(x):
    """The Keras-style mask carried by a tensor (``x._keras_mask``), if any."""
    return getattr(x, "_keras_mask", None)


def set_mask(x, mask):
    """Attach ``mask`` to ``x`` where the tensor type allows attributes (torch, tf)."""
    try:
        x._keras_mask = mask
    except (AttributeError, TypeError):
        pass  # numpy / jax arrays take no attributes; the classes pass masks explicitly
    return x


def values_and_mask(fn, y_true, y_pred, kwargs):
    """``fn(y_true, y_pred, **kwargs)`` and the mask of those values (both from
    ``fn.with_mask`` where the function has one)."""
    with_mask = getattr(fn, "with_mask", None)
    if with_mask is not None:
        return with_mask(y_true, y_pred, **kwargs)
    values = fn(y_true, y_pred, **kwargs)
    return values, get_mask(values)


def apply_mask(sample_weight, mask, dtype, reduction):
    """Fold a boolean ``mask`` into ``sample_weight``.

    For the averaging reductions the kept entries are scaled by ``total / kept`` so the
    average runs over the kept entries only.
    """
    if mask is None:
        return sample_weight
    fmask = ops.cast(mask, dtype)
    if reduction in ("mean", "sum_over_batch_size"):
        kept = ops.sum(fmask)
        fmask = fmask * ops.divide_no_nan(num_elements(fmask, dtype), kept)
    if sample_weight is None:
        return fmask
    sample_weight = ops.cast(sample_weight, dtype)
    fmask, sample_weight = squeeze_or_expand_to_same_rank(fmask, sample_weight)
    return sample_weight * fmask


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    if reduction in (None, "none") or _rank(values) == 0 or tuple(values.shape) == (0,):
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = ops.cast(ops.sum(sample_weight), total.dtype)
    else:
        divisor = num_elements(values, dtypes.standardize_dtype(total.dtype))
    return ops.divide_no_nan(total, divisor)


def reduce_weighted_values(values, sample_weight=None, mask=None,
                           reduction="sum_over_batch_size", dtype=None):
    """Weight per-sample ``values`` by ``sample_weight`` (and ``mask``), then reduce."""
    reduction = standardize_reduction(reduction)
    dtype = dtype or dtypes.floatx()
    values = ops.cast(values, dtype)
    if sample_weight is not None:
        sample_weight = ops.cast(sample_weight, dtype)
    sample_weight = apply_mask(sample_weight, mask, dtype, reduction)
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)


class NamedWithDtype:
    """What losses and metrics share: a name (by default the class's, snake_cased and made
    unique), a computation ``dtype`` (a dtype policy's compute dtype, or ``floatx()``),
    ``from_config`` and ``repr``."""

    def _set_name_and_dtype(self, name, dtype):
        self.name = name or naming.uniquify(naming.to_snake_case(type(self).__name__))
        policy_dtype = getattr(dtype, "compute_dtype", dtype)
        self._dtype = dtypes.standardize_dtype(policy_dtype or dtypes.floatx())

    @property
    def dtype(self):
        return self._dtype

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Loss(NamedWithDtype, registry.Registered):
    """Base class of losses: ``call(y_true, y_pred)`` gives per-sample values, ``__call__``
    weights and reduces them.

    Args:
        name: the loss's name.
        reduction: ``"sum_over_batch_size"`` (default) or ``"mean"`` (sum / number of
            entries), ``"sum"``, ``"mean_with_sample_weight"`` (sum / sum of the sample
            weights), ``"none"`` / ``None`` (no reduction).
        dtype: the computation dtype (default ``floatx()``).

    Example:
        >>> class Square(kbridge.losses.Loss):
        ...     def call(self, y_true, y_pred):
        ...         return kbridge.ops.mean(kbridge.ops.square(y_pred - y_true), axis=-1)
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.reduction = standardize_reduction(reduction)
        self._set_name_and_dtype(name, dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        in_mask = get_mask(y_pred)
        y_pred = ops.cast(y_pred, self.dtype)
        y_true = ops.cast(y_true, self.dtype)
        values, out_mask = self.call_with_mask(y_true, y_pred)
        if in_mask is not None and out_mask is not None:
            mask = ops.logical_and(ops.cast(in_mask, "bool"), ops.cast(out_mask, "bool"))
        else:
            mask = in_mask if in_mask is not None else out_mask
        return reduce_weighted_values(values, sample_weight=sample_weight, mask=mask,
                                      reduction=self.reduction, dtype=self.dtype)

    def call_with_mask(self, y_true, y_pred):
        """``(values, mask)``; override where a loss masks entries out (``ignore_class``)."""
        values = self.call(y_true, y_pred)
        return values, get_mask(values)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} does not implement call().")

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


# Traced as plain Python by TF autograph (see kbridge/metrics/metric.py, _in_own_backend).
Loss.__call__.autograph_info__ = frozenset()


class LossFunctionWrapper(Loss):
    """A ``Loss`` that calls ``fn(y_true, y_pred, **kwargs)`` for the per-sample values.

    Example:
        >>> loss = kbridge.losses.LossFunctionWrapper(kbridge.losses.huber, delta=0.5)
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call_with_mask(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return values_and_mask(self.fn, y_true, y_pred, self._fn_kwargs)

    def call(self, y_true, y_pred):
        return self.call_with_mask(y_true, y_pred)[0]

    def get_config(self):
        return wrapper_config(super().get_config(), self.fn, self._fn_kwargs)

    @classmethod
    def from_config(cls, config):
        return wrapper_from_config(cls, config)

    def __repr__(self):
        return f"<LossFunctionWrapper({getattr(self.fn, '__name__', self.fn)}, " \
               f"kwargs={self._fn_kwargs})>"


class KeywordLossWrapper(LossFunctionWrapper):
    """A wrapper of a fixed function whose keyword arguments are also the loss's attributes
    and, after name and reduction, its config (Keras's built-in loss classes)."""

    def __init__(self, fn, reduction, name, dtype, **kwargs):
        super().__init__(fn, reduction=reduction, name=name, dtype=dtype, **kwargs)
        for key, value in kwargs.items():
            setattr(self, key, value)

    def get_config(self):
        config = Loss.get_config(self)
        config.update({key: getattr(self, key) for key in self._fn_kwargs})
        return config


class FixedFunctionLoss(KeywordLossWrapper):
    """A loss of the function ``fn`` named in its class statement, with no options of its own:
    ``__init__(reduction, name, dtype)``, where ``name`` defaults to the function's name.

    Example:
        >>> class LogCosh(FixedFunctionLoss, fn=log_cosh):
        ...     pass
    """

    def __init_subclass__(cls, fn=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if fn is None:  # a subclass of a concrete loss keeps its parent's __init__
            return

        def __init__(self, reduction="sum_over_batch_size", name=fn.__name__, dtype=None):
            KeywordLossWrapper.__init__(self, fn, reduction, name, dtype)

        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__


def wrapper_config(config, fn, fn_kwargs):
    """A function wrapper's ``config`` completed with ``fn`` and its keyword arguments."""
    config["fn"] = registry.serialize(fn)
    config.update(registry.serialize(fn_kwargs))
    return config


def wrapper_from_config(cls, config):
    """A function wrapper of class ``cls`` from :func:`wrapper_config`'s dict."""
    config = dict(config)
    if isinstance(config.get("fn"), (str, dict)):
        config["fn"] = registry.deserialize(config["fn"])
    return cls(**config)


def resolve_identifier(identifier, objects, deserialize):
    """What ``get`` of losses and metrics makes of a non-None ``identifier``: a config dict
    deserialised, a name looked up in ``objects``, a class instantiated with its defaults;
    None where that is not callable."""
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = objects.get(identifier)
    else:
        obj = identifier
    if inspect.isclass(obj):
        obj = obj()
    return obj if callable(obj) else None
