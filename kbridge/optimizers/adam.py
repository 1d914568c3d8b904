"""Adam and its relatives: Adam (amsgrad), AdamW, Adamax, Nadam, Lamb.

Each takes the base optimizer's keyword arguments (clipnorm, use_ema, ...) through
``**kwargs``; see :class:`kbridge.optimizers.Optimizer`.
"""

from kbridge import ops
from kbridge.optimizers.base_optimizer import Optimizer, OptimizerError


def _step(optimizer, dtype, offset=1):
    """The 1-based step number (``iterations + offset``) as a float of ``dtype``."""
    return ops.cast(ops.add(optimizer.iterations, offset), dtype)


def moving_average(slot, value, beta):
    """Move ``slot`` towards ``value``: ``slot += (value - slot) * (1 - beta)``."""
    slot.assign(ops.add(slot.value, ops.multiply(ops.subtract(value, slot.value), 1 - beta)))


class _AdamBase(Optimizer):
    """What the Adam variants share: ``beta_1``, ``beta_2`` and ``epsilon``, and one slot per
    variable for each name in ``_slots`` (in ``_momentums`` and ``_velocities``)."""

    _slots = ("momentum", "velocity")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name=name,
                         **kwargs)
        self._keep_config(beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(var_list, self._slots)

    def _bias_corrections(self, dtype):
        """``1 - beta_1 ** t`` and ``1 - beta_2 ** t`` at the 1-based step ``t``."""
        t = _step(self, dtype)
        return (ops.subtract(1.0, ops.power(self.beta_1, t)),
                ops.subtract(1.0, ops.power(self.beta_2, t)))

    def _update_moments(self, gradient, variable):
        """Advance ``variable``'s Adam moments by ``gradient``; returns the two slots."""
        i = self._var_index(variable)
        m, v = self._momentums[i], self._velocities[i]
        moving_average(m, gradient, self.beta_1)
        moving_average(v, ops.square(gradient), self.beta_2)
        return m, v


class Adam(_AdamBase):
    """Adam: bias-corrected first and second moment estimates (optionally AMSGrad).

    Example:
        >>> kbridge.optimizers.Adam(learning_rate=1e-3, amsgrad=True)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, weight_decay=weight_decay, name=name, **kwargs)
        self._keep_config(amsgrad=amsgrad)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        bias_1, bias_2 = self._bias_corrections(dtype)
        alpha = ops.divide(ops.multiply(lr, ops.sqrt(bias_2)), bias_1)
        m, v = self._update_moments(gradient, variable)
        second = v.value
        if self.amsgrad:
            v_hat = self._velocity_hats[self._var_index(variable)]
            v_hat.assign(ops.maximum(v_hat.value, v.value))
            second = v_hat.value
        update = ops.divide(ops.multiply(m.value, alpha), ops.add(ops.sqrt(second), self.epsilon))
        variable.assign(ops.subtract(variable.value, update))


class AdamW(Adam):
    """Adam with decoupled weight decay (on by default: ``weight_decay=0.004``).

    Example:
        >>> opt = kbridge.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.01)
        >>> opt.exclude_from_weight_decay(var_names=["bias"])
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay, name=name,
                         **kwargs)
        if self.weight_decay is None:
            raise OptimizerError(
                "AdamW needs a float `weight_decay`. Received: weight_decay=None")


class Adamax(_AdamBase):
    """Adamax: Adam with the infinity norm in place of the second moment.

    Example:
        >>> kbridge.optimizers.Adamax(learning_rate=2e-3)
    """

    _slots = ("momentum", "norm")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        bias_1 = ops.subtract(1.0, ops.power(self.beta_1, _step(self, dtype)))
        i = self._var_index(variable)
        m, u = self._momentums[i], self._velocities[i]
        moving_average(m, gradient, self.beta_1)
        u.assign(ops.maximum(ops.multiply(u.value, self.beta_2), ops.abs(gradient)))
        update = ops.divide(ops.multiply(m.value, lr),
                            ops.multiply(bias_1, ops.add(u.value, self.epsilon)))
        variable.assign(ops.subtract(variable.value, update))


class Nadam(_AdamBase):
    """Nadam: Adam with Nesterov momentum (with the momentum schedule of Dozat, 2016).

    Example:
        >>> kbridge.optimizers.Nadam(learning_rate=2e-3)
    """

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        dtype = var_list[0].dtype if var_list else "float32"
        # The running product of the momentum schedule mu_1 * ... * mu_t.
        self._u_product = self.add_variable((), initializer="ones", dtype=dtype,
                                            name="u_product")

    def _mu(self, dtype, offset):
        decay = ops.power(0.96, _step(self, dtype, offset))
        return ops.multiply(ops.subtract(1.0, ops.multiply(decay, 0.5)),
                            self.beta_1)

    def _backend_update_step(self, grads, variables, learning_rate):
        dtype = self._u_product.dtype
        self._u_product.assign(ops.multiply(self._u_product.value, self._mu(dtype, 1)))
        super()._backend_update_step(grads, variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        mu_t = self._mu(dtype, 1)
        mu_next = self._mu(dtype, 2)
        product_t = ops.cast(self._u_product.value, dtype)
        product_next = ops.multiply(product_t, mu_next)
        bias_2 = ops.subtract(1.0, ops.power(self.beta_2, _step(self, dtype)))
        m, v = self._update_moments(gradient, variable)
        m_hat = ops.add(
            ops.divide(ops.multiply(m.value, mu_next), ops.subtract(1.0, product_next)),
            ops.divide(ops.multiply(gradient, ops.subtract(1.0, mu_t)),
                       ops.subtract(1.0, product_t)))
        v_hat = ops.divide(v.value, bias_2)
        update = ops.divide(ops.multiply(m_hat, lr), ops.add(ops.sqrt(v_hat), self.epsilon))
        variable.assign(ops.subtract(variable.value, update))


class Lamb(_AdamBase):
    """LAMB: Adam's update rescaled per variable by ``||w|| / ||update||`` (trust ratio).

    Example:
        >>> kbridge.optimizers.Lamb(learning_rate=1e-3)
    """

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        bias_1, bias_2 = self._bias_corrections(dtype)
        m, v = self._update_moments(gradient, variable)
        update = ops.divide(ops.divide(m.value, bias_1),
                            ops.add(ops.sqrt(ops.divide(v.value, bias_2)), self.epsilon))
        w_norm = ops.sqrt(ops.sum(ops.square(variable.value)))
        u_norm = ops.sqrt(ops.sum(ops.square(update)))
        # Trust ratio ||w|| / ||update||, or 1 where either norm is zero.
        safe_u = ops.where(ops.greater(u_norm, 0), u_norm, ops.ones_like(u_norm))
        ratio = ops.where(ops.logical_and(ops.greater(w_norm, 0), ops.greater(u_norm, 0)),
                          ops.divide(w_norm, safe_u), ops.ones_like(w_norm))
        variable.assign(ops.subtract(variable.value,
                                     ops.multiply(ops.multiply(ratio, lr), update)))
