"""Losses vs Keras 3 on every backend: every reduction, sample weights, from_logits and
label smoothing where they apply; functional forms, get() and config round trips."""

import warnings

import numpy as np
import pytest

import kbridge
import kbridge.losses as L

keras = pytest.importorskip("keras")

rng = np.random.default_rng(3)
B, C = 5, 4
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def _data(kind):
    if kind == "regression":
        return (rng.uniform(0.1, 2.0, (B, 3)).astype("float32"),
                rng.uniform(0.1, 2.0, (B, 3)).astype("float32"))
    if kind == "binary":
        return (rng.integers(0, 2, (B, 3)).astype("float32"),
                rng.uniform(0.02, 0.98, (B, 3)).astype("float32"))
    if kind == "logits":
        return (rng.integers(0, 2, (B, 3)).astype("float32"),
                rng.normal(size=(B, 3)).astype("float32") * 3)
    if kind == "onehot":
        return (np.eye(C, dtype="float32")[rng.integers(0, C, B)],
                rng.dirichlet(np.ones(C), B).astype("float32"))
    if kind == "onehot_logits":
        return (np.eye(C, dtype="float32")[rng.integers(0, C, B)],
                rng.normal(size=(B, C)).astype("float32"))
    if kind == "sparse":
        return rng.integers(0, C, (B,)), rng.dirichlet(np.ones(C), B).astype("float32")
    if kind == "sparse_logits":
        return rng.integers(0, C, (B, 1)), rng.normal(size=(B, C)).astype("float32")
    if kind == "signed":
        return (rng.choice([-1.0, 1.0], (B, 3)).astype("float32"),
                rng.normal(size=(B, 3)).astype("float32"))
    if kind == "seg":
        return (rng.integers(0, 2, (B, 4, 4, 1)).astype("float32"),
                rng.uniform(size=(B, 4, 4, 1)).astype("float32"))
    raise KeyError(kind)


CASES = [
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "regression"),
    ("MeanSquaredLogarithmicError", {}, "regression"),
    ("Huber", {}, "regression"),
    ("Huber", {"delta": 0.3}, "regression"),
    ("LogCosh", {}, "regression"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}, "binary"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "logits"),
    ("BinaryCrossentropy", {"axis": 0}, "binary"),
    ("BinaryFocalCrossentropy", {}, "binary"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5,
                                 "label_smoothing": 0.1}, "binary"),
    ("BinaryFocalCrossentropy", {"from_logits": True}, "logits"),
    ("CategoricalCrossentropy", {}, "onehot"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "onehot"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
     "onehot_logits"),
    ("CategoricalFocalCrossentropy", {}, "onehot"),
    ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 1.0, "from_logits": True,
                                      "label_smoothing": 0.1}, "onehot_logits"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
    ("KLDivergence", {}, "onehot"),
    ("Poisson", {}, "regression"),
    ("Hinge", {}, "binary"),
    ("Hinge", {}, "signed"),
    ("SquaredHinge", {}, "binary"),
    ("SquaredHinge", {}, "signed"),
    ("CategoricalHinge", {}, "onehot"),
    ("CosineSimilarity", {}, "regression"),
    ("CosineSimilarity", {"axis": 1}, "regression"),
    ("Dice", {}, "seg"),
    ("Dice", {"axis": (1, 2, 3)}, "seg"),
    ("Tversky", {}, "seg"),
    ("Tversky", {"alpha": 0.7, "beta": 0.3, "axis": (1, 2)}, "seg"),
]
_IDS = [f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)]


