"""Top-level Keras names: StatelessScope, SymbolicScope, remat/RematScope, device,
name_scope, Function and Operation."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.conftest import DIFFERENTIABLE


def test_stateless_scope_records_assignments(backend):
    v = kbridge.Variable(np.zeros(3, "float32"), name="v")
    w = kbridge.Variable(np.ones(3, "float32"), name="w")
    with kbridge.StatelessScope(state_mapping=[(v, np.full(3, 5.0, "float32"))]) as scope:
        np.testing.assert_allclose(ops.convert_to_numpy(v.value), 5.0)  # reads the mapping
        v.assign(v + 1.0)
        w.assign_add(np.ones(3, "float32"))
        np.testing.assert_allclose(ops.convert_to_numpy(scope.get_current_value(v)), 6.0)
    np.testing.assert_allclose(v.numpy(), 0.0)      # nothing applied outside
    np.testing.assert_allclose(w.numpy(), 1.0)
    np.testing.assert_allclose(ops.convert_to_numpy(scope.get_current_value(v)), 6.0)
    np.testing.assert_allclose(ops.convert_to_numpy(scope.get_current_value(w)), 2.0)
    untouched = kbridge.Variable(np.ones(3, "float32"), name="u")
    assert scope.get_current_value(untouched) is None


def test_stateless_scope_layer_call_matches_stateless_call(backend):
    layer = kbridge.layers.Dense(2, kernel_initializer="ones")
    x = np.ones((1, 3), "float32")
    layer.build((1, 3))
    kernel = np.full((3, 2), 2.0, "float32")
    with kbridge.StatelessScope([(layer.kernel, kernel)]):
        y = ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(y, 6.0)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), 3.0)


def test_stateless_scope_rejects_bad_mappings():
    v = kbridge.Variable(np.zeros(3, "float32"), name="v")
    with pytest.raises(kbridge.ArgumentError, match="shape"):
        kbridge.StatelessScope([(v, np.zeros(4, "float32"))])
    with pytest.raises(kbridge.ArgumentError, match="Variables"):
        kbridge.StatelessScope([(np.zeros(3), np.zeros(3))])


def test_symbolic_scope():
    from kbridge import scopes

    assert not scopes.in_symbolic_scope()
    with kbridge.SymbolicScope():
        assert scopes.in_symbolic_scope()
    assert not scopes.in_symbolic_scope()


def _grad(backend, fn, x):
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: fn(t).sum())(x))
    if backend == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        fn(t).sum().backward()
        return t.grad.numpy()
    import tensorflow as tf

    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = tf.reduce_sum(fn(t))
    return tape.gradient(y, t).numpy()


@pytest.mark.parametrize("backend", DIFFERENTIABLE)
def test_remat_gives_the_same_values_and_gradients(backend):
    def block(x):
        return ops.sin(x) * ops.tanh(x * 2.0)

    x = np.linspace(-1, 1, 6).astype("float32")
    with kbridge.backend.use(backend):
        plain = _grad(backend, block, x)
        remat = _grad(backend, kbridge.remat(block), x)
        value = ops.convert_to_numpy(kbridge.remat(block)(ops.convert_to_tensor(x)))
    np.testing.assert_allclose(remat, plain, rtol=1e-6)
    np.testing.assert_allclose(value, np.sin(x) * np.tanh(2 * x), rtol=1e-6)


def test_remat_on_numpy_just_calls():
    assert kbridge.remat(lambda x: x + 1)(np.array(1.0)) == 2.0
    with pytest.raises(kbridge.ArgumentError):
        kbridge.remat(3)


def test_remat_scope_modes():
    from kbridge.scopes import get_current_remat_mode

    dense = kbridge.layers.Dense(2, name="block_dense")
    assert get_current_remat_mode() is None
    with kbridge.RematScope(mode="list_of_layers", layer_names=["block_dense"]) as outer:
        assert get_current_remat_mode() is outer and outer.applies_to(dense)
        with kbridge.RematScope(mode="larger_than", output_size_threshold=10) as inner:
            assert get_current_remat_mode() is inner
            assert inner.applies_to(dense, 11) and not inner.applies_to(dense, 10)
        with kbridge.RematScope(mode=None):
            assert get_current_remat_mode() is None
    with pytest.raises(kbridge.ArgumentError, match="mode"):
        kbridge.RematScope(mode="everything")


def test_device_scope(backend):
    from kbridge.scopes import current_device

    with kbridge.device("cpu"):
        assert current_device() == "cpu:0"
        with kbridge.device("CPU:0"):
            x = ops.ones((2,))
            v = kbridge.Variable(np.zeros(2, "float32"))
        assert current_device() == "cpu:0"
    assert current_device() is None
    assert kbridge.backend.of(x) == backend and v.shape == (2,)
    if backend == "torch":
        assert x.device.type == "cpu"
    if backend == "jax":
        assert next(iter(x.devices())).platform == "cpu"
    with pytest.raises(kbridge.ArgumentError, match="cpu, gpu"):
        kbridge.device("gpu0")
    with pytest.raises(kbridge.ArgumentError, match="must be a string"):
        kbridge.device(0)
    with pytest.raises(kbridge.ArgumentError, match="not available"):
        with kbridge.device("gpu:7"):
            pass


def test_name_scope_sets_variable_paths():
    with kbridge.name_scope("encoder"):
        with kbridge.name_scope("block"):
            v = kbridge.Variable(np.zeros(2), name="bias")
        with kbridge.name_scope("head", override_parent="decoder"):
            w = kbridge.Variable(np.zeros(2), name="w")
        owner = object()
        with kbridge.name_scope("x", caller=owner):
            with kbridge.name_scope("x", caller=owner):   # deduplicated
                u = kbridge.Variable(np.zeros(2), name="u")
    assert (v.path, w.path, u.path) == ("encoder/block/bias", "decoder/head/w", "encoder/x/u")
    with pytest.raises(kbridge.ArgumentError, match="without '/'"):
        kbridge.name_scope("a/b")


def test_function_builds_and_runs_like_keras(backend):
    import keras

    a, b = kbridge.Input((3,)), kbridge.Input((3,))
    dense = kbridge.layers.Dense(2, kernel_initializer="ones")
    fn = kbridge.Function([a, b], {"sum": dense(a + b), "prod": ops.exp(a) * b})
    xa = np.arange(6, dtype="float32").reshape(2, 3) / 6
    xb = np.ones((2, 3), "float32")
    out = fn([xa, xb])
    ka, kb = keras.Input((3,)), keras.Input((3,))
    kdense = keras.layers.Dense(2, kernel_initializer="ones")
    kfn = keras.Function([ka, kb], {"sum": kdense(ka + kb), "prod": keras.ops.exp(ka) * kb})
    expected = kfn([xa, xb])
    for key in ("sum", "prod"):
        np.testing.assert_allclose(ops.convert_to_numpy(out[key]), np.asarray(expected[key]),
                                   rtol=1e-6)
    assert [t.shape for t in fn.inputs] == [(None, 3), (None, 3)]
    assert dense in fn.operations and len(fn.operations) == 4
    spec = fn.compute_output_spec([kbridge.KerasTensor((5, 3)), kbridge.KerasTensor((5, 3))])
    assert spec["sum"].shape == (5, 2) and spec["prod"].shape == (5, 3)
    with pytest.raises(kbridge.ArgumentError, match="kbridge.Input"):
        kbridge.Function(kbridge.KerasTensor((None, 3)), a)


class Square(kbridge.Operation):
    def call(self, x):
        return ops.square(x)


def test_operation_eager_and_in_graphs(backend):
    x = np.array([[1.0, -2.0]], "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(Square()(x)), [[1.0, 4.0]])
    inp = kbridge.Input((2,))
    y = Square()(inp)
    assert isinstance(y, kbridge.KerasTensor) and y.shape == (None, 2)
    model = kbridge.Model(inp, y)
    np.testing.assert_allclose(ops.convert_to_numpy(model(x)), [[1.0, 4.0]])
    assert Square().weights == []


@pytest.mark.parametrize("mode,kwargs,wrapped", [
    ("full", {}, True), ("list_of_layers", {"layer_names": ["blk"]}, True),
    ("list_of_layers", {"layer_names": ["other"]}, False),
    ("larger_than", {"output_size_threshold": 5}, True),
    ("larger_than", {"output_size_threshold": 100}, False), ("activations", {}, True)])
def test_rematerialized_call_follows_the_scope(mode, kwargs, wrapped):
    from kbridge.scopes import rematerialized_call

    with kbridge.backend.use("torch"):
        import torch

        dense = kbridge.layers.Dense(4, activation="tanh", name="blk")
        x = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)
        dense.build((2, 3))
        scope = kbridge.RematScope(mode=mode, **kwargs)
        call = rematerialized_call(dense, scope, dense.call, x)
        assert (call != dense.call) == wrapped   # bound methods compare by function and self
        grads = []
        for fn in (dense.call, call):
            for v in dense.trainable_variables:
                v.value.grad = None
            fn(torch.tensor(x)).sum().backward()
            grads.append([v.value.grad.numpy().copy() for v in dense.trainable_variables])
        for plain, rematerialized in zip(*grads):
            np.testing.assert_allclose(rematerialized, plain, rtol=1e-6)
