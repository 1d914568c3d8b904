"""Every optimizer against Keras 3 (numpy backend) on every kbridge backend.

Each case runs 5 steps of ``apply`` on the same initial variables with the same per-step
gradients (numpy arrays) in Keras and in kbridge, and compares the variables.
"""

import functools

import numpy as np
import pytest

import kbridge
from tests.optimizers.harness import (
    assert_same,
    gradient_steps,
    initial_values,
    run_kbridge,
    run_keras,
)

# (test id, class name, constructor kwargs, tolerance)
CASES = [
    ("sgd", "SGD", dict(learning_rate=0.1), 1e-5),
    ("sgd_momentum", "SGD", dict(learning_rate=0.1, momentum=0.9), 1e-5),
    ("sgd_nesterov", "SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True), 1e-5),
    ("adam", "Adam", dict(learning_rate=0.05), 1e-5),
    ("adam_amsgrad", "Adam", dict(learning_rate=0.05, amsgrad=True, beta_2=0.9), 1e-5),
    ("adamw", "AdamW", dict(learning_rate=0.05, weight_decay=0.1), 1e-5),
    ("adamax", "Adamax", dict(learning_rate=0.05), 1e-5),
    ("nadam", "Nadam", dict(learning_rate=0.05), 1e-5),
    ("rmsprop", "RMSprop", dict(learning_rate=0.01), 1e-5),
    ("rmsprop_momentum_centered", "RMSprop",
     dict(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True), 1e-5),
    ("adagrad", "Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.2), 1e-5),
    ("adadelta", "Adadelta", dict(learning_rate=1.0, rho=0.9), 1e-5),
    ("adafactor", "Adafactor", dict(learning_rate=0.1), 1e-5),
    ("adafactor_schedule_free", "Adafactor", dict(learning_rate=0.01, relative_step=False,
                                                  clip_threshold=0.5), 1e-5),
    ("lion", "Lion", dict(learning_rate=0.01, beta_1=0.8), 1e-5),
    ("lamb", "Lamb", dict(learning_rate=0.05), 1e-5),
    ("ftrl", "Ftrl", dict(learning_rate=0.1), 1e-5),
    ("ftrl_regularized", "Ftrl", dict(learning_rate=0.1, learning_rate_power=-0.6,
                                      l1_regularization_strength=0.01,
                                      l2_regularization_strength=0.02,
                                      l2_shrinkage_regularization_strength=0.03, beta=0.1),
     1e-5),
    # Base-class features, on optimizers where they matter.
    ("clipnorm", "SGD", dict(learning_rate=0.1, momentum=0.5, clipnorm=0.5), 1e-5),
    ("clipvalue", "Adam", dict(learning_rate=0.05, clipvalue=0.3), 1e-5),
    ("global_clipnorm", "SGD", dict(learning_rate=0.1, global_clipnorm=1.0), 1e-5),
    ("weight_decay_sgd", "SGD", dict(learning_rate=0.1, weight_decay=0.2), 1e-5),
    ("weight_decay_lion", "Lion", dict(learning_rate=0.01, weight_decay=0.5), 1e-5),
    ("ema", "SGD", dict(learning_rate=0.1, use_ema=True, ema_momentum=0.5), 1e-5),
    ("ema_overwrite", "Adam", dict(learning_rate=0.05, use_ema=True, ema_momentum=0.7,
                                   ema_overwrite_frequency=2), 1e-5),
    ("grad_accumulation", "Adam", dict(learning_rate=0.05, gradient_accumulation_steps=2),
     1e-5),
    ("grad_accumulation_sgd", "SGD", dict(learning_rate=0.1, momentum=0.9,
                                          gradient_accumulation_steps=3, clipnorm=1.0), 1e-5),
    ("loss_scale_factor", "SGD", dict(learning_rate=0.1, loss_scale_factor=8.0), 1e-5),
]


def _make(class_name, kwargs):
    return lambda lib: getattr(lib.optimizers, class_name)(**kwargs)


@functools.lru_cache(maxsize=None)
def _keras_result(case_id):
    _, class_name, kwargs, _ = next(c for c in CASES if c[0] == case_id)
    values, _ = run_keras(_make(class_name, kwargs), initial_values(), gradient_steps())
    return values


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_against_keras(case_id, backend):
    _, class_name, kwargs, tol = next(c for c in CASES if c[0] == case_id)
    values, opt, _ = run_kbridge(_make(class_name, kwargs), initial_values(), gradient_steps(),
                                 backend)
    assert_same(values, _keras_result(case_id), tol, what=f"{case_id} on {backend}:")
    expected_iterations = 5 // (kwargs.get("gradient_accumulation_steps") or 1)
    assert int(kbridge.ops.convert_to_numpy(opt.iterations)) == expected_iterations


def test_ema_finalize_against_keras(backend):
    make = _make("SGD", dict(learning_rate=0.1, use_ema=True, ema_momentum=0.6))
    init, grads = initial_values(), gradient_steps()
    _, k_opt = run_keras(make, init, grads)
    _, opt, variables = run_kbridge(make, init, grads, backend)
    k_vars = k_opt._trainable_variables
    k_opt.finalize_variable_values(k_vars)
    opt.finalize_variable_values([variables[n] for n in init])
    assert_same({n: v.numpy() for n, v in variables.items()},
                {v.name: np.asarray(v.numpy()) for v in k_vars})


def test_exclude_from_weight_decay_against_keras(backend):
    make = _make("AdamW", dict(learning_rate=0.05, weight_decay=0.3))

    def by_name(opt, variables):
        opt.exclude_from_weight_decay(var_names=["bias"])

    def by_list(opt, variables):
        opt.exclude_from_weight_decay(var_list=[variables["cube"]])

    init, grads = initial_values(), gradient_steps()
    for prepare in (by_name, by_list):
        expected, _ = run_keras(make, init, grads, prepare)
        actual, _, _ = run_kbridge(make, init, grads, backend, prepare)
        assert_same(actual, expected, what=f"{prepare.__name__} on {backend}:")
    # The exclusion really changes something (otherwise the test proves nothing).
    plain, _, _ = run_kbridge(make, init, grads, backend)
    excluded, _, _ = run_kbridge(make, init, grads, backend, by_name)
    assert not np.allclose(plain["bias"], excluded["bias"])


def test_exclude_from_weight_decay_after_build_fails(backend):
    _, opt, _ = run_kbridge(_make("AdamW", {}), initial_values(), gradient_steps()[:1], backend)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["bias"])


def test_none_gradients_are_skipped_like_keras(backend):
    make = _make("Adam", dict(learning_rate=0.05))
    init = initial_values()
    grads = gradient_steps()
    for step in grads[::2]:
        step["bias"] = None  # the bias gets no gradient on steps 0, 2, 4
    with pytest.warns(UserWarning):
        expected, _ = run_keras(make, init, grads)
    with pytest.warns(UserWarning, match="bias"):
        actual, opt, _ = run_kbridge(make, init, grads, backend)
    assert_same(actual, expected, what=backend)
    assert int(kbridge.ops.convert_to_numpy(opt.iterations)) == 5


def test_all_none_gradients_fail(backend):
    with kbridge.backend.use(backend):
        v = kbridge.Variable(np.ones(3, "float32"), name="w")
    with pytest.raises(ValueError, match="No gradients"):
        kbridge.optimizers.SGD().apply([None], [v])


def test_learning_rate_property(backend):
    with kbridge.backend.use(backend):
        v = kbridge.Variable(np.ones(3, "float32"), name="w")
    opt = kbridge.optimizers.SGD(learning_rate=0.5)
    assert float(opt.learning_rate) == 0.5
    opt.learning_rate = 0.25
    opt.apply([np.ones(3, "float32")], [v])
    np.testing.assert_allclose(v.numpy(), 0.75)
    assert kbridge.backend.of(opt.learning_rate) == backend
    schedule = kbridge.optimizers.schedules.ExponentialDecay(1.0, 1, 0.5)
    opt.learning_rate = schedule  # a schedule replaces the variable
    assert all("learning_rate" not in w.path for w in opt.variables)
    opt.apply([np.ones(3, "float32")], [v])  # lr at step 1 = 0.5
    np.testing.assert_allclose(v.numpy(), 0.25)
    with pytest.raises(ValueError, match="cannot be set to a number"):
        opt.learning_rate = 0.1
    with pytest.raises(ValueError, match="learning_rate"):
        kbridge.optimizers.SGD(learning_rate="fast")


def test_schedule_learning_rate_against_keras(backend):
    def make(lib):
        schedule = lib.optimizers.schedules.CosineDecay(0.01, decay_steps=4, warmup_target=0.1,
                                                        warmup_steps=2)
        return lib.optimizers.Adam(learning_rate=schedule)

    init, grads = initial_values(), gradient_steps()
    expected, _ = run_keras(make, init, grads)
    actual, _, _ = run_kbridge(make, init, grads, backend)
    assert_same(actual, expected, what=backend)


def test_callable_learning_rate(backend):
    with kbridge.backend.use(backend):
        v = kbridge.Variable(np.ones(2, "float32"), name="w")
    opt = kbridge.optimizers.SGD(learning_rate=lambda: 0.5)
    opt.apply([np.ones(2, "float32")], [v])
    np.testing.assert_allclose(v.numpy(), 0.5)


def test_apply_gradients_and_build_errors(backend):
    with kbridge.backend.use(backend):
        a = kbridge.Variable(np.ones(2, "float32"), name="a")
        b = kbridge.Variable(np.ones(2, "float32"), name="b")
    opt = kbridge.optimizers.SGD(learning_rate=1.0)
    with pytest.raises(ValueError, match="built"):
        opt.apply([np.ones(2, "float32")])
    opt.apply_gradients([(np.ones(2, "float32"), a)])
    np.testing.assert_allclose(a.numpy(), 0.0)
    opt.apply([np.ones(2, "float32")])  # built: variables may be left out
    np.testing.assert_allclose(a.numpy(), -1.0)
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply([np.ones(2, "float32")], [b])
    with pytest.raises(ValueError, match="Only one of"):
        kbridge.optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        kbridge.optimizers.SGD(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="momentum"):
        kbridge.optimizers.SGD(momentum=2.0)


def test_variables_match_keras_layout(backend):
    """Same number, order and shapes of optimizer variables as Keras (get_weights order)."""
    init, grads = initial_values(), gradient_steps()[:1]
    for class_name, kwargs in [("Adam", dict(amsgrad=True)), ("SGD", dict(momentum=0.9)),
                               ("RMSprop", dict(momentum=0.5, centered=True)), ("Ftrl", {}),
                               ("Adam", dict(use_ema=True, gradient_accumulation_steps=2))]:
        _, k_opt = run_keras(_make(class_name, kwargs), init, grads)
        _, opt, _ = run_kbridge(_make(class_name, kwargs), init, grads, backend)
        assert [tuple(v.shape) for v in opt.variables] == \
            [tuple(v.shape) for v in k_opt.variables], class_name
        for ours, theirs in zip(opt.get_weights(), [v.numpy() for v in k_opt.variables]):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("class_name", ["Adam", "Nadam", "Lion", "Adafactor", "Lamb", "Ftrl"])
def test_float64_variables_agree_across_backends(class_name, backend):
    """float64 state stays float64 (jax narrows to float32) and matches the numpy backend."""
    make = _make(class_name, dict(learning_rate=0.05, weight_decay=0.1))
    init = {n: v.astype("float64") for n, v in initial_values().items()}
    grads = [{n: g.astype("float64") for n, g in s.items()} for s in gradient_steps()]
    expected, _, _ = run_kbridge(make, init, grads, "numpy")
    actual, opt, variables = run_kbridge(make, init, grads, backend)
    wide = backend != "jax"
    assert all(v.dtype == ("float64" if wide else "float32") for v in variables.values())
    assert_same(actual, expected, tol=1e-12 if wide else 1e-5, what=backend)
