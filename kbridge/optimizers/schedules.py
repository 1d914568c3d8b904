"""``kbridge.optimizers.schedules``: learning rates that change with the optimizer step.

A schedule is called with the step, a Python int or a tensor of any backend, and returns a
float32 scalar of that tensor's backend (the active backend for a Python int). The formulas
are Keras 3's, written with ``kbridge.ops`` and without traced ``cond``, so a schedule works
eagerly, inside ``jax.jit`` and inside ``tf.function``.

Example:
    >>> lr = kbridge.optimizers.schedules.CosineDecay(0.1, decay_steps=1000,
    ...                                               warmup_target=1.0, warmup_steps=100)
    >>> opt = kbridge.optimizers.SGD(learning_rate=lr)
"""

import contextlib
import math

import numpy as np

from kbridge import backend as kbridge_backend
from kbridge import ops
from kbridge.backend.common import context
from kbridge.errors import KbridgeError
from kbridge.saving import registry

__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "deserialize",
    "serialize",
]


class ScheduleError(KbridgeError, ValueError):
    """A learning-rate schedule was configured incorrectly."""


def _check_positive(name, value):
    if value <= 0:
        raise ScheduleError(f"`{name}` must be > 0. Received: {name}={value}")


def _float_step(step):
    return ops.cast(step, "float32")


def _backend_of(step):
    """Use the step tensor's backend for the schedule's constants (active one for an int)."""
    if isinstance(step, (int, float, np.generic, np.ndarray)):
        return contextlib.nullcontext()
    try:
        return context.use(kbridge_backend.of(step))
    except KbridgeError:
        return contextlib.nullcontext()


def _on_step_backend(call):
    """Run a schedule's ``__call__`` with the backend of its step tensor active."""

    def wrapped(self, step):
        with _backend_of(step):
            return call(self, step)

    wrapped.__name__ = call.__name__
    wrapped.__doc__ = call.__doc__
    return wrapped


class LearningRateSchedule(registry.Registered):
    """Base class: implement ``__call__(step)`` and ``get_config()`` (or keep the arguments
    with ``_keep_config``)."""

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule {type(self).__name__} must implement __call__(step).")

    def get_config(self):
        if not self._config_attrs:
            raise NotImplementedError(
                f"Learning rate schedule {type(self).__name__} must implement get_config() to "
                "be serialisable.")
        return super().get_config()


