"""Optimizers under jax.jit (stateless_apply), tf.function and torch.no_grad, and
LossScaleOptimizer against Keras 3."""

import numpy as np
import pytest

import kbridge
from tests.conftest import BACKENDS
from tests.optimizers.harness import (
    assert_same,
    gradient_steps,
    initial_values,
    run_kbridge,
    run_keras,
)

# Configurations that exercise every conditional path: plain updates, gradient accumulation,
# EMA with overwrite (both branch on the iteration), loss scaling with a skipped step.
CONFIGS = [
    ("adam", lambda lib: lib.optimizers.Adam(learning_rate=0.05)),
    ("nadam_clip_wd", lambda lib: lib.optimizers.Nadam(learning_rate=0.05, global_clipnorm=1.0,
                                                       weight_decay=0.1)),
    ("sgd_accumulate_ema", lambda lib: lib.optimizers.SGD(
        learning_rate=0.1, momentum=0.9, gradient_accumulation_steps=2, use_ema=True,
        ema_momentum=0.5, ema_overwrite_frequency=2)),
    ("adafactor_schedule", lambda lib: lib.optimizers.Adafactor(
        learning_rate=lib.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5))),
    ("loss_scale", lambda lib: lib.optimizers.LossScaleOptimizer(
        lib.optimizers.RMSprop(learning_rate=0.01, momentum=0.5), initial_scale=4.0,
        dynamic_growth_steps=2)),
]


def _needs(name):
    return pytest.mark.skipif(name not in BACKENDS, reason=f"the {name} backend is not tested")


def _grads_with_overflow():
    grads = gradient_steps()
    grads[2]["kernel"] = grads[2]["kernel"].copy()
    grads[2]["kernel"][0, 0] = np.inf  # step 3 overflows: LossScaleOptimizer skips it
    return grads


def _grads_for(config_id):
    return _grads_with_overflow() if config_id == "loss_scale" else gradient_steps()


def _built(config_id, backend, reference_backend):
    """``config_id``'s optimizer built on fresh Variables on ``backend``, its gradient steps,
    and the variable values and optimizer that plain ``apply`` on ``reference_backend`` gives."""
    make = dict(CONFIGS)[config_id]
    init, grads = initial_values(), _grads_for(config_id)
    expected, ref_opt, _ = run_kbridge(make, init, grads, reference_backend)
    with kbridge.backend.use(backend):
        variables = [kbridge.Variable(init[n].copy(), name=n) for n in init]
    opt = make(kbridge)
    opt.build(variables)
    return opt, variables, grads, expected, ref_opt


def _assert_slots(values, ref_opt):
    """An optimizer's own variable ``values`` (numpy arrays) equal those of ``ref_opt``."""
    for ours, ref in zip(values, ref_opt.variables):
        np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-5, atol=1e-6, err_msg=ref.path)


@_needs("jax")
@pytest.mark.parametrize("config_id", [c[0] for c in CONFIGS])
def test_stateless_apply_in_jax_jit_equals_apply(config_id):
    import jax

    opt, variables, grads, expected, ref_opt = _built(config_id, "jax", "jax")
    names = list(expected)
    step = jax.jit(opt.stateless_apply)
    trainable = [v.value for v in variables]
    opt_values = [v.value for v in opt.variables]
    for g in grads:
        trainable, opt_values = step(opt_values, [g[n] for n in names], trainable)
    assert_same(dict(zip(names, map(np.asarray, trainable))), expected, what=config_id)
    _assert_slots(map(np.asarray, opt_values), ref_opt)
    # stateless_apply leaves the Variables themselves untouched.
    assert_same({n: v.numpy() for n, v in zip(names, variables)}, initial_values())
    assert int(np.asarray(opt.iterations)) == 0


@_needs("tensorflow")
@pytest.mark.parametrize("config_id", [c[0] for c in CONFIGS])
def test_apply_inside_tf_function(config_id):
    import tensorflow as tf

    # (built first: variables cannot be created inside a traced tf.function)
    opt, variables, grads, expected, ref_opt = _built(config_id, "tensorflow", "numpy")
    names = list(expected)

    @tf.function
    def train_step(step_grads):
        opt.apply(step_grads, variables)

    for g in grads:
        train_step([tf.constant(g[n]) for n in names])
    assert_same({n: v.numpy() for n, v in zip(names, variables)}, expected, what=config_id)
    _assert_slots([v.numpy() for v in opt.variables], ref_opt)
    assert train_step.experimental_get_tracing_count() == 1