def _np(x):
    return kbridge.ops.convert_to_numpy(x)


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=_IDS)
def test_matches_keras(name, kwargs, kind, backend):
    y_true, y_pred = _data(kind)
    weights = [None, rng.uniform(0.1, 1.0, (B,)).astype("float32")]
    if kwargs.get("axis") == 0:  # per-sample values run along the other axis
        weights = [None, rng.uniform(0.1, 1.0, (y_pred.shape[1],)).astype("float32")]
    for reduction in REDUCTIONS:
        ours = getattr(L, name)(reduction=reduction, **kwargs)
        theirs = getattr(keras.losses, name)(reduction=reduction, **kwargs)
        for sw in weights:
            got = ours(y_true, y_pred, sample_weight=sw)
            assert kbridge.backend.of(got) == backend
            np.testing.assert_allclose(_np(got), np.asarray(theirs(y_true, y_pred,
                                                                   sample_weight=sw)),
                                       rtol=2e-5, atol=2e-6,
                                       err_msg=f"{name} reduction={reduction} sw={sw}")


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=_IDS)
def test_functional_form(name, kwargs, kind, backend):
    fn = getattr(L, name)(**kwargs).fn
    theirs = getattr(keras.losses, fn.__name__)
    y_true, y_pred = _data(kind)
    got = fn(y_true, y_pred, **kwargs)
    np.testing.assert_allclose(_np(got), np.asarray(theirs(y_true, y_pred, **kwargs)),
                               rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("ignore_class", [None, -1, 2])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_categorical_ignore_class(ignore_class, from_logits, backend):
    y_true = np.array([[0, 2, -1], [1, 3, 2]])
    y_pred = rng.dirichlet(np.ones(C), (2, 3)).astype("float32")
    if from_logits:
        y_pred = np.log(y_pred)
    if ignore_class is None:
        y_true = np.abs(y_true)
    sw = rng.uniform(0.1, 1.0, (2, 3)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # masked rows are all-zero
        for reduction in REDUCTIONS:
            for weights in (None, sw):
                kw = dict(ignore_class=ignore_class, from_logits=from_logits,
                          reduction=reduction)
                got = L.SparseCategoricalCrossentropy(**kw)(y_true, y_pred, sample_weight=weights)
                want = keras.losses.SparseCategoricalCrossentropy(**kw)(y_true, y_pred,
                                                                       sample_weight=weights)
                np.testing.assert_allclose(_np(got), np.asarray(want), rtol=2e-5, atol=2e-6)


def test_ctc(backend):
    y_true = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [2, 0, 0, 0]])
    logits = rng.normal(size=(3, 7, 5)).astype("float32")
    for reduction in REDUCTIONS:
        got = L.CTC(reduction=reduction)(y_true, logits)
        want = keras.losses.CTC(reduction=reduction)(y_true, logits)
        np.testing.assert_allclose(_np(got), np.asarray(want), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(L.ctc(y_true, logits)), np.asarray(keras.losses.ctc(
        y_true, logits)), rtol=1e-4, atol=1e-5)


def test_hand_computed():
    # mse: ((1-0)^2 + (2-4)^2) / 2 = 2.5 ; sample weights [1, 0] on two rows
    y, p = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.0, 4.0], [3.0, 3.0]])
    assert float(L.MeanSquaredError()(y, p, sample_weight=np.array([1.0, 0.0]))) == \
        pytest.approx(2.5 / 2)
    assert float(L.MeanSquaredError(reduction="mean_with_sample_weight")(
        y, p, sample_weight=np.array([1.0, 0.0]))) == pytest.approx(2.5)
    # binary cross-entropy of p=0.8 for label 1 is -log(0.8)
    assert float(L.BinaryCrossentropy()(np.array([[1.0]]), np.array([[0.8]]))) == \
        pytest.approx(-np.log(0.8), rel=1e-6)
    # hinge with 0/1 labels: label 0 -> -1: max(1 - (-1)(0.5), 0) = 1.5
    assert float(L.hinge(np.array([0.0]), np.array([0.5]))) == pytest.approx(1.5)


