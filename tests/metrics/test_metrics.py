"""Metrics vs Keras 3 after several weighted updates, on every backend; the stateless API
under jax.jit, update_state under tf.function, config round trips."""

import numpy as np
import pytest

import kbridge
import kbridge.metrics as M

keras = pytest.importorskip("keras")

rng = np.random.default_rng(7)
N, C = 6, 4


def _batches(kind):
    out = []
    for _ in range(3):
        sw = rng.uniform(0.2, 1.0, (N,)).astype("float32")
        if kind == "binary":
            yt = rng.integers(0, 2, (N, 1)).astype("float32")
            yp = rng.uniform(0.01, 0.99, (N, 1)).astype("float32")
        elif kind == "multilabel":
            yt = rng.integers(0, 2, (N, C)).astype("float32")
            yp = rng.uniform(0.01, 0.99, (N, C)).astype("float32")
        elif kind == "onehot":
            yt = np.eye(C, dtype="float32")[rng.integers(0, C, N)]
            yp = rng.dirichlet(np.ones(C), N).astype("float32")
        elif kind == "sparse":
            yt = rng.integers(0, C, (N,)).astype("int32")
            yp = rng.dirichlet(np.ones(C), N).astype("float32")
        elif kind == "regression":
            yt = rng.uniform(0.1, 2.0, (N, 3)).astype("float32")
            yp = rng.uniform(0.1, 2.0, (N, 3)).astype("float32")
        elif kind == "labels":
            yt = rng.integers(0, C, (N,)).astype("int32")
            yp = rng.integers(0, C, (N,)).astype("int32")
        elif kind == "logits":
            yt = rng.integers(0, 2, (N, C)).astype("float32")
            yp = rng.normal(size=(N, C)).astype("float32")
        out.append((yt, yp, sw))
    return out


# (name, kwargs, data kind, rtol)
CASES = [
    ("Accuracy", {}, "labels"),
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.3}, "multilabel"),
    ("CategoricalAccuracy", {}, "onehot"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    ("AUC", {}, "binary"),
    ("AUC", {"curve": "PR"}, "multilabel"),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, "binary"),
    ("AUC", {"num_thresholds": 17, "multi_label": True}, "multilabel"),
    ("AUC", {"multi_label": True, "label_weights": [1.0, 2.0, 0.5, 1.0]}, "multilabel"),
    ("AUC", {"from_logits": True, "summation_method": "minoring"}, "logits"),
    ("AUC", {"thresholds": [0.2, 0.5, 0.7]}, "multilabel"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.3, 0.6]}, "multilabel"),
    ("Precision", {"top_k": 2}, "multilabel"),
    ("Precision", {"class_id": 1}, "multilabel"),
    ("Recall", {}, "binary"),
    ("Recall", {"thresholds": [0.3, 0.6], "class_id": 2}, "multilabel"),
    ("Recall", {"top_k": 1}, "multilabel"),
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.2, 0.8]}, "multilabel"),
    ("TrueNegatives", {}, "multilabel"),
    ("FalseNegatives", {}, "binary"),
    ("PrecisionAtRecall", {"recall": 0.6}, "binary"),
    ("RecallAtPrecision", {"precision": 0.5, "num_thresholds": 50}, "multilabel"),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, "binary"),
    ("SpecificityAtSensitivity", {"sensitivity": 0.5, "class_id": 1}, "multilabel"),
    ("F1Score", {}, "onehot"),
    ("F1Score", {"average": "macro", "threshold": 0.3}, "multilabel"),
    ("FBetaScore", {"beta": 2.0, "average": "weighted", "threshold": 0.5}, "multilabel"),
    ("FBetaScore", {"average": "micro", "beta": 0.5}, "onehot"),
    ("MeanIoU", {"num_classes": C}, "labels"),
    ("IoU", {"num_classes": C, "target_class_ids": [0, 2]}, "labels"),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.4}, "binary"),
    ("OneHotIoU", {"num_classes": C, "target_class_ids": [1, 3]}, "onehot"),
    ("OneHotMeanIoU", {"num_classes": C}, "onehot"),
    ("MeanAbsoluteError", {}, "regression"),
    ("MeanSquaredError", {}, "regression"),
    ("RootMeanSquaredError", {}, "regression"),
    ("MeanAbsolutePercentageError", {}, "regression"),
    ("MeanSquaredLogarithmicError", {}, "regression"),
    ("CosineSimilarity", {}, "regression"),
    ("LogCoshError", {}, "regression"),
    ("R2Score", {}, "regression"),
    ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 2},
     "regression"),
    ("R2Score", {"class_aggregation": None}, "regression"),
    ("Hinge", {}, "multilabel"),
    ("SquaredHinge", {}, "multilabel"),
    ("CategoricalHinge", {}, "onehot"),
    ("KLDivergence", {}, "onehot"),
    ("Poisson", {}, "regression"),
    ("BinaryCrossentropy", {}, "multilabel"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, "logits"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "onehot"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
]
_IDS = [f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)]


