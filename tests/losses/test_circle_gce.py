"""Circle and CategoricalGeneralizedCrossEntropy vs Keras 3 on every backend: reductions,
sample weights, the functional forms, get() and config round trips."""

import numpy as np
import pytest

import kbridge
import kbridge.losses as L

keras = pytest.importorskip("keras")

rng = np.random.default_rng(5)
EMB = rng.normal(size=(6, 4)).astype("float32")
EMB /= np.linalg.norm(EMB, axis=1, keepdims=True)
LABELS = np.array([0, 0, 1, 1, 2, 3])  # queries 4 and 5 have no positive pair: masked
PROBS = rng.dirichlet(np.ones(3), 5).astype("float32")
CLASSES = rng.integers(0, 3, 5)
WEIGHTS6 = rng.uniform(0.5, 2.0, 6).astype("float32")
WEIGHTS5 = WEIGHTS6[:5]

CASES = [
    ("Circle", {}, "circle"),
    ("Circle", {"gamma": 10.0, "margin": 0.25}, "circle"),
    ("Circle", {"remove_diagonal": False, "reduction": "sum"}, "circle"),
    ("Circle", {"reduction": "mean_with_sample_weight"}, "circle"),
    ("Circle", {"reduction": None}, "circle"),
    ("CategoricalGeneralizedCrossEntropy", {}, "gce"),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.2, "reduction": "sum"}, "gce"),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.9, "reduction": "none"}, "gce"),
]


def _inputs(kind):
    return (LABELS, EMB, WEIGHTS6) if kind == "circle" else (CLASSES, PROBS, WEIGHTS5)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,kwargs,kind", CASES)
def test_against_keras(name, kwargs, kind, weighted, backend):
    y_true, y_pred, weights = _inputs(kind)
    sw = weights if weighted else None
    expected = np.asarray(getattr(keras.losses, name)(**kwargs)(y_true, y_pred, sample_weight=sw))
    loss = getattr(L, name)(**kwargs)
    actual = kbridge.ops.convert_to_numpy(loss(y_true, y_pred, sample_weight=sw))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_functional_forms(backend):
    np.testing.assert_allclose(
        kbridge.ops.convert_to_numpy(L.circle(LABELS, EMB, gamma=20.0)),
        np.asarray(keras.losses.circle(LABELS, EMB, gamma=20.0)), rtol=1e-5, atol=1e-6)
    ref_emb, ref_labels = EMB[::-1].copy(), LABELS[::-1].copy()
    np.testing.assert_allclose(
        kbridge.ops.convert_to_numpy(L.circle(LABELS, EMB, ref_labels=ref_labels,
                                              ref_embeddings=ref_emb, remove_diagonal=False)),
        np.asarray(keras.losses.circle(LABELS, EMB, ref_labels=ref_labels,
                                       ref_embeddings=ref_emb, remove_diagonal=False)),
        rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        kbridge.ops.convert_to_numpy(L.categorical_generalized_cross_entropy(CLASSES, PROBS,
                                                                             q=0.4)),
        np.asarray(keras.losses.categorical_generalized_cross_entropy(CLASSES, PROBS, q=0.4)),
        rtol=1e-6)
    # (batch, 1) labels give the same per-sample values as (batch,).
    np.testing.assert_allclose(
        kbridge.ops.convert_to_numpy(L.categorical_generalized_cross_entropy(
            CLASSES[:, None], PROBS, q=0.4)),
        kbridge.ops.convert_to_numpy(L.categorical_generalized_cross_entropy(CLASSES, PROBS,
                                                                             q=0.4)))


@pytest.mark.parametrize("name", ["Circle", "CategoricalGeneralizedCrossEntropy", "circle",
                                  "categorical_generalized_cross_entropy"])
def test_get_and_config_round_trip(name):
    obj = L.get(name)
    assert obj is getattr(L, name) if name[0].islower() else isinstance(obj, getattr(L, name))
    if name[0].isupper():
        loss = getattr(L, name)(name="custom", reduction="sum")
        again = L.deserialize(L.serialize(loss))
        assert type(again) is type(loss) and again.get_config() == loss.get_config()
        keras_config = keras.losses.serialize(getattr(keras.losses, name)())
        assert L.deserialize(keras_config).get_config() == keras_config["config"]


def test_gce_rejects_q_outside_unit_interval():
    for q in (0, 1, 1.5, "a"):
        with pytest.raises(ValueError, match=r"`q` must be a float in the interval \(0, 1\)"):
            L.CategoricalGeneralizedCrossEntropy(q=q)
