"""Loss scaling in ``fit``: the train step differentiates ``optimizer.scale_loss(loss)``, so a
``loss_scale_factor`` or a ``LossScaleOptimizer`` trains exactly as no scaling does (as in
Keras), and ``compile`` adds a ``LossScaleOptimizer`` under ``mixed_float16``."""

import numpy as np
import pytest

import kbridge

BACKENDS = [b for b in ("jax", "torch", "tensorflow") if b in kbridge.backend.available()]


def _data():
    rng = np.random.default_rng(0)
    return rng.random((32, 4), dtype=np.float32), rng.random((32, 1), dtype=np.float32)


def _train(backend, optimizer, layers=None, epochs=2):
    x, y = _data()
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(0)
        stack = layers() if layers else [kbridge.layers.Dense(1)]  # built on ``backend``
        model = kbridge.Sequential([kbridge.Input((4,))] + stack)
        model.compile(optimizer, "mse")
        history = model.fit(x, y, epochs=epochs, batch_size=8, shuffle=False, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scaled", ["loss_scale_factor", "LossScaleOptimizer"])
def test_scaled_training_equals_unscaled(backend, scaled):
    plain, plain_loss = _train(backend, kbridge.optimizers.SGD(0.1))
    if scaled == "loss_scale_factor":
        optimizer = kbridge.optimizers.SGD(0.1, loss_scale_factor=8.0)
    else:
        optimizer = kbridge.optimizers.LossScaleOptimizer(kbridge.optimizers.SGD(0.1))
    model, loss = _train(backend, optimizer)
    np.testing.assert_allclose(loss, plain_loss, rtol=1e-5)  # the logged loss is unscaled
    for got, want in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.fixture
def mixed_float16():
    kbridge.mixed_precision.set_global_policy("mixed_float16")
    yield
    kbridge.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_float16_compile_adds_a_loss_scale_and_trains_alike(backend, mixed_float16):
    layers = lambda: [kbridge.layers.Dense(8, activation="relu"),  # noqa: E731
                      kbridge.layers.Dense(1, dtype="float32")]
    model, loss = _train(backend, "adam", layers, epochs=3)
    assert isinstance(model.optimizer, kbridge.optimizers.LossScaleOptimizer)
    assert model.layers[0].compute_dtype == "float16"
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0]
    _, reference_loss = _train(BACKENDS[0], "adam", layers, epochs=3)
    np.testing.assert_allclose(loss, reference_loss, rtol=2e-3)
    with kbridge.backend.use(backend):
        unscaled = kbridge.Sequential([kbridge.Input((4,))] + layers())
        unscaled.compile("adam", "mse", auto_scale_loss=False)
    assert not isinstance(unscaled.optimizer, kbridge.optimizers.LossScaleOptimizer)