def _weights_for(name, sw):
    # Keras casts float weights to the IoU metrics' integer dtype; use integer weights there.
    return np.round(sw * 3).astype("int32") if "IoU" in name else sw


def _keras_value(name, kwargs, batches):
    m = getattr(keras.metrics, name)(**kwargs)
    for yt, yp, sw in batches:
        m.update_state(yt, yp, sample_weight=_weights_for(name, sw))
    return np.asarray(m.result())


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=_IDS)
def test_matches_keras(name, kwargs, kind, backend):
    batches = _batches(kind)
    expected = _keras_value(name, kwargs, batches)
    m = getattr(M, name)(**kwargs)
    assert m.backend_name == backend
    for yt, yp, sw in batches:
        m.update_state(yt, yp, sample_weight=_weights_for(name, sw))
    got = kbridge.ops.convert_to_numpy(m.result())
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6)
    # unweighted, through __call__, after a reset
    m.reset_state()
    km = getattr(keras.metrics, name)(**kwargs)
    for yt, yp, _ in batches[:2]:
        km.update_state(yt, yp)
        got = m(yt, yp)
    np.testing.assert_allclose(kbridge.ops.convert_to_numpy(got), np.asarray(km.result()),
                               rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=_IDS)
def test_config_round_trip(name, kwargs, kind):
    m = getattr(M, name)(**kwargs)
    config = m.get_config()
    assert set(config) == set(getattr(keras.metrics, name)(**kwargs).get_config())
    clone = type(m).from_config(config)
    assert clone.get_config() == config
    again = M.deserialize(M.serialize(m))
    assert type(again) is type(m) and again.get_config() == config


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=_IDS)
def test_stateless_under_jax_jit(name, kwargs, kind):
    jax = pytest.importorskip("jax")
    batches = _batches(kind)
    with kbridge.backend.use("jax"):
        m = getattr(M, name)(**kwargs)
        ref = getattr(M, name)(**kwargs)
        if getattr(m, "_built", True) is False:  # state shaped by the first batch (R2, F-beta)
            m.update_state(*batches[0][:2])
            m.reset_state()
        update = jax.jit(lambda s, yt, yp, sw: m.stateless_update_state(s, yt, yp,
                                                                        sample_weight=sw))
        result = jax.jit(m.stateless_result)
        state = [v.value for v in m.variables]
        for yt, yp, sw in batches:
            sw = _weights_for(name, sw)
            state = update(state, yt, yp, sw)
            ref.update_state(yt, yp, sample_weight=sw)
        np.testing.assert_allclose(np.asarray(result(state)), np.asarray(ref.result()),
                                   rtol=1e-5, atol=1e-6)
        # the Variables themselves were not touched
        for v in m.variables:
            assert not np.any(np.asarray(v.numpy()))
        assert all(np.allclose(np.asarray(s), 0) for s in m.stateless_reset_state())


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=_IDS)
def test_update_state_in_tf_function(name, kwargs, kind):
    tf = pytest.importorskip("tensorflow")
    batches = _batches(kind)
    with kbridge.backend.use("tensorflow"):
        m = getattr(M, name)(**kwargs)
        ref = getattr(M, name)(**kwargs)

        @tf.function
        def step(yt, yp, sw):
            m.update_state(yt, yp, sample_weight=sw)
            return m.result()

        for yt, yp, sw in batches:
            sw = _weights_for(name, sw)
            out = step(tf.constant(yt), tf.constant(yp), tf.constant(sw))
            ref.update_state(yt, yp, sample_weight=sw)
        np.testing.assert_allclose(out.numpy(), ref.result().numpy(), rtol=1e-5, atol=1e-6)


def test_mean_and_sum(backend):
    for cls in ("Mean", "Sum"):
        ours, theirs = getattr(M, cls)(), getattr(keras.metrics, cls)()
        for values, sw in (([1.0, 3.0, 5.0, 7.0], [1, 1, 0, 0]), ([[2.0, 4.0], [6.0, 8.0]],
                                                                 [0.5, 2.0])):
            ours.update_state(np.array(values, "float32"), sample_weight=np.array(sw, "float32"))
            theirs.update_state(np.array(values, "float32"), sample_weight=np.array(sw, "float32"))
        np.testing.assert_allclose(kbridge.ops.convert_to_numpy(ours.result()),
                                   np.asarray(theirs.result()), rtol=1e-6)
        assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
        assert all(v.backend_name == backend for v in ours.variables)


