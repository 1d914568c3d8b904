"""Learning-rate schedules against Keras 3, and optimizer / schedule config round trips."""

import json

import numpy as np
import pytest

import kbridge
import kbridge.optimizers  # noqa: F401
from kbridge.optimizers import schedules
from tests.conftest import BACKENDS

SCHEDULES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5,
                              staircase=True)),
    ("PiecewiseConstantDecay", dict(boundaries=[10, 50, 100], values=[1.0, 0.5, 0.1, 0.01])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=100)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=40, end_learning_rate=0.01,
                             power=2.0, cycle=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5,
                              staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=100, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=100, warmup_target=0.2,
                         warmup_steps=20)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=20)),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=20, t_mul=1.0,
                                 m_mul=0.5, alpha=0.05)),
]
STEPS = [0, 1, 5, 10, 11, 19, 20, 21, 49, 50, 99, 100, 101, 150, 1000]


def _ids():
    return [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)]


def _keras_values(name, kwargs):
    import keras

    schedule = getattr(keras.optimizers.schedules, name)(**kwargs)
    return np.array([float(np.asarray(schedule(s))) for s in STEPS])


@pytest.mark.parametrize("case", range(len(SCHEDULES)), ids=_ids())
def test_schedule_against_keras_int_and_tensor_steps(case, backend):
    name, kwargs = SCHEDULES[case]
    expected = _keras_values(name, kwargs)
    schedule = getattr(schedules, name)(**kwargs)
    from_ints = [schedule(s) for s in STEPS]
    assert all(kbridge.backend.of(v) == backend for v in from_ints)
    np.testing.assert_allclose([float(kbridge.ops.convert_to_numpy(v)) for v in from_ints],
                               expected, rtol=1e-5, atol=1e-7)
    from_tensors = [schedule(kbridge.ops.convert_to_tensor(np.int32(s))) for s in STEPS]
    np.testing.assert_allclose([float(kbridge.ops.convert_to_numpy(v)) for v in from_tensors],
                               expected, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(not {"jax", "tensorflow"} <= set(BACKENDS),
                    reason="needs the jax and tensorflow backends")
def test_schedules_trace_in_jax_jit_and_tf_function():
    import jax
    import tensorflow as tf

    for name, kwargs in SCHEDULES:
        schedule = getattr(schedules, name)(**kwargs)
        expected = _keras_values(name, kwargs)
        jitted = jax.jit(schedule)
        traced = tf.function(schedule)
        np.testing.assert_allclose([float(jitted(np.int32(s))) for s in STEPS], expected,
                                   rtol=1e-5, atol=1e-7, err_msg=name)
        np.testing.assert_allclose([float(traced(tf.constant(s))) for s in STEPS], expected,
                                   rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("case", range(len(SCHEDULES)), ids=_ids())
def test_schedule_config_round_trip(case):
    import keras

    name, kwargs = SCHEDULES[case]
    schedule = getattr(schedules, name)(**kwargs)
    config = schedule.get_config()
    assert config == getattr(keras.optimizers.schedules, name)(**kwargs).get_config()
    restored = schedules.deserialize(json.loads(json.dumps(schedules.serialize(schedule))))
    assert type(restored) is type(schedule) and restored.get_config() == config


def test_schedule_argument_errors():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5)
    with pytest.raises(ValueError, match="one element fewer"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])


OPTIMIZERS = [
    ("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True, clipnorm=1.0)),
    ("Adam", dict(learning_rate=0.01, amsgrad=True, use_ema=True, ema_overwrite_frequency=3)),
    ("AdamW", dict(weight_decay=0.01, gradient_accumulation_steps=4)),
    ("Adamax", dict(beta_1=0.8)),
    ("Nadam", dict(epsilon=1e-6, global_clipnorm=2.0)),
    ("RMSprop", dict(rho=0.8, momentum=0.1, centered=True, clipvalue=0.5)),
    ("Adagrad", dict(initial_accumulator_value=0.2)),
    ("Adadelta", dict(rho=0.9, loss_scale_factor=128.0)),
    ("Adafactor", dict(beta_2_decay=-0.7, relative_step=False)),
    ("Lion", dict(beta_1=0.95, weight_decay=0.1)),
    ("Lamb", dict(beta_2=0.99)),
    ("Ftrl", dict(l1_regularization_strength=0.01, beta=0.1)),
]


@pytest.mark.parametrize("class_name,kwargs", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_config_round_trip_matches_keras(class_name, kwargs):
    import keras

    opt = getattr(kbridge.optimizers, class_name)(name="opt", **kwargs)
    config = opt.get_config()
    k_config = getattr(keras.optimizers, class_name)(name="opt", **kwargs).get_config()
    assert config == pytest.approx(k_config)
    restored = kbridge.optimizers.deserialize(
        json.loads(json.dumps(kbridge.optimizers.serialize(opt))))
    assert type(restored) is type(opt) and restored.get_config() == config
    assert type(getattr(kbridge.optimizers, class_name).from_config(config)) is type(opt)


def test_optimizer_with_schedule_and_loss_scale_round_trip():
    lr = schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10)
    opt = kbridge.optimizers.LossScaleOptimizer(kbridge.optimizers.Adam(learning_rate=lr),
                                                initial_scale=256.0)
    blob = json.loads(json.dumps(kbridge.optimizers.serialize(opt)))
    restored = kbridge.optimizers.deserialize(blob)
    assert isinstance(restored, kbridge.optimizers.LossScaleOptimizer)
    assert isinstance(restored.inner_optimizer._learning_rate, schedules.CosineDecay)
    assert restored.get_config() == opt.get_config()


def test_get():
    assert isinstance(kbridge.optimizers.get("adam"), kbridge.optimizers.Adam)
    assert isinstance(kbridge.optimizers.get("RMSprop"), kbridge.optimizers.RMSprop)
    assert isinstance(kbridge.optimizers.get("adamw"), kbridge.optimizers.AdamW)
    sgd = kbridge.optimizers.SGD()
    assert kbridge.optimizers.get(sgd) is sgd
    conf = kbridge.optimizers.serialize(kbridge.optimizers.Nadam(learning_rate=0.5))
    assert float(kbridge.optimizers.get(conf).learning_rate) == 0.5
    with pytest.raises(ValueError, match="Unknown optimizer"):
        kbridge.optimizers.get("no_such_optimizer")


def test_set_and_get_weights_round_trip(backend):
    with kbridge.backend.use(backend):
        v = kbridge.Variable(np.ones((2, 3), "float32"), name="w")
    opt = kbridge.optimizers.Adam(learning_rate=0.1)
    opt.apply([np.full((2, 3), 0.5, "float32")], [v])
    weights = opt.get_weights()
    other = kbridge.optimizers.Adam(learning_rate=0.1)
    other.build([v])
    other.set_weights(weights)
    for a, b in zip(other.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
