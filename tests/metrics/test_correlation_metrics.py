"""PearsonCorrelation and ConcordanceCorrelation vs Keras 3 over several weighted updates on
every backend; the functional forms, get() and config round trips."""

import numpy as np
import pytest

import kbridge
import kbridge.metrics as M

keras = pytest.importorskip("keras")

rng = np.random.default_rng(11)
BATCHES = []
for _ in range(3):
    y_true = rng.normal(size=(4, 5)).astype("float32")
    y_pred = (0.7 * y_true + 0.3 * rng.normal(size=(4, 5)) + 0.2).astype("float32")
    BATCHES.append((y_true, y_pred, rng.uniform(0.2, 1.0, 4).astype("float32")))


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["PearsonCorrelation", "ConcordanceCorrelation"])
def test_stateful_against_keras(name, weighted, axis, backend):
    ours = getattr(M, name)(axis=axis)
    theirs = getattr(keras.metrics, name)(axis=axis)
    for y_true, y_pred, sw in BATCHES:
        if axis == 0:
            sw = sw[:1].repeat(5)  # one weight per column: the per-sample axis is now 1
        sw = sw if weighted else None
        ours.update_state(y_true, y_pred, sample_weight=sw)
        theirs.update_state(y_true, y_pred, sample_weight=sw)
        np.testing.assert_allclose(kbridge.ops.convert_to_numpy(ours.result()),
                                   np.asarray(theirs.result()), rtol=1e-5, atol=1e-6)
    assert ours.backend_name == backend
    ours.reset_state()
    assert float(kbridge.ops.convert_to_numpy(ours.result())) == 0.0


@pytest.mark.parametrize("fn", ["pearson_correlation", "concordance_correlation"])
def test_functions_against_keras(fn, backend):
    y_true, y_pred, _ = BATCHES[0]
    for axis in (-1, 0):
        np.testing.assert_allclose(
            kbridge.ops.convert_to_numpy(getattr(M, fn)(y_true, y_pred, axis=axis)),
            np.asarray(getattr(keras.metrics, fn)(y_true, y_pred, axis=axis)),
            rtol=1e-5, atol=1e-6)
    # Perfect agreement gives 1 (up to epsilon) for both coefficients.
    np.testing.assert_allclose(
        kbridge.ops.convert_to_numpy(getattr(M, fn)(y_true, y_true)), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", ["PearsonCorrelation", "ConcordanceCorrelation"])
def test_get_and_config(name):
    snake = "pearson_correlation" if name.startswith("P") else "concordance_correlation"
    assert isinstance(M.get(name), getattr(M, name))
    assert isinstance(M.get(snake), getattr(M, name))  # as Keras: the name gives the class
    metric = getattr(M, name)(name="corr", axis=0)
    again = M.deserialize(M.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()
    keras_config = keras.metrics.serialize(getattr(keras.metrics, name)(axis=0))
    assert M.deserialize(keras_config).get_config() == keras_config["config"]
    assert metric._direction == "up"