def test_mean_metric_wrapper_with_a_function(backend):
    ours = M.MeanMetricWrapper(kbridge.losses.huber, delta=0.3)
    theirs = keras.metrics.MeanMetricWrapper(keras.losses.huber, delta=0.3)
    for yt, yp, sw in _batches("regression"):
        ours.update_state(yt, yp, sample_weight=sw)
        theirs.update_state(yt, yp, sample_weight=sw)
    np.testing.assert_allclose(kbridge.ops.convert_to_numpy(ours.result()),
                               np.asarray(theirs.result()), rtol=1e-5)
    clone = M.MeanMetricWrapper.from_config(ours.get_config())
    assert clone._fn is kbridge.losses.huber and clone._fn_kwargs == {"delta": 0.3}


def test_sparse_crossentropy_metric_ignore_class(backend):
    yt = np.array([0, 2, -1, 1, 3, -1])
    yp = rng.dirichlet(np.ones(C), 6).astype("float32")
    sw = rng.uniform(0.2, 1, 6).astype("float32")
    for weights in (None, sw):
        ours = M.SparseCategoricalCrossentropy(ignore_class=-1)
        theirs = keras.metrics.SparseCategoricalCrossentropy(ignore_class=-1)
        ours.update_state(yt, yp, sample_weight=weights)
        theirs.update_state(yt, yp, sample_weight=weights)
        np.testing.assert_allclose(kbridge.ops.convert_to_numpy(ours.result()),
                                   np.asarray(theirs.result()), rtol=1e-5)


@pytest.mark.parametrize("identifier,cls", [
    ("accuracy", "Accuracy"), ("acc", "Accuracy"), ("mse", "MeanSquaredError"),
    ("MAE", "MeanAbsoluteError"), ("bce", "BinaryCrossentropy"), ("auc", "AUC"),
    ("AUC", "AUC"), ("f1_score", "F1Score"), ("sparse_categorical_accuracy",
                                              "SparseCategoricalAccuracy"),
    ("mean_squared_logarithmic_error", "MeanSquaredLogarithmicError"),
    ("root_mean_squared_error", "RootMeanSquaredError"),
])
def test_get(identifier, cls):
    m = M.get(identifier)
    assert type(m).__name__ == cls and isinstance(m, M.Metric)
    k = keras.metrics.get(identifier) if identifier != "acc" else keras.metrics.Accuracy()
    assert type(k).__name__ == cls


def test_get_other_identifiers():
    assert M.get(None) is None
    m = M.Precision()
    assert M.get(m) is m
    auc = M.get({"class_name": "AUC", "config": {"curve": "PR", "num_thresholds": 10}})
    assert auc.curve == "PR" and auc.num_thresholds == 10
    assert M.get({"class_name": "MeanSquaredError", "config": {}}).__class__ \
        is M.MeanSquaredError
    with pytest.raises(ValueError, match="Could not interpret"):
        M.get("no_such_metric")


def test_metric_variables_live_on_the_creating_backend(backend):
    m = M.AUC(num_thresholds=5)
    assert m.backend_name == backend
    assert all(v.backend_name == backend for v in m.variables)
    assert [v.name for v in m.variables] == ["true_positives", "false_positives",
                                            "true_negatives", "false_negatives"]
    # numpy inputs go to the metric's backend even when another backend is active
    other = "numpy" if backend != "numpy" else kbridge.backend.available()[-1]
    yt, yp, sw = _batches("binary")[0]
    with kbridge.backend.use(other):
        m.update_state(yt, yp, sample_weight=sw)
        value = m.result()
    assert kbridge.backend.of(value) == backend


def test_stateless_needs_built_state():
    with kbridge.backend.use("numpy"):
        m = M.R2Score()
        yt, yp, _ = _batches("regression")[0]
        with pytest.raises(ValueError, match="Call update_state once"):
            m.stateless_update_state([v.value for v in m.variables], yt, yp)


def test_errors():
    with pytest.raises(ValueError, match="num_thresholds"):
        M.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve"):
        M.AUC(curve="XYZ")
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        M.Precision(thresholds=[1.5])
    with pytest.raises(ValueError, match="beta"):
        M.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="out of range"):
        M.IoU(num_classes=2, target_class_ids=[2])
    m = M.Mean()
    with pytest.raises(ValueError, match="one value per variable"):
        m.stateless_update_state([0.0], [1.0])
