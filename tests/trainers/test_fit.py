"""compile / fit / evaluate / predict on every trainable backend, custom steps, stateless API."""

import importlib
import textwrap

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.conftest import BACKENDS, DIFFERENTIABLE

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 6)).astype("float32")
W_TRUE = RNG.normal(size=(6, 1)).astype("float32")
Y = (X @ W_TRUE + 0.1).astype("float32")


def _regressor(backend, seed=0):
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(seed)
        model = kbridge.Sequential([kbridge.Input((6,)), kbridge.layers.Dense(8, activation="tanh"),
                                    kbridge.layers.Dense(1)])
    return model


def test_fit_reduces_loss_and_returns_history(trainable_backend):
    model = _regressor(trainable_backend)
    model.compile(optimizer=kbridge.optimizers.Adam(0.02), loss="mse", metrics=["mae"])
    before = model.evaluate(X, Y, verbose=0, return_dict=True)
    history = model.fit(X, Y, batch_size=16, epochs=15, verbose=0, validation_split=0.25)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert len(history.history["loss"]) == 15
    after = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert after["loss"] < 0.5 * before["loss"]
    preds = model.predict(X, batch_size=10, verbose=0)
    assert preds.shape == (64, 1)
    np.testing.assert_allclose(preds, ops.convert_to_numpy(model(X)), rtol=1e-4, atol=1e-5)


def test_numpy_backend_cannot_fit_but_evaluates():
    model = _regressor("numpy")
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(kbridge.KbridgeError, match="numpy backend.*jax.*torch.*tensorflow"):
        model.fit(X, Y, verbose=0)
    assert np.isfinite(model.evaluate(X, Y, verbose=0))
    assert model.predict(X, verbose=0).shape == (64, 1)


def test_same_steps_on_every_backend():
    """Identical initial weights, data order and SGD: identical training on jax/torch/tf."""
    if len(DIFFERENTIABLE) < 2:
        pytest.skip("needs two trainable backends")
    weights, results = None, {}
    for backend in DIFFERENTIABLE:
        model = _regressor(backend)
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.compile(optimizer=kbridge.optimizers.SGD(0.05, momentum=0.9), loss="mse")
        model.fit(X, Y, batch_size=16, epochs=3, shuffle=False, verbose=0)
        results[backend] = model.get_weights()
    ref = results[DIFFERENTIABLE[0]]
    for backend, got in results.items():
        for a, b in zip(got, ref):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=backend)


def test_multi_input_multi_output_with_loss_weights(trainable_backend):
    with kbridge.backend.use(trainable_backend):
        a, b = kbridge.Input((6,), name="a"), kbridge.Input((6,), name="b")
        h = kbridge.layers.Concatenate()([a, b])
        out1 = kbridge.layers.Dense(1, name="reg")(h)
        out2 = kbridge.layers.Dense(3, activation="softmax", name="cls")(h)
        model = kbridge.Model([a, b], [out1, out2])
    labels = (X[:, 0] > 0).astype("int32") + (X[:, 1] > 0).astype("int32")
    model.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"],
                  loss_weights=[1.0, 0.5], metrics=[[], ["accuracy"]])
    logs = model.fit([X, X], [Y, labels], epochs=2, batch_size=32, verbose=0).history
    assert "cls_accuracy" in logs and len(logs["loss"]) == 2
    total = model.evaluate([X, X], [Y, labels], verbose=0, return_dict=True)
    assert np.isfinite(total["loss"])


def test_sample_and_class_weights_change_the_loss(trainable_backend):
    model = _regressor(trainable_backend)
    model.compile(optimizer="sgd", loss="mse")
    plain = model.evaluate(X, Y, verbose=0)
    weighted = model.evaluate(X, Y, sample_weight=np.where(X[:, 0] > 0, 2.0, 0.0), verbose=0)
    assert not np.isclose(plain, weighted)
    labels = (X[:, 0] > 0).astype("int32")
    with kbridge.backend.use(trainable_backend):
        clf = kbridge.Sequential([kbridge.Input((6,)), kbridge.layers.Dense(2)])
    clf.compile(optimizer="sgd",
                loss=kbridge.losses.SparseCategoricalCrossentropy(from_logits=True))
    clf.fit(X, labels, class_weight={0: 1.0, 1: 5.0}, epochs=1, verbose=0)


def test_on_batch_methods(trainable_backend):
    model = _regressor(trainable_backend)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    first = model.train_on_batch(X, Y, return_dict=True)
    second = model.train_on_batch(X, Y, return_dict=True)
    assert second["loss"] < first["loss"] and set(first) == {"loss", "mae"}
    assert np.isfinite(model.test_on_batch(X, Y, return_dict=True)["loss"])
    assert model.predict_on_batch(X).shape == (64, 1)