class _StaircaseDecay(LearningRateSchedule):
    """A decay driven by ``step / decay_steps`` at ``decay_rate``, floored if ``staircase``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        _check_positive("decay_steps", decay_steps)
        self._keep_config(initial_learning_rate=initial_learning_rate, decay_steps=decay_steps,
                         decay_rate=decay_rate, staircase=staircase, name=name)

    def _progress(self, step):
        """``step / decay_steps`` as float32, floored if ``staircase``."""
        p = ops.divide(_float_step(step), float(self.decay_steps))
        return ops.floor(p) if self.staircase else p


class ExponentialDecay(_StaircaseDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored if staircase).

    Example:
        >>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)(20)   # 0.025
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    @_on_step_backend
    def __call__(self, step):
        return ops.multiply(ops.power(ops.cast(self.decay_rate, "float32"), self._progress(step)),
                            self.initial_learning_rate)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]``.

    Example:
        >>> PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])(150)   # 0.5
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ScheduleError(
                "`boundaries` must have one element fewer than `values`. Received: "
                f"boundaries={boundaries} ({len(boundaries)}), values={values} ({len(values)})")
        self._keep_config(boundaries=list(boundaries), values=list(values), name=name)

    @_on_step_backend
    def __call__(self, step):
        step = ops.convert_to_tensor(step)
        dtype = "int32" if all(isinstance(v, int) for v in self.values) else "float32"
        b = self.boundaries

        def mask(cond):
            return ops.cast(cond, dtype)

        result = ops.multiply(mask(ops.less_equal(step, b[0])), self.values[0])
        result = ops.add(result, ops.multiply(mask(ops.greater(step, b[-1])), self.values[-1]))
        for low, high, value in zip(b[:-1], b[1:], self.values[1:-1]):
            inside = ops.logical_and(ops.greater(step, low), ops.less_equal(step, high))
            result = ops.add(result, ops.multiply(mask(inside), value))
        return ops.cast(result, dtype)


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate`` over
    ``decay_steps`` (restarting with longer periods if ``cycle``).

    Example:
        >>> PolynomialDecay(1.0, decay_steps=100, end_learning_rate=0.0, power=2.0)(50)  # 0.25
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        _check_positive("decay_steps", decay_steps)
        self._keep_config(initial_learning_rate=initial_learning_rate, decay_steps=decay_steps,
                         end_learning_rate=end_learning_rate, power=power, cycle=cycle,
                         name=name)

    @_on_step_backend
    def __call__(self, step):
        step = _float_step(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            periods = ops.where(ops.equal(step, 0), 1.0, ops.ceil(ops.divide(step, decay_steps)))
            decay_steps = ops.multiply(periods, decay_steps)
        else:
            step = ops.minimum(step, decay_steps)
        remaining = ops.subtract(1.0, ops.divide(step, decay_steps))
        span = self.initial_learning_rate - self.end_learning_rate
        return ops.add(ops.multiply(ops.power(remaining, ops.cast(self.power, "float32")), span),
                       self.end_learning_rate)


class InverseTimeDecay(_StaircaseDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored if staircase).

    Example:
        >>> InverseTimeDecay(1.0, decay_steps=10, decay_rate=1.0)(10)   # 0.5
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    @_on_step_backend
    def __call__(self, step):
        denominator = ops.add(
            ops.multiply(self._progress(step), ops.cast(self.decay_rate, "float32")), 1.0)
        return ops.divide(ops.cast(self.initial_learning_rate, "float32"), denominator)


def _cosine(fraction, alpha):
    """``(1 - alpha) * (1 + cos(pi * fraction)) / 2 + alpha``."""
    cosine = ops.multiply(ops.add(ops.cos(ops.multiply(fraction, math.pi)), 1.0), 0.5)
    return ops.add(ops.multiply(cosine, 1.0 - alpha), alpha)


class CosineDecay(LearningRateSchedule):
    """Cosine decay over ``decay_steps`` to ``alpha * peak``, after an optional linear warmup
    from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``.

    Example:
        >>> CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)(5)  # 0.05
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _check_positive("decay_steps", decay_steps)
        self._keep_config(initial_learning_rate=initial_learning_rate, decay_steps=decay_steps,
                         alpha=alpha, name=name, warmup_target=warmup_target,
                         warmup_steps=warmup_steps)

    @_on_step_backend
    def __call__(self, step):
        step = _float_step(step)
        decay_steps = float(self.decay_steps)
        if self.warmup_target is None:
            fraction = ops.divide(ops.minimum(step, decay_steps), decay_steps)
            return ops.multiply(_cosine(fraction, self.alpha), self.initial_learning_rate)
        warmup_steps = float(self.warmup_steps)
        step = ops.minimum(step, decay_steps + warmup_steps)
        # Both pieces are computed and one is selected: no traced cond needed.
        warmup_fraction = ops.divide(step, max(warmup_steps, 1.0))
        warmup = ops.add(ops.multiply(warmup_fraction,
                                      self.warmup_target - self.initial_learning_rate),
                         self.initial_learning_rate)
        fraction = ops.divide(ops.subtract(step, warmup_steps), decay_steps)
        decayed = ops.multiply(_cosine(fraction, self.alpha), self.warmup_target)
        return ops.where(ops.less(step, warmup_steps), warmup, decayed)


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): each period is ``t_mul`` times longer than the
    previous one and starts from ``m_mul`` times the previous peak.

    Example:
        >>> CosineDecayRestarts(0.1, first_decay_steps=100)(100)   # 0.1 (a restart)
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        _check_positive("first_decay_steps", first_decay_steps)
        self._keep_config(initial_learning_rate=initial_learning_rate,
                         first_decay_steps=first_decay_steps, t_mul=t_mul, m_mul=m_mul,
                         alpha=alpha, name=name)

    @_on_step_backend
    def __call__(self, step):
        fraction = ops.divide(_float_step(step), float(self.first_decay_steps))
        t_mul = float(self.t_mul)
        if t_mul == 1.0:
            restart = ops.floor(fraction)
            fraction = ops.subtract(fraction, restart)
        else:
            # Periods grow geometrically: find the period index from the geometric sum.
            restart = ops.floor(ops.divide(
                ops.log(ops.subtract(1.0, ops.multiply(fraction, 1.0 - t_mul))), math.log(t_mul)))
            done = ops.divide(ops.subtract(1.0, ops.power(ops.cast(t_mul, "float32"), restart)),
                              1.0 - t_mul)
            fraction = ops.divide(ops.subtract(fraction, done),
                                  ops.power(ops.cast(t_mul, "float32"), restart))
        peak = ops.power(ops.cast(self.m_mul, "float32"), restart)
        cosine = ops.multiply(ops.add(ops.cos(ops.multiply(fraction, math.pi)), 1.0),
                              ops.multiply(peak, 0.5))
        decayed = ops.add(ops.multiply(cosine, 1.0 - self.alpha), self.alpha)
        return ops.multiply(decayed, self.initial_learning_rate)


def serialize(learning_rate_schedule):
    """A schedule as a config dict (``{"class_name", "config", ...}``)."""
    return registry.serialize(learning_rate_schedule)


def deserialize(config, custom_objects=None):
    """Build a schedule from :func:`serialize`'s dict."""
    return registry.deserialize(config, custom_objects=custom_objects)
