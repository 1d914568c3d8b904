"""Activations, regularizers, constraints and initializers: backends agree, Keras agrees."""

import math

import numpy as np
import pytest

import kbridge
from kbridge import activations, constraints, initializers, regularizers
from tests.layers.harness import keras_module, to_numpy

X = np.random.default_rng(1).normal(scale=3.0, size=(3, 8)).astype("float32")
W = np.random.default_rng(2).normal(size=(5, 4)).astype("float32")

ACTIVATIONS = {
    "relu": {}, "relu6": {}, "elu": {}, "selu": {}, "gelu": {}, "silu": {}, "swish": {},
    "sigmoid": {}, "hard_sigmoid": {}, "hard_silu": {}, "hard_swish": {}, "softmax": {},
    "log_softmax": {}, "softplus": {}, "softsign": {}, "tanh": {}, "exponential": {},
    "linear": {}, "leaky_relu": {}, "mish": {}, "celu": {}, "glu": {}, "log_sigmoid": {},
    "hard_tanh": {}, "hard_shrink": {}, "soft_shrink": {}, "tanh_shrink": {},
    "sparse_plus": {}, "sparse_sigmoid": {}, "squareplus": {},
}
RELU_VARIANTS = [
    dict(negative_slope=0.1), dict(max_value=2.0), dict(max_value=6.0), dict(threshold=0.5),
    dict(negative_slope=0.1, max_value=2.0, threshold=0.5), dict(negative_slope=0.2, threshold=1.0),
    dict(negative_slope=0.1, max_value=6),
]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_keras(name, backend):
    keras = keras_module()
    want = np.asarray(keras.activations.get(name)(X))
    fn = activations.get(name)
    got = to_numpy(fn(X))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert activations.get(activations.serialize(fn)) is fn


@pytest.mark.parametrize("kwargs", RELU_VARIANTS, ids=str)
def test_relu_arguments_match_keras(kwargs, backend):
    keras = keras_module()
    want = np.asarray(keras.activations.relu(X, **kwargs))
    np.testing.assert_allclose(to_numpy(activations.relu(X, **kwargs)), want, rtol=1e-6, atol=1e-6)


def test_activation_arguments_match_keras():
    keras = keras_module()
    cases = [("softmax", dict(axis=0)), ("log_softmax", dict(axis=0)), ("elu", dict(alpha=0.3)),
             ("gelu", dict(approximate=True)), ("leaky_relu", dict(negative_slope=0.05)),
             ("celu", dict(alpha=2.0)), ("glu", dict(axis=0)), ("softmax", dict(axis=(0, 1)))]
    for name, kwargs in cases:
        want = np.asarray(getattr(keras.activations, name)(X[:2], **kwargs))
        got = to_numpy(getattr(activations, name)(X[:2], **kwargs))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"{name}{kwargs}")


def _sparsemax_reference(z):
    """Martins & Astudillo (2016): project each row onto the probability simplex."""
    out = np.zeros_like(z)
    for i, row in enumerate(z):
        s = np.sort(row)[::-1]
        k = np.arange(1, len(s) + 1)
        support = 1 + k * s > np.cumsum(s)
        kz = k[support][-1]
        tau = (np.cumsum(s)[kz - 1] - 1) / kz
        out[i] = np.maximum(row - tau, 0)
    return out


def test_sparsemax_hand_computed(backend):
    # Keras 3.15's sparsemax returns all zeros for these inputs (sums must be 1), so the
    # reference is the published algorithm.
    got = to_numpy(activations.get("sparsemax")(X))
    np.testing.assert_allclose(got, _sparsemax_reference(X.astype(np.float64)), atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-5)


def _orthogonal_reference(w, factor, mode):
    v = w if mode == "rows" else w.T
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    gram = v @ v.T
    n = gram.shape[0]
    return factor * 0.5 * np.abs(gram * (1 - np.eye(n))).sum() / (n * (n - 1) / 2)