@_needs("torch")
def test_torch_apply_updates_parameters_in_place():
    import torch

    init, grads = initial_values(), gradient_steps()
    names = list(init)
    with kbridge.backend.use("torch"):
        variables = [kbridge.Variable(init[n].copy(), name=n) for n in names]
    params = [v.value for v in variables]
    assert all(isinstance(p, torch.nn.Parameter) for p in params)
    opt = kbridge.optimizers.Adam(learning_rate=0.05, use_ema=True)
    expected, _, _ = run_kbridge(lambda lib: lib.optimizers.Adam(learning_rate=0.05,
                                                                 use_ema=True),
                                 init, grads, "numpy")
    for g in grads:
        with torch.no_grad():
            opt.apply([torch.from_numpy(g[n]) for n in names], variables)
    assert all(v.value is p for v, p in zip(variables, params))  # same Parameter objects
    assert all(p.requires_grad and p.grad_fn is None for p in params)
    assert_same({n: p.detach().numpy() for n, p in zip(names, params)}, expected)
    assert all(isinstance(v.value, torch.Tensor) for v in opt.variables)


@_needs("torch")
def test_torch_apply_outside_no_grad_builds_no_graph():
    import torch

    with kbridge.backend.use("torch"):
        v = kbridge.Variable(np.ones((2, 2), "float32"), name="w")
    param = v.value
    kbridge.optimizers.SGD(learning_rate=0.5, momentum=0.9).apply(
        [torch.ones(2, 2)], [v])
    assert v.value is param and param.grad_fn is None
    np.testing.assert_allclose(param.detach().numpy(), 0.5)


def test_loss_scale_optimizer_against_keras(backend):
    def make(lib):
        return lib.optimizers.LossScaleOptimizer(lib.optimizers.Adam(learning_rate=0.05),
                                                 initial_scale=8.0, dynamic_growth_steps=2)

    init, grads = initial_values(), _grads_with_overflow()
    expected, k_opt = run_keras(make, init, grads)
    actual, opt, _ = run_kbridge(make, init, grads, backend)
    assert_same(actual, expected, what=backend)
    assert float(opt.dynamic_scale.numpy()) == float(k_opt.dynamic_scale.numpy())
    assert int(opt.step_counter.numpy()) == int(k_opt.step_counter.numpy())
    # The overflowing step was skipped: the inner optimizer counted 4 steps, like Keras.
    assert int(kbridge.ops.convert_to_numpy(opt.iterations)) == int(k_opt.iterations.numpy()) == 4


def test_loss_scale_optimizer_scaling(backend):
    with kbridge.backend.use(backend):
        v = kbridge.Variable(np.ones(2, "float32"), name="w")
    opt = kbridge.optimizers.LossScaleOptimizer(kbridge.optimizers.SGD(learning_rate=1.0),
                                                initial_scale=4.0, dynamic_growth_steps=2)
    assert float(kbridge.ops.convert_to_numpy(opt.scale_loss(2.0))) == 8.0
    # Gradients of the scaled loss: true gradient 0.25 times the scale 4.
    opt.apply([np.full(2, 1.0, "float32")], [v])
    np.testing.assert_allclose(v.numpy(), 0.75)
    opt.apply([np.full(2, 1.0, "float32")], [v])  # second finite step: the scale doubles
    assert float(opt.dynamic_scale.numpy()) == 8.0
    opt.apply([np.array([np.nan, 1.0], "float32")], [v])  # skipped, scale halves
    np.testing.assert_allclose(v.numpy(), 0.5)
    assert float(opt.dynamic_scale.numpy()) == 4.0
    assert float(kbridge.ops.convert_to_numpy(opt.scale_loss(1.0))) == 4.0
    assert float(opt.learning_rate) == 1.0
    with pytest.raises(ValueError, match="inner optimizer"):
        kbridge.optimizers.LossScaleOptimizer(kbridge.optimizers.SGD(), clipnorm=1.0)
