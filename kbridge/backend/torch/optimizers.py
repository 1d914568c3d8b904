"""Fused update steps for the torch backend: one ``torch._foreach_*`` kernel per formula term
over all variables, in place, instead of a dozen allocating ops per variable.

The formulas are exactly the backend-neutral ``update_step`` ones (``lerp`` is
``m + w * (g - m)``), so every backend trains to the same numbers; an optimizer whose class
overrides ``update_step``, or that uses an option these steps do not cover (AMSGrad), keeps the
generic per-variable path. ``fused_update_step(optimizer)`` says which applies.
"""

import math

import torch

from kbridge.backend.torch.core import convert_to_tensor

# Devices on which torch ships a fused (single-kernel) Adam.
_FUSED_DEVICES = frozenset({"cpu", "cuda", "xpu", "mps"})


def fused_update_step(optimizer):
    """The fused step for ``optimizer`` — ``step(optimizer, grads, variables, lr)`` — or None."""
    from kbridge.optimizers.adam import Adam
    from kbridge.optimizers.sgd import SGD

    update = type(optimizer).update_step
    if update is Adam.update_step and not optimizer.amsgrad:
        return _adam
    if update is SGD.update_step:
        return _sgd
    return None


def _grouped(grads, variables):
    """``(params, grads)`` with each gradient cast to its variable's dtype, or None when the
    variables do not share one floating dtype and device (foreach kernels want one)."""
    params = [v.value for v in variables]
    dtype, device = params[0].dtype, params[0].device
    if not dtype.is_floating_point or any(p.dtype != dtype or p.device != device
                                          for p in params):
        return None, None
    grads = [g if g.dtype == dtype else g.to(dtype) for g in grads]
    return params, grads


def _step_number(optimizer, dtype):
    return (convert_to_tensor(optimizer.iterations) + 1).to(dtype)


def _adam(optimizer, grads, variables, learning_rate):
    params, grads = _grouped(grads, variables)
    if params is None:
        return False
    dtype = params[0].dtype
    index = [optimizer._var_index(v) for v in variables]
    momentums = [optimizer._momentums[i].value for i in index]
    velocities = [optimizer._velocities[i].value for i in index]
    lr = convert_to_tensor(learning_rate, dtype)
    if params[0].device.type in _FUSED_DEVICES and not torch.compiler.is_compiling():
        # torch's fused Adam kernel: one pass over each tensor. It adds ``eps`` after the
        # bias correction of the second moment, the Keras formula before it; dividing ``eps``
        # by that correction makes the two the same update. (Reading the step is a host
        # sync, as in torch's own non-capturable Adam.)
        t = float(convert_to_tensor(optimizer.iterations).item()) + 1
        step = torch.tensor(t, dtype=torch.float32, device=params[0].device)
        eps = optimizer.epsilon / math.sqrt(1 - optimizer.beta_2 ** t)
        torch._fused_adam_(params, grads, momentums, velocities, [], [step] * len(params),
                           lr=lr, beta1=optimizer.beta_1, beta2=optimizer.beta_2,
                           weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)
        return True
    t = _step_number(optimizer, dtype)
    alpha = lr * torch.sqrt(1 - optimizer.beta_2 ** t) / (1 - optimizer.beta_1 ** t)
    torch._foreach_lerp_(momentums, grads, 1 - optimizer.beta_1)
    torch._foreach_mul_(velocities, optimizer.beta_2)
    torch._foreach_addcmul_(velocities, grads, grads, 1 - optimizer.beta_2)
    denominators = torch._foreach_sqrt(velocities)
    torch._foreach_add_(denominators, optimizer.epsilon)
    updates = torch._foreach_mul(momentums, alpha)
    torch._foreach_div_(updates, denominators)
    torch._foreach_sub_(params, updates)
    return True


def _sgd(optimizer, grads, variables, learning_rate):
    params, grads = _grouped(grads, variables)
    if params is None:
        return False
    steps = torch._foreach_mul(grads, convert_to_tensor(learning_rate, params[0].dtype))
    if optimizer.momentum == 0:
        torch._foreach_sub_(params, steps)
        return True
    momentums = [optimizer._momentums[optimizer._var_index(v)].value for v in variables]
    torch._foreach_mul_(momentums, optimizer.momentum)
    torch._foreach_sub_(momentums, steps)
    if optimizer.nesterov:
        delta = torch._foreach_mul(momentums, optimizer.momentum)
        torch._foreach_sub_(delta, steps)
        torch._foreach_add_(params, delta)
    else:
        torch._foreach_add_(params, momentums)
    return True