def test_orthogonal_regularizer_hand_computed(backend):
    # Keras's numpy-input path normalises the wrong axis for mode="columns"
    # (numerical_utils.normalize turns axis=0 into -1), so this checks the definition.
    for mode in ("rows", "columns"):
        got = float(to_numpy(regularizers.OrthogonalRegularizer(0.5, mode=mode)(W)))
        np.testing.assert_allclose(got, _orthogonal_reference(W.astype(np.float64), 0.5, mode),
                                   rtol=1e-5)
    assert float(to_numpy(regularizers.OrthogonalRegularizer(1.0)(np.eye(3, dtype="float32")))) == 0


def test_activation_get_serialize():
    assert activations.get(None) is activations.linear
    assert activations.get("swish") is activations.silu
    assert activations.serialize(activations.silu) == "silu"
    assert activations.serialize(activations.relu) == "relu"
    custom = lambda x: x  # noqa: E731
    assert activations.get(custom) is custom
    with pytest.raises(kbridge.KbridgeError):
        activations.get("nope")
    assert set(ACTIVATIONS) <= set(activations.__all__)
    keras = keras_module()
    from keras.src.activations import ALL_OBJECTS_DICT

    assert set(ALL_OBJECTS_DICT) <= set(activations.__all__)
    # activations are symbolic-friendly
    assert activations.gelu(kbridge.KerasTensor((None, 4))).shape == (None, 4)


def test_activation_layer_config_roundtrip():
    layer = kbridge.layers.Dense(2, activation="swish")
    assert layer.get_config()["activation"] == "silu"
    assert kbridge.layers.Dense.from_config(layer.get_config()).activation is activations.silu


# --- regularizers -----------------------------------------------------------------------
REGULARIZERS = [
    (lambda m: m.L1(0.3), "L1"), (lambda m: m.L2(0.2), "L2"),
    (lambda m: m.L1L2(l1=0.1, l2=0.4), "L1L2"),
    (lambda m: m.OrthogonalRegularizer(0.5, mode="rows"), "OrthogonalRegularizer"),
]


@pytest.mark.parametrize("i", range(len(REGULARIZERS)))
def test_regularizer_matches_keras(i, backend):
    keras = keras_module()
    make, cls_name = REGULARIZERS[i]
    want = float(np.asarray(make(keras.regularizers)(W)))
    ours = make(regularizers)
    np.testing.assert_allclose(float(to_numpy(ours(W))), want, rtol=1e-5)
    clone = regularizers.deserialize(regularizers.serialize(ours))
    assert type(clone).__name__ == cls_name and clone.get_config() == ours.get_config()
    # Keras's serialised form loads here
    keras_config = keras.regularizers.serialize(make(keras.regularizers))
    loaded = regularizers.deserialize(keras_config)
    np.testing.assert_allclose(float(to_numpy(loaded(W))), want, rtol=1e-5)


def test_regularizer_get_and_aliases():
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert isinstance(regularizers.get("l1_l2"), regularizers.L1L2)
    assert regularizers.l1 is regularizers.L1 and regularizers.l2 is regularizers.L2
    assert regularizers.get(None) is None
    assert regularizers.L2().get_config() == {"l2": 0.01}
    with pytest.raises(kbridge.KbridgeError):
        regularizers.L1(-1.0)
    with pytest.raises(kbridge.KbridgeError):
        regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(kbridge.KbridgeError):
        regularizers.get("nope")


# --- constraints ------------------------------------------------------------------------
CONSTRAINTS = [
    lambda m: m.MaxNorm(1.5, axis=0), lambda m: m.MaxNorm(1.0, axis=1),
    lambda m: m.MinMaxNorm(0.5, 1.2, rate=0.7, axis=0), lambda m: m.NonNeg(),
    lambda m: m.UnitNorm(axis=1),
]


@pytest.mark.parametrize("i", range(len(CONSTRAINTS)))
def test_constraint_matches_keras(i, backend):
    keras = keras_module()
    make = CONSTRAINTS[i]
    want = np.asarray(make(keras.constraints)(W))
    ours = make(constraints)
    np.testing.assert_allclose(to_numpy(ours(W)), want, rtol=1e-5, atol=1e-6)
    clone = constraints.deserialize(constraints.serialize(ours))
    assert type(clone) is type(ours) and clone.get_config() == ours.get_config()
    loaded = constraints.deserialize(keras.constraints.serialize(make(keras.constraints)))
    assert loaded.get_config() == ours.get_config()


