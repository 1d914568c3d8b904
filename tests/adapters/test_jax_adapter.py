"""to_jax / from_jax: a model as a pure JAX function (jit, grad, vmap, optax), and back."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.conftest import BACKENDS

jax = pytest.importorskip("jax")
jnp = jax.numpy

X = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
Y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")


def _model(backend):
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(0)
        return kbridge.Sequential([
            kbridge.Input((5,)),
            kbridge.layers.Dense(16, activation="relu"),
            kbridge.layers.BatchNormalization(),
            kbridge.layers.Dropout(0.3),
            kbridge.layers.Dense(2),
        ])


@pytest.mark.parametrize("source", BACKENDS)
def test_round_trip_from_every_backend(source):
    model = _model(source)
    expected = ops.convert_to_numpy(model(X))
    fn = kbridge.adapters.to_jax(model)
    assert set(fn.params) == {v.path for v in model.trainable_variables}
    y, state = fn.apply(fn.params, fn.state, X)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(fn(X)), expected, rtol=1e-5, atol=1e-5)
    assert set(state) == set(fn.state)


def test_jit_grad_vmap():
    fn = kbridge.adapters.to_jax(_model("jax"))

    def loss(params, x, y):
        out, _ = fn.apply(params, fn.state, x)
        return jnp.mean((out - y) ** 2)

    grads = jax.jit(jax.grad(loss))(fn.params, X, Y)
    assert set(grads) == set(fn.params)
    eager = jax.grad(loss)(fn.params, X, Y)
    for k in grads:
        np.testing.assert_allclose(np.asarray(grads[k]), np.asarray(eager[k]), rtol=1e-5,
                                   atol=1e-6)
    per_example = jax.vmap(lambda x: fn.apply(fn.params, fn.state, x[None])[0][0])(X)
    np.testing.assert_allclose(np.asarray(per_example), np.asarray(fn(X)), rtol=1e-5, atol=1e-6)


def test_training_mode_updates_state_and_uses_rng():
    fn = kbridge.adapters.to_jax(_model("jax"))
    key = "sequential/batch_normalization/moving_mean"
    key = next(k for k in fn.state if k.endswith("moving_mean"))
    a, state = jax.jit(lambda p, s, x: fn.apply(p, s, x, training=True, rng=1))(fn.params,
                                                                               fn.state, X)
    b, _ = fn.apply(fn.params, fn.state, X, training=True, rng=2)
    assert not np.allclose(np.asarray(state[key]), np.asarray(fn.state[key]))
    assert not np.allclose(np.asarray(a), np.asarray(b))  # different dropout masks


def test_optax_training_loop_writes_back():
    optax = pytest.importorskip("optax")
    model = _model("torch" if "torch" in BACKENDS else "jax")
    fn = kbridge.adapters.to_jax(model)
    opt = optax.adam(1e-2)
    params, opt_state = fn.params, opt.init(fn.params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss(p):
            out, _ = fn.apply(p, fn.state, x)
            return jnp.mean((out - y) ** 2)
        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, value

    losses = []
    for _ in range(30):
        params, opt_state, value = step(params, opt_state, X, Y)
        losses.append(float(value))
    assert losses[-1] < 0.5 * losses[0]
    fn.write_back(params)
    trained = {v.path: v.numpy() for v in model.trainable_variables}
    for k, v in params.items():
        np.testing.assert_allclose(trained[k], np.asarray(v), rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(model(X)), np.asarray(fn(X)), rtol=1e-5,
                               atol=1e-5)


def test_from_jax_function_trains_under_fit():
    params = {"w": jnp.zeros((5, 2)), "b": jnp.zeros((2,))}
    with kbridge.backend.use("jax"):
        layer = kbridge.adapters.from_jax(lambda p, x: x @ p["w"] + p["b"], params)
        model = kbridge.Sequential([kbridge.Input((5,)), layer])
        model.compile(optimizer="sgd", loss="mse")
        before = model.evaluate(X, Y, verbose=0)
        model.fit(X, Y, epochs=20, batch_size=8, verbose=0)
        assert model.evaluate(X, Y, verbose=0) < before
    assert {w.path.split("/")[-1] for w in model.weights} == {"w", "b"}


def test_from_jax_function_with_two_inputs():
    params = {"w": jnp.ones((5, 2))}
    with kbridge.backend.use("jax"):
        layer = kbridge.adapters.from_jax(lambda p, a, b: a @ p["w"] - b, params)
        expected = X @ np.ones((5, 2), "float32") - Y
        np.testing.assert_allclose(np.asarray(layer(X, Y)), expected, rtol=1e-5, atol=1e-6)
        a, b = kbridge.Input((5,)), kbridge.Input((2,))
        model = kbridge.Model([a, b], layer(a, b))
        np.testing.assert_allclose(np.asarray(model([X, Y])), expected, rtol=1e-5, atol=1e-6)


def test_from_jax_refuses_other_backends():
    if "torch" not in BACKENDS:
        pytest.skip("needs torch")
    with kbridge.backend.use("torch"):
        with pytest.raises(kbridge.BackendError, match="jax-backend layer.*'torch'"):
            kbridge.adapters.JaxFunctionLayer(lambda p, x: x, {"w": jnp.zeros(2)})
