"""Muon, ScheduleFreeAdamW, MultiOptimizer/OptimizerMap and the legacy names against Keras 3.

Keras 3 on its numpy backend runs ``optimizer.apply`` (it only lacks gradients), so each
optimizer's update sequence is compared with Keras's in-process; then each trains a small
model under ``fit`` on jax, torch and tensorflow, and runs under ``jax.jit``.
"""

import functools

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

keras = pytest.importorskip("keras")


def _multi(lib):
    o = lib.optimizers
    return o.MultiOptimizer(o.OptimizerMap(o.SGD(0.1, momentum=0.9),
                                           {"bias": o.Adam(0.05), "c.*": o.Muon(0.05)}))


def _multi_callable(lib):
    o = lib.optimizers
    adam, sgd = o.Adam(0.05), o.SGD(0.1)
    return o.MultiOptimizer(lambda v: adam if "kernel" in v.path else sgd,
                            loss_scale_factor=4.0)


CASES = {
    "muon": lambda lib: lib.optimizers.Muon(learning_rate=0.05),
    "muon_options": lambda lib: lib.optimizers.Muon(
        learning_rate=0.05, nesterov=False, rms_rate=None, adam_lr_ratio=0.5,
        weight_decay=0.1, adam_weight_decay=0.2, ns_steps=3, clipnorm=1.0),
    "muon_exclude": lambda lib: lib.optimizers.Muon(learning_rate=0.05,
                                                    exclude_layers=["ker"]),
    "schedule_free": lambda lib: lib.optimizers.ScheduleFreeAdamW(learning_rate=0.05),
    "schedule_free_warmup": lambda lib: lib.optimizers.ScheduleFreeAdamW(
        learning_rate=0.05, warmup_steps=3, weight_decay=0.1, beta_1=0.8),
    "multi": _multi,
    "multi_callable": _multi_callable,
}


@functools.lru_cache(maxsize=None)
def _keras_result(case_id):
    values, opt = run_keras(CASES[case_id], initial_values(), gradient_steps())
    return values, [np.asarray(v.numpy()) for v in opt.variables], [v.path for v in
                                                                      opt.variables]


@pytest.mark.parametrize("case_id", list(CASES))
def test_against_keras(case_id, backend):
    values, opt, _ = run_kbridge(CASES[case_id], initial_values(), gradient_steps(), backend)
    expected, keras_vars, keras_paths = _keras_result(case_id)
    assert_same(values, expected, 1e-5, what=f"{case_id} on {backend}:")
    # Same optimizer variables, in Keras's order, with the same values.
    ours = opt.variables
    assert len(ours) == len(keras_vars), [v.path for v in ours]
    for variable, ref, path in zip(ours, keras_vars, keras_paths):
        assert variable.name == path.split("/")[-1]
        np.testing.assert_allclose(variable.numpy(), ref, rtol=1e-5, atol=1e-5, err_msg=path)


@pytest.mark.skipif("jax" not in BACKENDS, reason="the jax backend is not tested")
@pytest.mark.parametrize("case_id", ["muon", "schedule_free_warmup", "multi"])
def test_stateless_apply_in_jax_jit(case_id):
    import jax

    init, grads = initial_values(), gradient_steps()
    names = list(init)
    with kbridge.backend.use("jax"):
        variables = [kbridge.Variable(init[n].copy(), name=n) for n in names]
    opt = CASES[case_id](kbridge)
    opt.build(variables)
    step = jax.jit(opt.stateless_apply)
    trainable, opt_values = [v.value for v in variables], [v.value for v in opt.variables]
    for g in grads:
        trainable, opt_values = step(opt_values, [g[n] for n in names], trainable)
    assert_same(dict(zip(names, map(np.asarray, trainable))), _keras_result(case_id)[0],
                what=case_id)
    assert_same({n: v.numpy() for n, v in zip(names, variables)}, init)  # untouched


def _fit_loss(optimizer, backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(1)
        model = kbridge.Sequential([kbridge.Input((6,)),
                                    kbridge.layers.Dense(8, activation="tanh", name="hidden"),
                                    kbridge.layers.Dense(1, name="out")])
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    return history.history["loss"]


@pytest.mark.parametrize("case_id", ["muon", "schedule_free", "multi"])
def test_trains_under_fit(case_id, trainable_backend):
    losses = _fit_loss(CASES[case_id](kbridge), trainable_backend)
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses


def test_multi_optimizer_contract():
    o = kbridge.optimizers
    adam = o.Adam(0.01)
    opt_map = o.OptimizerMap(o.SGD(0.1), {"encoder/.*": adam, "decoder": o.RMSprop()})
    assert opt_map["encoder/dense/kernel"] is adam
    assert opt_map["decoder/dense"] is opt_map.default_optimizer
    with pytest.raises(ValueError, match="already in the OptimizerMap"):
        opt_map["decoder"] = o.SGD()
    with pytest.raises(ValueError, match="cannot be a LossScaleOptimizer"):
        opt_map["x"] = o.LossScaleOptimizer(o.SGD())
    opt_map["enc.*"] = o.SGD()
    with pytest.raises(ValueError, match="matches several keys"):
        opt_map["encoder/x"]
    multi = o.MultiOptimizer(o.OptimizerMap(o.SGD(0.1), {"bias": adam}), loss_scale_factor=2.0)
    assert {id(x) for x in multi.optimizers} == {id(adam), id(multi.optimizers[1])}
    assert all(x.loss_scale_factor == 2.0 for x in multi.optimizers)
    with pytest.raises(AttributeError, match="no single learning rate"):
        multi.learning_rate
    again = o.deserialize(o.serialize(multi))
    assert isinstance(again, o.MultiOptimizer) and again.get_config() == multi.get_config()
    assert [type(x) for x in again.optimizers] == [o.Adam, o.SGD]
    # A Keras config loads too.
    keras_multi = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
        keras.optimizers.SGD(0.1), {"bias": keras.optimizers.Adam(0.01)}))
    from_keras = o.deserialize(keras.optimizers.serialize(keras_multi))
    assert [type(x) for x in from_keras.optimizers] == [o.Adam, o.SGD]
    assert from_keras.optimizers[0].learning_rate.numpy() == pytest.approx(0.01)


@pytest.mark.parametrize("name", ["Muon", "ScheduleFreeAdamW"])
def test_get_and_config_round_trip(name):
    opt = kbridge.optimizers.get(name.lower())
    assert type(opt).__name__ == name
    custom = getattr(kbridge.optimizers, name)(learning_rate=0.02, weight_decay=0.01)
    again = kbridge.optimizers.deserialize(kbridge.optimizers.serialize(custom))
    assert again.get_config() == custom.get_config()
    keras_config = getattr(keras.optimizers, name)(learning_rate=0.02).get_config()
    ours = getattr(kbridge.optimizers, name).from_config(keras_config).get_config()
    assert ours.keys() == keras_config.keys()
    assert ours.pop("learning_rate") == pytest.approx(keras_config.pop("learning_rate"))
    assert ours == keras_config


@pytest.mark.parametrize("name", ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"])
def test_legacy_names_raise_a_clear_import_error(name):
    assert hasattr(keras.optimizers.legacy, name)
    with pytest.raises(ImportError, match=r"legacy.*not supported.*Keras 3"):
        getattr(kbridge.optimizers.legacy, name)(learning_rate=0.1)
