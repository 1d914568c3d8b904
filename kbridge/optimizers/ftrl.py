"""FTRL-Proximal ("Follow The Regularized Leader"), with L1/L2 and L2-shrinkage terms."""

from kbridge import initializers, ops
from kbridge.optimizers.base_optimizer import Optimizer, OptimizerError


class Ftrl(Optimizer):
    """FTRL-Proximal, the online-learning optimizer for wide sparse models.

    Takes the base optimizer's keyword arguments (clipnorm, use_ema, ...) through ``**kwargs``.

    Example:
        >>> kbridge.optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=0.01)
    """

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, weight_decay=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name,
                         **kwargs)
        checks = {
            "initial_accumulator_value": (initial_accumulator_value, initial_accumulator_value >= 0,
                                          ">= 0"),
            "learning_rate_power": (learning_rate_power, learning_rate_power <= 0, "<= 0"),
            "l1_regularization_strength": (l1_regularization_strength,
                                           l1_regularization_strength >= 0, ">= 0"),
            "l2_regularization_strength": (l2_regularization_strength,
                                           l2_regularization_strength >= 0, ">= 0"),
            "l2_shrinkage_regularization_strength": (
                l2_shrinkage_regularization_strength,
                l2_shrinkage_regularization_strength >= 0, ">= 0"),
        }
        for arg, (value, ok, rule) in checks.items():
            if not ok:
                raise OptimizerError(f"`{arg}` must be {rule}. Received: {arg}={value}")
        self._keep_config(
            learning_rate_power=learning_rate_power,
            initial_accumulator_value=initial_accumulator_value,
            l1_regularization_strength=l1_regularization_strength,
            l2_regularization_strength=l2_regularization_strength,
            l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
            beta=beta)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulators, self._linears = self.add_optimizer_variables(
            var_list, ["accumulator", "linear"],
            initializer=[initializers.Constant(self.initial_accumulator_value), "zeros"])

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        i = self._var_index(variable)
        accum, linear = self._accumulators[i], self._linears[i]
        power = -self.learning_rate_power
        l1 = self.l1_regularization_strength
        l2 = ops.add(ops.divide(self.beta, ops.multiply(lr, 2.0)),
                     self.l2_regularization_strength)
        shrunk_grad = ops.add(gradient, ops.multiply(variable.value,
                                                     2 * self.l2_shrinkage_regularization_strength))
        new_accum = ops.add(accum.value, ops.square(gradient))
        sigma = ops.divide(ops.subtract(ops.power(new_accum, power),
                                        ops.power(accum.value, power)), lr)
        linear.assign(ops.add(linear.value,
                              ops.subtract(shrunk_grad, ops.multiply(sigma, variable.value))))
        quadratic = ops.add(ops.divide(ops.power(new_accum, power), lr), ops.multiply(l2, 2.0))
        clipped = ops.clip(linear.value, -l1, l1)
        variable.assign(ops.divide(ops.subtract(clipped, linear.value), quadratic))
        accum.assign(new_accum)
