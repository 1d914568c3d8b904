"""Muon: momentum orthogonalised by Newton-Schulz iterations for 2-D weights, AdamW for the
rest (Jordan et al., 2024; the update scaling of Liu et al., 2025, "Muon is scalable")."""

import math
import re

from kbridge import ops
from kbridge.optimizers.base_optimizer import Optimizer


class Muon(Optimizer):
    """Muon for 2-D variables, AdamW for the others (Keras 3 ``keras.optimizers.Muon``).

    A variable takes the AdamW step when it is not 2-D, when ``exclude_embeddings`` is set
    and its path contains "embedding", or when its path matches one of the regular
    expressions in ``exclude_layers``; every other variable takes the Muon step:

    ``m = momentum * m + g``; ``u = NS5(g + momentum * m)`` (Nesterov) or ``NS5(m)``;
    ``w -= lr * u * sqrt(max(rows, cols)) * rms_rate``.

    ``NS5`` is ``ns_steps`` quintic Newton-Schulz iterations with coefficients
    ``(muon_a, muon_b, muon_c)``, which map a matrix close to the nearest semi-orthogonal one.

    Args:
        learning_rate: the learning rate (of the Muon step; AdamW uses
            ``learning_rate * adam_lr_ratio``).
        adam_beta_1, adam_beta_2, epsilon: the AdamW step's moment decays and epsilon.
        adam_weight_decay: decoupled weight decay of the AdamW variables.
        weight_decay: decoupled weight decay of the Muon variables.
        exclude_layers: regular expressions of variable paths that take the AdamW step.
        exclude_embeddings: embedding variables take the AdamW step.
        muon_a, muon_b, muon_c: the Newton-Schulz coefficients.
        adam_lr_ratio: the AdamW learning rate as a fraction of ``learning_rate``.
        momentum: the Muon momentum.
        ns_steps: the number of Newton-Schulz iterations.
        nesterov: use Nesterov momentum.
        rms_rate: scale of the Muon update (``None``: no rescaling by the matrix size).
        **kwargs: the base optimizer's arguments (clipnorm, use_ema, ...).

    Example:
        >>> opt = kbridge.optimizers.Muon(learning_rate=0.02, exclude_layers=["output"])
        >>> model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    """

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999,
                 adam_weight_decay=0.004, epsilon=1e-7, weight_decay=0.004, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, exclude_layers=None,
                 exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315,
                 adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2,
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
                         gradient_accumulation_steps, name, **kwargs)
        self._keep_config(
            adam_beta_1=adam_beta_1, adam_beta_2=adam_beta_2, epsilon=epsilon,
            exclude_layers=list(exclude_layers or []), muon_a=muon_a, muon_b=muon_b,
            muon_c=muon_c, adam_lr_ratio=adam_lr_ratio, momentum=momentum, ns_steps=ns_steps,
            nesterov=nesterov, exclude_embeddings=exclude_embeddings,
            adam_weight_decay=adam_weight_decay, rms_rate=rms_rate)

    def _should_use_adamw(self, variable):
        """Whether ``variable`` takes the AdamW step (see the class docstring)."""
        if len(variable.shape) != 2:
            return True
        path = getattr(variable, "path", None) or str(variable.name)
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(pattern, path) for pattern in self.exclude_layers)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # Keras's variable order: each variable's momentum, then its velocity (AdamW only).
        self.momentums, self.adam_velocities = [], []
        for variable in var_list:
            self.momentums.append(self.add_variable_from_reference(variable, "momentum"))
            self.adam_velocities.append(
                self.add_variable_from_reference(variable, "velocity")
                if self._should_use_adamw(variable) else None)

    def update_step(self, gradient, variable, learning_rate):
        i = self._var_index(variable)
        m, v = self.momentums[i], self.adam_velocities[i]
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if v is not None:
            self._adamw_update_step(gradient, variable, ops.multiply(lr, self.adam_lr_ratio),
                                    m, v)
        else:
            self._muon_update_step(gradient, variable, lr, m)

    def _muon_update_step(self, gradient, variable, lr, m):
        m.assign(ops.add(ops.multiply(m.value, self.momentum), gradient))
        direction = ops.add(gradient, ops.multiply(m.value, self.momentum)) if self.nesterov \
            else m.value
        update = ops.multiply(lr, self.zeropower_via_newtonschulz5(direction, self.ns_steps))
        variable.assign(ops.subtract(variable.value, self.lr_adjust(update)))

    def _adamw_update_step(self, gradient, variable, lr, m, v):
        dtype = variable.dtype
        t = ops.cast(ops.add(self.iterations, 1), dtype)
        bias_1 = ops.subtract(1.0, ops.power(ops.cast(self.adam_beta_1, dtype), t))
        bias_2 = ops.subtract(1.0, ops.power(ops.cast(self.adam_beta_2, dtype), t))
        alpha = ops.divide(ops.multiply(lr, ops.sqrt(bias_2)), bias_1)
        m.assign(ops.add(m.value, ops.multiply(ops.subtract(gradient, m.value),
                                               1 - self.adam_beta_1)))
        v.assign(ops.add(v.value, ops.multiply(ops.subtract(ops.square(gradient), v.value),
                                               1 - self.adam_beta_2)))
        update = ops.divide(ops.multiply(m.value, alpha), ops.add(ops.sqrt(v.value), self.epsilon))
        variable.assign(ops.subtract(variable.value, update))

    @staticmethod
    def transpose_last_axis(x):
        """``x`` with its last two axes swapped."""
        order = list(range(len(x.shape)))
        order[-2], order[-1] = order[-1], order[-2]
        return ops.transpose(x, order)

    def lr_adjust(self, x):
        """Scale an update by ``sqrt(max(rows, cols)) * rms_rate`` (no-op without
        ``rms_rate``), which lets Muon share AdamW's learning rate and weight decay."""
        if self.rms_rate is None:
            return x
        return ops.multiply(x, math.sqrt(max(x.shape[0], x.shape[1])) * self.rms_rate)

    def zeropower_via_newtonschulz5(self, x, steps):
        """The quintic Newton-Schulz iteration towards the orthogonal factor of ``x``."""
        shape = tuple(x.shape)
        if len(shape) < 2:
            raise ValueError(f"Expected gradient or momentum to have at least 2 dimensions. "
                             f"Received: shape={shape}")
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = shape[-2] > shape[-1]
        if tall:
            x = self.transpose_last_axis(x)
        # Frobenius normalisation bounds the spectral norm by 1.
        x = ops.divide(x, ops.add(ops.norm(x, axis=(-2, -1), keepdims=True), 1e-7))
        for _ in range(steps):
            gram = ops.matmul(x, self.transpose_last_axis(x))
            poly = ops.add(ops.multiply(gram, b), ops.multiply(ops.matmul(gram, gram), c))
            x = ops.add(ops.multiply(x, a), ops.matmul(poly, x))
        if tall:
            x = self.transpose_last_axis(x)
        return x

    def _apply_weight_decay(self, variables):
        lr = self.learning_rate
        for variable in variables:
            if not self._use_weight_decay(variable):
                continue
            decay = (self.adam_weight_decay if self._should_use_adamw(variable)
                     else self.weight_decay)
            if decay is None:
                continue
            step = ops.multiply(ops.multiply(variable.value, ops.cast(decay, variable.dtype)),
                                ops.cast(lr, variable.dtype))
            variable.assign(ops.subtract(variable.value, step))
