"""Layer checks: every backend against the numpy backend, config round trip, and Keras 3.

``check_layer(make, x, backend)`` builds ``make()`` on the numpy backend and on ``backend``
with the same weights, and compares outputs; ``check_against_keras(make, keras_make, x)``
compares with Keras 3 itself (skipped when keras is not installed) given the same weights.
"""

import os

import numpy as np
import pytest

import kbridge
from kbridge import ops


def to_numpy(value):
    if isinstance(value, (list, tuple)):
        return [to_numpy(v) for v in value]
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    return np.asarray(ops.convert_to_numpy(value))


def _assert_tree_close(a, b, rtol, atol):
    if isinstance(b, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_tree_close(x, y, rtol, atol)
    elif isinstance(b, dict):
        for k in b:
            _assert_tree_close(a[k], b[k], rtol, atol)
    else:
        assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   rtol=rtol, atol=atol)


def run_layer(make, inputs, backend, weights=None, call_kwargs=None):
    """(layer, numpy outputs) of ``make()`` built on ``backend`` and called on ``inputs``."""
    with kbridge.backend.use(backend):
        layer = make()
        if weights is not None:
            layer(inputs, **(call_kwargs or {}))  # build
            layer.set_weights(weights)
        out = layer(inputs, **(call_kwargs or {}))
        return layer, to_numpy(out)


def check_layer(make, inputs, backend, rtol=1e-5, atol=1e-5, call_kwargs=None):
    """Same weights -> same outputs on ``backend`` as on numpy; config round trip too."""
    ref_layer, expected = run_layer(make, inputs, "numpy", call_kwargs=call_kwargs)
    layer, got = run_layer(make, inputs, backend, weights=ref_layer.get_weights(),
                           call_kwargs=call_kwargs)
    _assert_tree_close(got, expected, rtol, atol)
    # config round trip: same class, same config, same outputs with the same weights
    config = layer.get_config()
    with kbridge.backend.use(backend):
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        clone(inputs, **(call_kwargs or {}))
        clone.set_weights(layer.get_weights())
        _assert_tree_close(to_numpy(clone(inputs, **(call_kwargs or {}))), expected, rtol, atol)
    return layer


def keras_module():
    """Keras 3 (on its numpy backend when not chosen otherwise), or skip the test."""
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    return pytest.importorskip("keras")


def check_against_keras(make, keras_make, inputs, backend, rtol=1e-5, atol=1e-5,
                        call_kwargs=None):
    """kbridge ``make()`` on ``backend`` matches Keras 3 ``keras_make(keras)`` given Keras's
    weights: same weight shapes and order, same outputs."""
    keras = keras_module()
    klayer = keras_make(keras)
    expected = np.asarray(klayer(inputs, **(call_kwargs or {})))
    kweights = [np.asarray(w) for w in klayer.get_weights()]
    with kbridge.backend.use(backend):
        layer = make()
        layer(inputs, **(call_kwargs or {}))
        assert [w.shape for w in layer.get_weights()] == [w.shape for w in kweights]
        layer.set_weights(kweights)
        got = to_numpy(layer(inputs, **(call_kwargs or {})))
    _assert_tree_close(got, expected, rtol, atol)
