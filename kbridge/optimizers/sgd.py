"""Sign- and momentum-based optimizers: SGD and Lion."""

from kbridge import ops
from kbridge.optimizers.base_optimizer import Optimizer, OptimizerError


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    With momentum: ``m = momentum * m - lr * g``; then ``w += m`` (or, with Nesterov,
    ``w += momentum * m - lr * g``).

    Example:
        >>> kbridge.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) \
                or not 0 <= momentum <= 1:
            raise OptimizerError(
                f"`momentum` must be a float in [0, 1]. Received: momentum={momentum!r}")
        self._keep_config(momentum=float(momentum), nesterov=nesterov)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = []
        if self.momentum != 0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        step = ops.multiply(gradient, lr)
        if self.momentum == 0:
            variable.assign(ops.subtract(variable.value, step))
            return
        m = self._momentums[self._var_index(variable)]
        momentum = self.momentum
        m.assign(ops.subtract(ops.multiply(m.value, momentum), step))
        if self.nesterov:
            delta = ops.subtract(ops.multiply(m.value, momentum), step)
        else:
            delta = m.value
        variable.assign(ops.add(variable.value, delta))


class Lion(Optimizer):
    """Lion: step by the sign of an interpolation of momentum and gradient.

    ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``; then
    ``m = beta_2 * m + (1 - beta_2) * g``.

    Example:
        >>> kbridge.optimizers.Lion(learning_rate=1e-4, weight_decay=0.1)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        if not 0 < beta_1 <= 1:
            raise OptimizerError(
                "`beta_1` must be in (0, 1] (with 0, Lion degenerates to signSGD). "
                f"Received: beta_1={beta_1}")
        self._keep_config(beta_1=beta_1, beta_2=beta_2)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        beta_1 = self.beta_1
        beta_2 = self.beta_2
        m = self._momentums[self._var_index(variable)]
        direction = ops.sign(ops.add(ops.multiply(m.value, beta_1),
                                     ops.multiply(gradient, 1.0 - beta_1)))
        variable.assign(ops.subtract(variable.value, ops.multiply(lr, direction)))
        m.assign(ops.add(ops.multiply(m.value, beta_2),
                         ops.multiply(gradient, 1.0 - beta_2)))
