"""Schedule-Free AdamW (Defazio et al., 2024): no learning-rate schedule needed."""

from kbridge import ops
from kbridge.optimizers.adam import _AdamBase, _step, moving_average


class ScheduleFreeAdamW(_AdamBase):
    """Schedule-Free AdamW (Keras 3 ``keras.optimizers.ScheduleFreeAdamW``).

    The optimizer keeps ``z`` (its "momentum" slot, started at the initial weights) where the
    Adam-scaled gradient steps land, and an average ``x`` of the ``z`` iterates; the model
    holds their interpolation ``y = (1 - beta_1) * z + beta_1 * x``. Per step ``t``:

    ``v = beta_2 * v + (1 - beta_2) * g**2``;
    ``z -= lr_t * g / (sqrt(v / (1 - beta_2**t)) + epsilon)``;
    ``x = (1 - 1/t) * x + z / t``; ``y = (1 - beta_1) * z + beta_1 * x``,
    with ``lr_t`` ramping linearly from 0 over ``warmup_steps``.

    Example:
        >>> model.compile(optimizer=kbridge.optimizers.ScheduleFreeAdamW(0.0025), loss="mse")
    """

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 warmup_steps=0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        self._keep_config(warmup_steps=warmup_steps)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for z, variable in zip(self._momentums, var_list):
            z.assign(ops.copy(variable.value))  # z starts at the initial weights

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        t = _step(self, dtype)
        beta_1, beta_2 = self.beta_1, self.beta_2
        if self.warmup_steps > 0:
            lr = ops.multiply(lr, ops.minimum(ops.divide(t, float(self.warmup_steps)), 1.0))
        i = self._var_index(variable)
        z, v = self._momentums[i], self._velocities[i]
        z_old = ops.copy(z.value)  # a copy: torch and tf assign in place
        bias_2 = ops.subtract(1.0, ops.power(ops.cast(beta_2, dtype), t))
        moving_average(v, ops.square(gradient), beta_2)
        denom = ops.add(ops.sqrt(ops.divide(v.value, bias_2)), self.epsilon)
        z.assign(ops.subtract(z_old, ops.divide(ops.multiply(lr, gradient), denom)))
        weight = ops.divide(1.0, t)
        # The model holds y = (1 - beta_1) z + beta_1 x, so x is recovered from y and old z.
        x_old = ops.divide(ops.subtract(variable.value, ops.multiply(z_old, 1 - beta_1)), beta_1)
        x_new = ops.add(ops.multiply(x_old, ops.subtract(1.0, weight)),
                        ops.multiply(z.value, weight))
        variable.assign(ops.add(ops.multiply(z.value, 1 - beta_1), ops.multiply(x_new, beta_1)))