def test_gradients_flow(trainable_backend):
    y_true, y_pred = _data("onehot_logits")
    if trainable_backend == "jax":
        import jax

        g = jax.grad(lambda p: L.CategoricalCrossentropy(from_logits=True)(y_true, p))(y_pred)
        g = np.asarray(g)
    elif trainable_backend == "torch":
        import torch

        p = torch.tensor(y_pred, requires_grad=True)
        L.CategoricalCrossentropy(from_logits=True)(y_true, p).backward()
        g = p.grad.numpy()
    else:
        import tensorflow as tf

        p = tf.Variable(y_pred)
        with tf.GradientTape() as tape:
            loss = L.CategoricalCrossentropy(from_logits=True)(y_true, p)
        g = tape.gradient(loss, p).numpy()
    soft = np.exp(y_pred) / np.exp(y_pred).sum(-1, keepdims=True)
    np.testing.assert_allclose(g, (soft - y_true) / B, rtol=1e-4, atol=1e-6)


def test_jit_and_tf_function():
    jax = pytest.importorskip("jax")
    tf = pytest.importorskip("tensorflow")
    y_true, y_pred = _data("binary")
    want = np.asarray(keras.losses.Hinge()(y_true, y_pred))
    with kbridge.backend.use("jax"):
        got = jax.jit(lambda a, b: L.Hinge()(a, b))(y_true, y_pred)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)
    with kbridge.backend.use("tensorflow"):
        got = tf.function(lambda a, b: L.Hinge()(a, b))(tf.constant(y_true),
                                                        tf.constant(y_pred))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=_IDS)
def test_config_round_trip(name, kwargs, kind):
    ours = getattr(L, name)(reduction="sum", **kwargs)
    config = ours.get_config()
    theirs = getattr(keras.losses, name)(reduction="sum", **kwargs).get_config()
    assert set(config) == set(theirs)
    assert {k: v for k, v in config.items() if k != "name"} == \
        {k: (list(v) if isinstance(v, tuple) and not isinstance(config[k], tuple) else v)
         for k, v in theirs.items() if k != "name"}
    clone = type(ours).from_config(config)
    assert clone.get_config() == config
    again = L.deserialize(L.serialize(ours))
    assert type(again) is type(ours) and again.get_config() == config


@pytest.mark.parametrize("identifier", [
    "mse", "MSE", "mae", "mape", "msle", "bce", "kld", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "binary_focal_crossentropy", "huber", "log_cosh",
    "hinge", "squared_hinge", "categorical_hinge", "poisson", "cosine_similarity", "dice",
    "tversky", "ctc", "kl_divergence",
])
def test_get_functions(identifier):
    ours, theirs = L.get(identifier), keras.losses.get(identifier)
    assert callable(ours) and ours.__name__ == theirs.__name__


@pytest.mark.parametrize("identifier", ["MeanSquaredError", "CategoricalCrossentropy",
                                        "Huber", "CTC", "Dice", "SparseCategoricalCrossentropy"])
def test_get_classes(identifier):
    assert type(L.get(identifier)).__name__ == type(keras.losses.get(identifier)).__name__


def test_get_other_identifiers():
    assert L.get(None) is None
    loss = L.Huber(delta=0.2)
    assert L.get(loss) is loss
    got = L.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(got, L.CategoricalCrossentropy) and got.from_logits
    with pytest.raises(ValueError, match="Could not interpret"):
        L.get("no_such_loss")
    with pytest.raises(ValueError, match="reduction"):
        L.MeanSquaredError(reduction="average")


def test_wrapper_round_trip():
    loss = L.LossFunctionWrapper(L.huber, delta=0.25, name="h")
    clone = L.LossFunctionWrapper.from_config(loss.get_config())
    assert clone.fn is L.huber and clone._fn_kwargs == {"delta": 0.25}
    y, p = _data("regression")
    np.testing.assert_allclose(_np(clone(y, p)), np.asarray(keras.losses.Huber(delta=0.25)(y, p)),
                               rtol=1e-6)
