"""Dynamic loss scaling for mixed-precision training."""

from kbridge import initializers, ops
from kbridge.backend.common import context
from kbridge.optimizers.base_optimizer import (
    Optimizer,
    OptimizerError,
    _int_dtype,
    _NoGrad,
    run_if,
)
from kbridge.saving import registry

_BASE_DEFAULTS = {
    "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None,
}


class LossScaleOptimizer(Optimizer):
    """Wrap an optimizer with a dynamic loss scale (Keras 3's algorithm).

    Multiply the loss by ``scale_loss`` before taking gradients; ``apply`` divides the
    gradients by the scale. A step whose gradients contain inf/NaN is skipped (the inner
    optimizer and its iteration counter are left untouched) and the scale is halved; after
    ``dynamic_growth_steps`` finite steps in a row the scale doubles.

    Example:
        >>> opt = kbridge.optimizers.LossScaleOptimizer(kbridge.optimizers.SGD(0.1))
        >>> loss = opt.scale_loss(loss)      # then take gradients of this loss
        >>> opt.apply(grads, variables)
    """

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000,
                 name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise OptimizerError(
                "LossScaleOptimizer only supports dynamic scaling (`dynamic=True`). For a "
                "fixed scale, set `loss_scale_factor` on the inner optimizer instead.")
        for arg, default in _BASE_DEFAULTS.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise OptimizerError(
                    f"LossScaleOptimizer does not take `{arg}`: set it on the inner optimizer.")
        if kwargs:
            raise OptimizerError(
                f"LossScaleOptimizer does not take the argument(s) {sorted(kwargs)}.")
        if not isinstance(inner_optimizer, Optimizer):
            raise OptimizerError(
                "`inner_optimizer` must be a kbridge Optimizer. Received: "
                f"{type(inner_optimizer).__name__}")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = initial_scale
        self.dynamic_growth_steps = dynamic_growth_steps
        inner_optimizer.loss_scale_factor = None

    # The iteration counter and learning rate are the inner optimizer's.
    def _ensure_state(self, backend=None):
        self.inner_optimizer._ensure_state(backend)
        self._backend = self.inner_optimizer._backend

    @property
    def variables(self):
        self._ensure_state()
        return self._variables[:] + self.inner_optimizer.variables

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    def build(self, var_list):
        if self.built:
            return
        var_list = list(var_list)
        self.inner_optimizer.build(var_list)
        super().build(var_list)
        self.step_counter = self.add_variable((), initializer="zeros",
                                              dtype=_int_dtype(self._backend),
                                              name="step_counter")
        self.dynamic_scale = self.add_variable(
            (), initializer=initializers.Constant(self.initial_scale), dtype="float32",
            name="dynamic_scale")

    def check_finite(self, grads):
        """Whether every (non-None) gradient is finite, as a boolean scalar tensor."""
        flags = [ops.all(ops.isfinite(g)) for g in grads if g is not None]
        return ops.all(ops.stack(flags))

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not self.built:
            if trainable_variables is None:
                raise OptimizerError(
                    "`apply(grads)` without variables needs a built optimizer: call "
                    "`optimizer.build(trainable_variables)` or pass the variables.")
            self.build(trainable_variables)
        inner = self.inner_optimizer
        with context.use(self._backend), _NoGrad(self._backend):
            grads = [None if g is None else ops.convert_to_tensor(g) for g in grads]
            finite = self.check_finite(grads)
            scale = self.dynamic_scale.value
            unscaled = [None if g is None else ops.divide(g, scale) for g in grads]
            targets = (self._trainable_variables if trainable_variables is None
                       else list(trainable_variables))
            run_if(finite, lambda: inner.apply(unscaled, trainable_variables),
                   targets + inner.variables)
            counter = self.step_counter.value
            grow = ops.logical_and(finite, ops.equal(counter, self.dynamic_growth_steps - 1))
            zero = ops.zeros_like(counter)
            self.step_counter.assign(
                ops.where(finite, ops.where(grow, zero, ops.add(counter, 1)), zero))
            self.dynamic_scale.assign(
                ops.where(finite, ops.where(grow, ops.multiply(scale, 2.0), scale),
                          ops.multiply(scale, 0.5)))

    def scale_loss(self, loss):
        """``loss`` times the current scale (the initial scale before the first build)."""
        scale = self.dynamic_scale.value if self.built else self.initial_scale
        return ops.multiply(loss, scale)

    def finalize_variable_values(self, var_list=None):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {"name": self.name,
                "inner_optimizer": registry.serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = registry.deserialize(config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)