def test_constraint_hand_computed():
    w = np.array([[3.0, 0.1], [4.0, 0.0]], "float32")  # column norms 5 and 0.1
    out = to_numpy(constraints.MaxNorm(2.0)(w))
    np.testing.assert_allclose(out, [[1.2, 0.1], [1.6, 0.0]], rtol=1e-5)
    np.testing.assert_allclose(to_numpy(constraints.NonNeg()(np.array([-1.0, 2.0]))), [0.0, 2.0])
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    assert constraints.max_norm is constraints.MaxNorm
    assert constraints.get(None) is None


# --- initializers -----------------------------------------------------------------------
SEEDED = ["RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling", "GlorotUniform",
          "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal"]


@pytest.mark.parametrize("name", SEEDED)
def test_initializer_same_values_on_every_backend(name, backend):
    """A seeded initializer gives bit-identical weights on every backend."""
    make = lambda: kbridge.layers.Dense(  # noqa: E731
        6, kernel_initializer=getattr(initializers, name)(seed=7))
    with kbridge.backend.use("numpy"):
        ref = make()
        ref.build((None, 5))
    with kbridge.backend.use(backend):
        layer = make()
        layer.build((None, 5))
    np.testing.assert_array_equal(layer.get_weights()[0], ref.get_weights()[0])


VARIANCE_CASES = [  # (scale, mode, distribution, shape)
    (1.0, "fan_in", "truncated_normal", (200, 300)),
    (2.0, "fan_out", "untruncated_normal", (150, 250)),
    (1.0, "fan_avg", "uniform", (200, 300)),
    (0.5, "fan_in", "uniform", (3, 3, 16, 32)),
    (1.0, "fan_avg", "truncated_normal", (3, 3, 16, 32)),
]


@pytest.mark.parametrize("case", VARIANCE_CASES, ids=str)
def test_variance_scaling_statistics(case):
    scale, mode, distribution, shape = case
    values = initializers.VarianceScaling(scale, mode, distribution, seed=3)(shape, "float32")
    receptive = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    want_std = math.sqrt(scale / fan)
    assert values.shape == shape and values.dtype == np.float32
    assert abs(values.mean()) < 0.05 * want_std * 10 / math.sqrt(values.size) * 10
    np.testing.assert_allclose(values.std(), want_std, rtol=0.03)
    if distribution == "uniform":
        assert np.abs(values).max() <= math.sqrt(3 * scale / fan) + 1e-6
    if distribution == "truncated_normal":
        assert np.abs(values).max() <= 2 * want_std / 0.87962566103423978 + 1e-6
    # Keras's own statistics for the same rule agree
    keras = keras_module()
    kvalues = np.asarray(keras.initializers.VarianceScaling(scale, mode, distribution, seed=3)(shape))
    np.testing.assert_allclose(values.std(), kvalues.std(), rtol=0.05)


def test_preset_initializers_match_keras_rules():
    keras = keras_module()
    shape = (120, 200)
    for name in ["GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
                 "LecunNormal"]:
        ours = getattr(initializers, name)(seed=1)(shape, "float32")
        theirs = np.asarray(getattr(keras.initializers, name)(seed=1)(shape))
        np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.05, err_msg=name)
    ortho = initializers.Orthogonal(seed=0)((6, 4), "float32")
    np.testing.assert_allclose(ortho.T @ ortho, np.eye(4), atol=1e-5)


def test_initializer_seed_reproducible_and_config():
    a = initializers.HeNormal(seed=5)((4, 4))
    b = initializers.HeNormal(seed=5)((4, 4))
    np.testing.assert_array_equal(a, b)
    init = initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=1)
    clone = initializers.deserialize(initializers.serialize(init))
    assert clone.get_config() == init.get_config()
