"""JaxLayer / FlaxLayer / from_jax with real Flax (linen and nnx): inference equals Flax's own
outputs, and one step of kbridge ``fit`` equals the same step computed by hand with optax."""

import numpy as np
import pytest

import kbridge
from tests.conftest import BACKENDS

if "jax" not in BACKENDS:
    pytest.skip("needs the jax backend", allow_module_level=True)
jax = pytest.importorskip("jax")
jnp = jax.numpy
optax = pytest.importorskip("optax")
linen = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

X = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
Y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
LR = 0.1


class LinenNet(linen.Module):
    @linen.compact
    def __call__(self, inputs, training: bool = False):
        x = linen.Dense(8)(inputs)
        x = linen.BatchNorm(use_running_average=not training, momentum=0.9)(x)
        x = linen.Dropout(0.5, deterministic=not training)(linen.relu(x))
        return linen.Dense(2)(x)


class NnxNet(nnx.Module):
    def __init__(self, rngs):
        self.dense1 = nnx.Linear(5, 8, rngs=rngs)
        self.norm = nnx.BatchNorm(8, momentum=0.9, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.dense2 = nnx.Linear(8, 2, rngs=rngs)

    def __call__(self, x):
        return self.dense2(self.drop(nnx.relu(self.norm(self.dense1(x)))))


def _mse(pred, y):
    return jnp.mean((pred - y) ** 2)


def _model(layer):
    with kbridge.backend.use("jax"):
        model = kbridge.Sequential([kbridge.Input((5,)), layer])
        model.compile(optimizer=kbridge.optimizers.SGD(LR), loss="mse")
    return model


def _fit_one_step(model):
    with kbridge.backend.use("jax"):
        model.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    return model


def _by_path(layer, kind):
    """``{variable name within the layer: numpy value}``."""
    return {v.path.split("/")[-1]: np.asarray(v.numpy()) for v in getattr(layer, kind)}


def test_linen_inference_and_fit_step_match_flax():
    module = LinenNet()
    variables = jax.jit(module.init)(jax.random.PRNGKey(0), X)
    layer = kbridge.adapters.from_jax(module, variables)
    assert isinstance(layer, kbridge.layers.FlaxLayer)
    assert {v.path.split("/")[-1] for v in layer.trainable_weights} >= {
        "params.Dense_0.kernel", "params.BatchNorm_0.scale"}
    # Flax's own functions run jitted: eager linen compiles every op separately (slow).
    infer = jax.jit(lambda v, x: module.apply(v, x, training=False))
    model = _model(layer)
    np.testing.assert_allclose(model.predict(X, verbose=0), np.asarray(infer(variables, X)),
                               rtol=1e-5, atol=1e-6)

    # The dropout key fit will use: the layer's seed state as a raw uint32[2] key.
    key = jnp.asarray(layer.seed_generator.state.value).astype(jnp.uint32)

    def loss(params):
        out, updates = module.apply({"params": params, "batch_stats": variables["batch_stats"]},
                                    X, training=True, rngs={"dropout": key},
                                    mutable=["batch_stats"])
        return _mse(out, Y), updates

    grads, updates = jax.jit(jax.grad(loss, has_aux=True))(variables["params"])
    opt = optax.sgd(LR)
    new_params = optax.apply_updates(variables["params"],
                                     opt.update(grads, opt.init(variables["params"]))[0])
    _fit_one_step(model)
    trained = _by_path(layer, "weights")
    for path, value in jax.tree_util.tree_flatten_with_path(
            {"params": new_params, **updates})[0]:
        name = ".".join(p.key for p in path)
        np.testing.assert_allclose(trained[name], np.asarray(value), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    np.testing.assert_allclose(model.predict(X, verbose=0),
                               np.asarray(infer({"params": new_params, **updates}, X)),
                               rtol=1e-5, atol=1e-5)


def test_nnx_inference_and_fit_step_match_flax():
    reference = NnxNet(nnx.Rngs(0, dropout=1))
    layer = kbridge.adapters.from_jax(nnx.clone(reference))
    assert "norm.mean" in {v.path.split("/")[-1] for v in layer.non_trainable_weights}
    model = _model(layer)
    reference.eval()
    expected = nnx.jit(lambda m, x: m(x))(reference, X)  # jitted: eager nnx is slow
    np.testing.assert_allclose(model.predict(X, verbose=0), np.asarray(expected), rtol=1e-5,
                               atol=1e-6)

    # By hand: the same training step, nnx style.
    reference.train()
    graphdef, params, rest = nnx.split(reference, nnx.Param, ...)

    def loss(p, r):
        model = nnx.merge(graphdef, p, r, copy=True)
        out = model(X)
        return _mse(out, Y), nnx.split(model, nnx.Param, ...)[2]

    grads, new_rest = jax.jit(jax.grad(loss, has_aux=True))(params, rest)
    opt = optax.sgd(LR)
    new_params = optax.apply_updates(params, opt.update(grads, opt.init(params))[0])
    _fit_one_step(model)
    trained = _by_path(layer, "weights")
    for name, value in [(".".join(str(getattr(p, "key", "")) for p in path[:-1]), leaf)
                        for path, leaf in jax.tree_util.tree_flatten_with_path(new_params)[0]]:
        np.testing.assert_allclose(trained[name], np.asarray(value), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    new_mean = new_rest["norm"]["mean"][...]
    np.testing.assert_allclose(trained["norm.mean"], np.asarray(new_mean), rtol=1e-5,
                               atol=1e-6)


def test_jax_layer_keras_conventions_init_fn_and_rng():
    def init_fn(rng, inputs):
        w = jax.random.normal(rng, (inputs.shape[-1], 3)) * 0.1
        return {"w": w}, {"calls": jnp.zeros(())}

    def call_fn(params, state, rng, inputs, training):
        y = inputs @ params["w"]
        if training:
            y = y * jax.random.bernoulli(rng, 0.5, y.shape)
        return y, {"calls": state["calls"] + 1}

    with kbridge.backend.use("jax"):
        layer = kbridge.layers.JaxLayer(call_fn, init_fn=init_fn, seed=3)
        model = kbridge.Sequential([kbridge.Input((5,)), layer])  # symbolic: state untouched
        assert float(layer.state["calls"].numpy()) == 0.0
        w = layer.params["w"].numpy()
        np.testing.assert_allclose(np.asarray(model(X)), X @ w, rtol=1e-5, atol=1e-6)
        assert float(layer.state["calls"].numpy()) == 1.0
        a, b = layer(X, training=True), layer(X, training=True)
        assert not np.allclose(np.asarray(a), np.asarray(b))  # a new key per training call
        with pytest.raises(kbridge.ArgumentError, match="named.*'x'"):
            kbridge.layers.JaxLayer(lambda params, x: x, params={"w": jnp.ones(2)})
        with pytest.raises(kbridge.ArgumentError, match="jax2tf"):
            kbridge.layers.JaxLayer(call_fn, init_fn=init_fn,
                                    native_serialization_platforms=["cpu"])
        with pytest.raises(kbridge.ArgumentError, match="cannot all be None"):
            kbridge.layers.JaxLayer(lambda params, inputs: inputs)


@kbridge.saving.register_kbridge_serializable(package="test_jax_layers")
def linear_call(params, inputs):
    return inputs @ params["w"]


@kbridge.saving.register_kbridge_serializable(package="test_jax_layers")
def linear_init(rng, inputs):
    return {"w": jax.random.normal(rng, (inputs.shape[-1], 2))}


def test_jax_and_flax_layers_round_trip_through_config():
    with kbridge.backend.use("jax"):
        layer = kbridge.layers.JaxLayer(linear_call, init_fn=linear_init, seed=1)
        model = kbridge.Sequential([kbridge.Input((5,)), layer])
        clone = kbridge.models.clone_model(model)
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(np.asarray(clone(X)), np.asarray(model(X)), rtol=1e-6)
        assert isinstance(clone.layers[-1], kbridge.layers.JaxLayer)

        flax_layer = kbridge.layers.FlaxLayer(LinenNet(), seed=0)
        flax_model = _model(flax_layer)  # no variables given: module.init runs at build
        variables = jax.tree_util.tree_map(lambda v: v.value,
                                           {**flax_layer.params, **flax_layer.state},
                                           is_leaf=lambda v: hasattr(v, "assign"))
        assert set(variables) == {"params", "batch_stats"}
        expected = jax.jit(lambda v, x: LinenNet().apply(v, x))(variables, X)
        np.testing.assert_allclose(flax_model.predict(X, verbose=0), np.asarray(expected),
                                   rtol=1e-5, atol=1e-6)
        from kbridge.saving import registry

        config = registry.serialize(flax_layer)
        rebuilt = registry.deserialize(config, custom_objects={"LinenNet": LinenNet})
        assert isinstance(rebuilt.module, LinenNet)
        with pytest.raises(kbridge.KbridgeError, match="Unknown Flax module class 'LinenNet'"):
            registry.deserialize(config)
        anonymous = kbridge.layers.JaxLayer(lambda params, inputs: inputs, params={})
        with pytest.raises(kbridge.KbridgeError, match="register_kbridge_serializable"):
            anonymous.get_config()
