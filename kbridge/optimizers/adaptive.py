"""Per-coordinate adaptive learning rates: RMSprop, Adagrad, Adadelta, Adafactor.

Each takes the base optimizer's keyword arguments (clipnorm, use_ema, ...) through
``**kwargs``; see :class:`kbridge.optimizers.Optimizer`.
"""

from kbridge import initializers, ops
from kbridge.optimizers.base_optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running RMS of recent gradients.

    ``centered=True`` subtracts the running mean of the gradient (a variance estimate);
    ``momentum > 0`` adds a momentum buffer over the scaled steps.

    Example:
        >>> kbridge.optimizers.RMSprop(learning_rate=1e-3, rho=0.9, centered=True)
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name,
                         **kwargs)
        self._keep_config(rho=rho, momentum=momentum, epsilon=epsilon, centered=centered)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._velocities = self.add_optimizer_variables(var_list, "velocity")
        self._momentums = []
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._average_gradients = []
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(var_list, "average_gradient")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        i = self._var_index(variable)
        rho = self.rho
        velocity = self._velocities[i]
        velocity.assign(ops.add(ops.multiply(velocity.value, rho),
                                ops.multiply(ops.square(gradient), 1 - rho)))
        if self.centered:
            average = self._average_gradients[i]
            average.assign(ops.add(ops.multiply(average.value, rho),
                                   ops.multiply(gradient, 1 - rho)))
            denominator = ops.add(ops.subtract(velocity.value, ops.square(average.value)),
                                  self.epsilon)
        else:
            denominator = ops.add(velocity.value, self.epsilon)
        increment = ops.divide(ops.multiply(gradient, lr), ops.sqrt(denominator))
        if self.momentum > 0:
            momentum = self._momentums[i]
            momentum.assign(ops.add(ops.multiply(momentum.value, self.momentum), increment))
            increment = momentum.value
        variable.assign(ops.subtract(variable.value, increment))


class Adagrad(Optimizer):
    """Adagrad: divide by the root of the sum of all past squared gradients.

    Example:
        >>> kbridge.optimizers.Adagrad(learning_rate=0.01, initial_accumulator_value=0.1)
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name,
                         **kwargs)
        self._keep_config(initial_accumulator_value=initial_accumulator_value,
                                  epsilon=epsilon)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(
            var_list, "accumulator",
            initializer=initializers.Constant(self.initial_accumulator_value))

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        accumulator = self._accumulators[self._var_index(variable)]
        accumulator.assign(ops.add(accumulator.value, ops.square(gradient)))
        update = ops.divide(ops.multiply(gradient, lr),
                            ops.sqrt(ops.add(accumulator.value, self.epsilon)))
        variable.assign(ops.subtract(variable.value, update))


class Adadelta(Optimizer):
    """Adadelta: steps scaled by the ratio of running RMS of past steps and of gradients.

    Example:
        >>> kbridge.optimizers.Adadelta(learning_rate=1.0, rho=0.95)
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name,
                         **kwargs)
        self._keep_config(rho=rho, epsilon=epsilon)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulated_grads, self._accumulated_deltas = self.add_optimizer_variables(
            var_list, ["accumulated_grad", "accumulated_delta_var"])

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        i = self._var_index(variable)
        rho = self.rho
        acc_grad, acc_delta = self._accumulated_grads[i], self._accumulated_deltas[i]

        def rms(x):
            return ops.sqrt(ops.add(x, self.epsilon))

        acc_grad.assign(ops.add(ops.multiply(acc_grad.value, rho),
                                ops.multiply(ops.square(gradient), 1 - rho)))
        delta = ops.negative(ops.divide(ops.multiply(rms(acc_delta.value), gradient),
                                        rms(acc_grad.value)))
        acc_delta.assign(ops.add(ops.multiply(acc_delta.value, rho),
                                 ops.multiply(ops.square(delta), 1 - rho)))
        variable.assign(ops.add(variable.value, ops.multiply(delta, lr)))


class Adafactor(Optimizer):
    """Adafactor: second moments stored as row and column factors (memory ~ rows + cols).

    Variables of rank >= 2 keep factored row/column statistics over the last two axes;
    vectors and scalars keep a full second moment.

    Example:
        >>> kbridge.optimizers.Adafactor(learning_rate=1e-2)
    """

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, weight_decay=None, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name,
                         **kwargs)
        self._keep_config(beta_2_decay=beta_2_decay, epsilon_1=epsilon_1,
                                  epsilon_2=epsilon_2, clip_threshold=clip_threshold,
                                  relative_step=relative_step)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._r, self._c, self._v = [], [], []
        for var in var_list:
            shape = tuple(var.shape)
            if len(shape) >= 2:
                prefix = var.path.replace("/", "_")
                self._r.append(self.add_variable(shape[:-1], dtype=var.dtype,
                                                 name=f"{prefix}_row"))
                self._c.append(self.add_variable(shape[:-2] + shape[-1:], dtype=var.dtype,
                                                 name=f"{prefix}_col"))
            else:
                self._r.append(None)
                self._c.append(None)
            self._v.append(self.add_variable_from_reference(var, "velocity"))

    @staticmethod
    def _rms(x):
        return ops.sqrt(ops.mean(ops.square(x)))

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        t = ops.cast(ops.add(self.iterations, 1), dtype)
        inv_sqrt_t = ops.divide(1.0, ops.sqrt(t))
        # Only a schedule or callable learning rate turns the 1/sqrt(t) cap off (as Keras).
        if self.relative_step and not callable(self._learning_rate):
            lr = ops.minimum(lr, inv_sqrt_t)
        i = self._var_index(variable)
        r, c, v = self._r[i], self._c[i], self._v[i]
        rho_t = ops.minimum(lr, inv_sqrt_t)
        alpha_t = ops.multiply(ops.maximum(self._rms(variable.value), self.epsilon_2), rho_t)
        grad_sq = ops.add(ops.square(gradient), self.epsilon_1)
        beta_2_t = ops.subtract(1.0, ops.power(t, self.beta_2_decay))
        keep = ops.subtract(1.0, beta_2_t)
        if r is not None:
            r.assign(ops.add(ops.multiply(r.value, beta_2_t),
                             ops.multiply(ops.mean(grad_sq, axis=-1), keep)))
            c.assign(ops.add(ops.multiply(c.value, beta_2_t),
                             ops.multiply(ops.mean(grad_sq, axis=-2), keep)))
            row = ops.divide(r.value, ops.mean(r.value, axis=-1, keepdims=True))
            v.assign(ops.multiply(ops.expand_dims(row, -1), ops.expand_dims(c.value, -2)))
        else:
            v.assign(ops.add(ops.multiply(v.value, beta_2_t), ops.multiply(grad_sq, keep)))
        u = ops.divide(gradient, ops.sqrt(v.value))
        u = ops.divide(u, ops.maximum(ops.divide(self._rms(u), self.clip_threshold), 1.0))
        variable.assign(ops.subtract(variable.value, ops.multiply(alpha_t, u)))
