"""Sequential, Functional and subclassed models on every backend; convert; summary; configs."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.saving import register_kbridge_serializable


@register_kbridge_serializable(package="tests")
class Affine(kbridge.layers.Layer):
    """y = x @ w + b, written only with kbridge.ops (a minimal user layer)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="kernel",
                                 initializer=kbridge.initializers.GlorotUniform(seed=1))
        self.b = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")

    def call(self, x):
        return ops.add(ops.matmul(x, self.w), self.b)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Tower(kbridge.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = Affine(5)
        self.second = Affine(2)

    def call(self, x):
        return self.second(ops.add(self.first(x), 1.0))


X = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")


def _numpy_reference(weights, x):
    w1, b1, w2, b2 = weights
    return (x @ w1 + b1 + 1.0) @ w2 + b2


def test_sequential_builds_from_input_and_names_paths(backend):
    model = kbridge.Sequential([kbridge.Input((3,)), Affine(5), Affine(2)], name="seq")
    assert model.built
    assert [w.path for w in model.weights][:2] == [
        f"seq/{model.layers[0].name}/kernel", f"seq/{model.layers[0].name}/bias"]
    assert model.count_params() == 3 * 5 + 5 + 5 * 2 + 2
    y = model(X)
    assert kbridge.backend.of(y) == backend
    w1, b1, w2, b2 = model.get_weights()
    np.testing.assert_allclose(ops.convert_to_numpy(y), (X @ w1 + b1) @ w2 + b2, rtol=1e-5)


def test_sequential_builds_lazily(backend):
    model = kbridge.Sequential([Affine(5), Affine(2)])
    assert not model.built
    model(X)
    assert model.built and len(model.weights) == 4


def test_functional_multi_input_output(backend):
    a, b = kbridge.Input((3,), name="a"), kbridge.Input((3,), name="b")
    shared = Affine(4)
    ya, yb = shared(a), shared(b)
    total = ops.add(ya, yb)
    model = kbridge.Model([a, b], [total, ya])
    assert len(model.weights) == 2  # the shared layer counts once
    out = model([X, 2 * X])
    w, bias = shared.get_weights()
    np.testing.assert_allclose(ops.convert_to_numpy(out[1]), X @ w + bias, rtol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(out[0]), 3 * X @ w + 2 * bias, rtol=1e-5,
                               atol=1e-6)


def test_functional_dict_inputs_and_nested_model(backend):
    inner_in = kbridge.Input((3,))
    inner = kbridge.Model(inner_in, Affine(3)(inner_in), name="inner")
    x = kbridge.Input((3,), name="features")
    y = Affine(2)(inner(x))
    model = kbridge.Model({"features": x}, y)
    out = model({"features": X})
    w1, b1, w2, b2 = model.get_weights()
    np.testing.assert_allclose(ops.convert_to_numpy(out), (X @ w1 + b1) @ w2 + b2, rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(kbridge.KbridgeError, match="lacks keys"):
        model({"other": X})


def test_graph_disconnected_is_a_clear_error():
    a, b = kbridge.Input((3,)), kbridge.Input((3,))
    y = ops.add(Affine(2)(a), Affine(2)(b))
    with pytest.raises(kbridge.KbridgeError, match="disconnected"):
        kbridge.Model(a, y)


def test_subclassed_model(backend):
    model = Tower(name="tower")
    y = model(X)
    assert [w.path for w in model.weights] == [
        f"tower/{model.first.name}/kernel", f"tower/{model.first.name}/bias",
        f"tower/{model.second.name}/kernel", f"tower/{model.second.name}/bias"]
    np.testing.assert_allclose(ops.convert_to_numpy(y), _numpy_reference(model.get_weights(), X),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("style", ["sequential", "functional", "subclassed"])
def test_convert_moves_models_between_backends(style, backend):
    with kbridge.backend.use("numpy"):
        if style == "sequential":
            model = kbridge.Sequential([kbridge.Input((3,)), Affine(5), Affine(2)])
        elif style == "functional":
            x = kbridge.Input((3,))
            model = kbridge.Model(x, Affine(2)(Affine(5)(x)))
        else:
            model = Tower()
            model(X)
        expected = ops.convert_to_numpy(model(X))
    moved = kbridge.convert(model, backend)
    assert moved.backend_name == backend
    for a, b in zip(moved.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()
    np.testing.assert_allclose(ops.convert_to_numpy(moved(X)), expected, rtol=1e-5, atol=1e-6)


def test_functional_config_round_trip():
    a, b = kbridge.Input((3,), name="a"), kbridge.Input((3,), name="b")
    shared = Affine(4)
    model = kbridge.Model([a, b], ops.add(shared(a), shared(b)), name="twin")
    config = kbridge.saving.serialize(model)
    clone = kbridge.saving.deserialize(config)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(clone([X, X])),
                               ops.convert_to_numpy(model([X, X])), rtol=1e-6)


def test_unknown_class_in_config_is_refused():
    config = {"class_name": "os.system", "config": {}}
    with pytest.raises(kbridge.KbridgeError, match="Unknown class"):
        kbridge.saving.deserialize(config)


def test_summary_table():
    model = kbridge.Sequential([kbridge.Input((3,)), Affine(5), Affine(2)], name="tbl")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "tbl"' in text and "(None, 5)" in text and "(None, 2)" in text
    assert "Total params: 32" in text and "Non-trainable params: 0" in text


def test_get_layer_and_set_weights_errors():
    model = kbridge.Sequential([kbridge.Input((3,)), Affine(5, name="hidden")])
    assert model.get_layer("hidden") is model.get_layer(index=0)
    with pytest.raises(kbridge.KbridgeError, match="No layer named"):
        model.get_layer("missing")
    with pytest.raises(kbridge.ShapeError, match="expects 2 weight arrays"):
        model.set_weights([np.zeros((3, 5))])


def test_numpy_keyword_inputs_go_to_the_models_backend_not_the_callers():
    """Autocast of a float64 numpy keyword argument used to run on the caller's active
    backend, so a jax model called under torch mixed a jax array with a torch tensor."""

    class Scaled(kbridge.Model):
        def __init__(self):
            super().__init__()
            self.dense = kbridge.layers.Dense(3, kernel_initializer="ones")

        def call(self, x, scale=1.0):
            return self.dense(x) * scale

    with kbridge.backend.use("numpy"):
        expected = Scaled()(np.ones((2, 4), "float32"), scale=np.full((2, 1), 2.0, "float32"))
    for owner in kbridge.backend.available():
        with kbridge.backend.use(owner):
            model = Scaled()
            model(np.ones((2, 4), "float32"))
        for caller in kbridge.backend.available():
            with kbridge.backend.use(caller):
                out = model(np.ones((2, 4)), scale=np.full((2, 1), 2.0))  # float64 numpy
            np.testing.assert_allclose(kbridge.ops.convert_to_numpy(out), expected)