def test_steps_per_execution_matches_one_step(trainable_backend):
    results = []
    for spe in (1, 4):
        model = _regressor(trainable_backend)
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=spe)
        model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_custom_compute_loss_on_any_backend(trainable_backend):
    class L1Model(kbridge.Sequential):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return ops.mean(ops.abs(ops.subtract(y_pred, y)))

    with kbridge.backend.use(trainable_backend):
        model = L1Model([kbridge.Input((6,)), kbridge.layers.Dense(1)])
    model.compile(optimizer="adam")
    hist = model.fit(X, Y, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert hist[-1] < hist[0]


def _documented_train_step(backend, framework):
    """The custom ``train_step`` example of ``kbridge.backend.<backend>.trainer``'s docstring.

    The example runs as written, with ``framework`` as its globals (``{"torch": torch}``), so
    the documentation and this test cannot drift apart.
    """
    doc = importlib.import_module(f"kbridge.backend.{backend}.trainer").__doc__
    namespace = {}
    exec(textwrap.dedent(doc.split("::\n", 1)[1]), framework, namespace)
    return namespace["train_step"]


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch")
def test_custom_train_step_torch():
    import torch

    calls = []
    documented = _documented_train_step("torch", {"torch": torch})

    class Custom(kbridge.Sequential):
        def train_step(self, data):
            calls.append(1)
            return documented(self, data)

    with kbridge.backend.use("torch"):
        model = Custom([kbridge.Input((6,)), kbridge.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    hist = model.fit(X, Y, epochs=3, batch_size=32, verbose=0).history["loss"]
    assert len(calls) == 6 and hist[-1] < hist[0]


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow")
def test_custom_train_step_tensorflow():
    import tensorflow as tf

    class Custom(kbridge.Sequential):
        train_step = _documented_train_step("tensorflow", {"tf": tf})

    with kbridge.backend.use("tensorflow"):
        model = Custom([kbridge.Input((6,)), kbridge.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    hist = model.fit(X, Y, epochs=3, batch_size=32, verbose=0).history["loss"]
    assert hist[-1] < hist[0]


@pytest.mark.skipif("jax" not in BACKENDS, reason="jax")
def test_custom_train_step_jax_and_stateless_loop_matches_fit():
    import jax

    model = _regressor("jax")
    model.compile(optimizer=kbridge.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    weights = model.get_weights()

    # fit, one epoch of 4 unshuffled batches
    model.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    fitted = model.get_weights()

    # the same with the stateless API and jax.jit only
    fresh = _regressor("jax")
    fresh.set_weights(weights)
    optimizer = kbridge.optimizers.Adam(0.01)
    optimizer.build(fresh.trainable_variables)
    loss_fn = kbridge.losses.MeanSquaredError()
    metric = kbridge.metrics.MeanAbsoluteError()

    @jax.jit
    def step(trainable, non_trainable, opt_vars, metric_vars, x, y):
        def compute(trainable):
            y_pred, nt = fresh.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, y_pred), (y_pred, nt)

        (loss, (y_pred, nt)), grads = jax.value_and_grad(compute, has_aux=True)(trainable)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        metric_vars = metric.stateless_update_state(metric_vars, y, y_pred)
        return trainable, nt, opt_vars, metric_vars, loss

    state = ([v.value for v in fresh.trainable_variables],
             [v.value for v in fresh.non_trainable_variables],
             [v.value for v in optimizer.variables], [v.value for v in metric.variables])
    for i in range(4):
        *state, loss = step(*state, X[16 * i:16 * (i + 1)], Y[16 * i:16 * (i + 1)])
    for v, value in zip(fresh.trainable_variables, state[0]):
        v.assign(value)
    for a, b in zip(fresh.get_weights(), fitted):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.isfinite(float(metric.stateless_result(state[3])))


def test_digits_cnn_reaches_97_percent(trainable_backend):
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    labels = digits.target.astype("int32")
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order]
    x_train, y_train, x_test, y_test = images[:1400], labels[:1400], images[1400:], labels[1400:]
    with kbridge.backend.use(trainable_backend):
        kbridge.utils.set_random_seed(1)
        model = kbridge.Sequential([
            kbridge.Input((8, 8, 1)),
            kbridge.layers.Conv2D(16, 3, padding="same", activation="relu"),
            kbridge.layers.MaxPooling2D(2),
            kbridge.layers.Conv2D(32, 3, padding="same", activation="relu"),
            kbridge.layers.Flatten(),
            kbridge.layers.Dense(10),
        ])
    model.compile(optimizer=kbridge.optimizers.Adam(3e-3),
                  loss=kbridge.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=12, verbose=0)
    accuracy = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    assert accuracy >= 0.97, accuracy


@pytest.mark.skipif("jax" not in BACKENDS, reason="jax")
def test_custom_train_step_jax():
    """The JAX step of docs/customizing_fit.md: a pure function of (state, data)."""
    import jax

    calls = []

    class Custom(kbridge.Sequential):
        def train_step(self, state, data):
            calls.append(1)  # runs once per trace: the step is compiled
            trainable, non_trainable, optimizer_vars, metrics_vars = state
            x, y = data

            def loss_fn(trainable):
                y_pred, nt = self.stateless_call(trainable, non_trainable, x, training=True)
                loss, _ = self.stateless_compute_loss(trainable, nt, metrics_vars,
                                                      x=x, y=y, y_pred=y_pred)
                return loss, nt

            (loss, non_trainable), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                trainable)
            trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads,
                                                                       trainable)
            logs, new_metrics_vars = {}, []
            for metric in self.metrics:  # each metric's slice of metrics_vars, in order
                start = len(new_metrics_vars)
                mine = metrics_vars[start:start + len(metric.variables)]
                mine = metric.stateless_update_state(mine, loss)
                logs[metric.name] = metric.stateless_result(mine)
                new_metrics_vars += mine
            return logs, (trainable, non_trainable, optimizer_vars, new_metrics_vars)

    with kbridge.backend.use("jax"):
        model = Custom([kbridge.Input((6,)), kbridge.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    hist = model.fit(X, Y, epochs=4, batch_size=32, verbose=0).history["loss"]
    assert hist[-1] < hist[0] and len(calls) <= 2
