"""Normalisation and attention layers: every backend vs numpy, Keras 3, hand-written numpy."""

import numpy as np
import pytest

import kbridge
from tests.layers.harness import check_against_keras, check_layer, keras_module, run_layer

L = kbridge.layers
rng = np.random.default_rng(1)


def rand(*shape):
    return rng.standard_normal(shape).astype("float32")


X = rand(3, 4, 6)

NORM_CASES = {
    "batchnorm": ("BatchNormalization", dict(momentum=0.9)),
    "batchnorm_axis1_noscale": ("BatchNormalization", dict(axis=1, scale=False)),
    "layernorm": ("LayerNormalization", dict()),
    "layernorm_axes": ("LayerNormalization", dict(axis=[1, 2], center=False)),
    "layernorm_rms_scaling": ("LayerNormalization", dict(rms_scaling=True)),
    "groupnorm": ("GroupNormalization", dict(groups=3)),
    "groupnorm_instance_axis1": ("GroupNormalization", dict(groups=-1, axis=1)),
    "unitnorm": ("UnitNormalization", dict(axis=[1, 2])),
    "rmsnorm": ("RMSNormalization", dict()),
}


def _randomize_weights(layer):
    layer.set_weights([rand(*w.shape) ** 2 + 0.5 for w in layer.get_weights()])


@pytest.mark.parametrize("case", sorted(NORM_CASES))
def test_norm_on_every_backend(case, backend):
    name, kwargs = NORM_CASES[case]
    check_layer(lambda: getattr(L, name)(**kwargs), X, backend)
    check_layer(lambda: getattr(L, name)(**kwargs), X, backend,
                call_kwargs={"training": True} if name == "BatchNormalization" else None)


@pytest.mark.parametrize("case", sorted(NORM_CASES))
@pytest.mark.parametrize("training", [False, True])
def test_norm_against_keras(case, training):
    name, kwargs = NORM_CASES[case]
    keras = keras_module()
    klayer = getattr(keras.layers, name)(**kwargs)
    klayer(X)
    weights = [rand(*np.shape(w)) ** 2 + 0.5 for w in klayer.get_weights()]
    klayer.set_weights(weights)
    call = {"training": training} if name == "BatchNormalization" else {}
    expected = np.asarray(klayer(X, **call))
    with kbridge.backend.use("numpy"):
        layer = getattr(L, name)(**kwargs)
        layer(X)
        layer.set_weights(weights)
        got = np.asarray(layer(X, **call))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # moving statistics (or nothing) updated the same way
    for a, b in zip(layer.get_weights(), klayer.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
    ours = set(layer.get_config()) - {"dtype"}
    assert ours == set(klayer.get_config()) - {"dtype"}


def test_batchnorm_moving_stats_by_hand(backend):
    x = rand(8, 3) * 2 + 1
    with kbridge.backend.use(backend):
        bn = L.BatchNormalization(momentum=0.8, epsilon=1e-3)
        y_infer = np.asarray(kbridge.ops.convert_to_numpy(bn(x)))  # training=None: no update
        assert [w.tolist() for w in bn.get_weights()[2:]] == [[0.0] * 3, [1.0] * 3]
        np.testing.assert_allclose(y_infer, x / np.sqrt(1 + 1e-3), rtol=1e-5)
        y = np.asarray(kbridge.ops.convert_to_numpy(bn(x, training=True)))
        mean, var = x.mean(0), x.var(0)
        np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
        moving_mean, moving_var = bn.get_weights()[2:]
        np.testing.assert_allclose(moving_mean, 0.2 * mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(moving_var, 0.8 + 0.2 * var, rtol=1e-5)
        bn(x, training=False)
        np.testing.assert_allclose(bn.get_weights()[2], moving_mean)
        assert [v.name for v in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
        bn.trainable = False  # frozen: inference statistics even with training=True
        y_frozen = kbridge.ops.convert_to_numpy(bn(x, training=True))
        np.testing.assert_allclose(bn.get_weights()[2], moving_mean)
        np.testing.assert_allclose(
            y_frozen, (x - moving_mean) / np.sqrt(moving_var + 1e-3), rtol=1e-4, atol=1e-5)
    assert [v.name for v in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]


def test_batchnorm_mask_against_keras():
    keras = keras_module()
    x = rand(2, 5, 3)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    k = keras.layers.BatchNormalization(momentum=0.5)
    expected = np.asarray(k(x, training=True, mask=mask))
    with kbridge.backend.use("numpy"):
        bn = L.BatchNormalization(momentum=0.5)
        got = np.asarray(bn(x, training=True, mask=mask))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    for a, b in zip(bn.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


# --- attention ---------------------------------------------------------------------------

Q, V = rand(2, 4, 6), rand(2, 5, 3)


def _softmax_attention(q, k, v, mask=None):
    """Hand-written reference: softmax(q k^T) v over the last two axes, masked positions out."""
    scores = np.einsum("...td,...sd->...ts", q, k).astype(np.float64)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(-1, keepdims=True)
    return weights @ v, weights


def _mha_reference(layer, q, v, mask, k=None):
    k = v if k is None else k
    wq, bq, wk, bk, wv, bv, wo, bo = layer.get_weights()
    qp = np.einsum("btd,dhk->bhtk", q, wq) + bq[None, :, None]
    kp = np.einsum("bsd,dhk->bhsk", k, wk) + bk[None, :, None]
    vp = np.einsum("bsd,dhk->bhsk", v, wv) + bv[None, :, None]
    out, weights = _softmax_attention(qp / np.sqrt(wq.shape[-1]), kp, vp,
                                      None if mask is None else mask[:, None])
    return np.einsum("bhtk,hkd->btd", out, wo) + bo, weights


def test_mha_weights_and_masks_by_hand(backend):
    mask = np.ones((2, 4, 5), bool)
    mask[0, :, 3:] = False  # padding of the first example's values
    causal = np.tril(np.ones((4, 5), bool))[None]
    with kbridge.backend.use(backend):
        mha = L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")
        out = mha(Q, V, attention_mask=mask)
        assert [(v.path, v.shape) for v in mha.weights] == [
            ("mha/query/kernel", (6, 2, 3)), ("mha/query/bias", (2, 3)),
            ("mha/key/kernel", (3, 2, 3)), ("mha/key/bias", (2, 3)),
            ("mha/value/kernel", (3, 2, 3)), ("mha/value/bias", (2, 3)),
            ("mha/attention_output/kernel", (2, 3, 6)), ("mha/attention_output/bias", (6,))]
        mha.set_weights([rand(*w.shape) for w in mha.get_weights()])
        got = kbridge.ops.convert_to_numpy(mha(Q, V, attention_mask=mask))
        expected, _ = _mha_reference(mha, Q, V, mask)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        # padding + causal, and the scores returned
        got, scores = mha(Q, V, attention_mask=mask, use_causal_mask=True,
                          return_attention_scores=True)
        expected, weights = _mha_reference(mha, Q, V, mask & causal)
        np.testing.assert_allclose(kbridge.ops.convert_to_numpy(got), expected, rtol=1e-4,
                                   atol=1e-5)
        np.testing.assert_allclose(kbridge.ops.convert_to_numpy(scores), weights, rtol=1e-4,
                                   atol=1e-6)
        # causal only (the fused route) and value_mask give the same as explicit masks
        got = mha(Q, V, use_causal_mask=True)
        np.testing.assert_allclose(kbridge.ops.convert_to_numpy(got),
                                   _mha_reference(mha, Q, V, np.broadcast_to(causal, mask.shape))[0],
                                   rtol=1e-4, atol=1e-5)
        got = mha(Q, V, value_mask=mask[:, 0])
        np.testing.assert_allclose(kbridge.ops.convert_to_numpy(got),
                                   _mha_reference(mha, Q, V, mask)[0], rtol=1e-4, atol=1e-5)
    assert tuple(out.shape) == (2, 4, 6)


ATTN_CASES = {
    "mha_cross": (lambda m: m.MultiHeadAttention(2, 3), {"value": V}),
    "mha_key_value_dim_output_shape": (
        lambda m: m.MultiHeadAttention(3, 2, value_dim=4, output_shape=5, use_bias=False),
        {"value": V, "key": rand(2, 5, 2)}),
    "mha_causal_scores": (lambda m: m.MultiHeadAttention(2, 4),
                          {"value": Q, "use_causal_mask": True,
                           "return_attention_scores": True}),
    "mha_gate": (lambda m: m.MultiHeadAttention(2, 3, use_gate=True), {"value": V}),
    "gqa": (lambda m: m.GroupQueryAttention(3, 4, 2), {"value": V}),
    "gqa_causal_scores": (lambda m: m.GroupQueryAttention(2, 4, 1, use_bias=False),
                          {"value": Q, "use_causal_mask": True,
                           "return_attention_scores": True}),
}


@pytest.mark.parametrize("case", sorted(ATTN_CASES))
def test_attention_on_every_backend(case, backend):
    make, kwargs = ATTN_CASES[case]
    check_layer(lambda: make(L), Q, backend, rtol=1e-4, call_kwargs=kwargs)


def _assert_matches_keras(make, inputs, kwargs, random_weights=False):
    """``make(L)`` on numpy, given the weights of ``make(keras.layers)`` (random ones with
    ``random_weights``), gives Keras's outputs; returns both layers."""
    keras = keras_module()
    klayer = make(keras.layers)
    klayer(inputs, **kwargs)
    if random_weights:
        klayer.set_weights([rand(*np.shape(w)) for w in klayer.get_weights()])
    expected = klayer(inputs, **kwargs)
    with kbridge.backend.use("numpy"):
        layer = make(L)
        layer(inputs, **kwargs)
        assert [w.shape for w in layer.get_weights()] == [np.shape(w) for w in
                                                          klayer.get_weights()]
        layer.set_weights([np.asarray(w) for w in klayer.get_weights()])
        got = layer(inputs, **kwargs)
    for a, b in zip(got if isinstance(got, tuple) else [got],
                    expected if isinstance(expected, tuple) else [expected]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    return layer, klayer


@pytest.mark.parametrize("case", sorted(ATTN_CASES))
def test_attention_against_keras(case):
    make, kwargs = ATTN_CASES[case]
    layer, klayer = _assert_matches_keras(make, Q, kwargs)
    assert set(layer.get_config()) - {"dtype"} == set(klayer.get_config()) - {"dtype"}


def test_mha_attention_axes_against_keras():
    keras = keras_module()
    x = rand(2, 3, 4, 5)
    klayer = keras.layers.MultiHeadAttention(2, 3, attention_axes=(1, 2))
    expected = np.asarray(klayer(x, x))
    with kbridge.backend.use("numpy"):
        layer = L.MultiHeadAttention(2, 3, attention_axes=(1, 2))
        layer(x, x)
        layer.set_weights([np.asarray(w) for w in klayer.get_weights()])
        np.testing.assert_allclose(np.asarray(layer(x, x)), expected, rtol=1e-4, atol=1e-5)


MASK = [np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool), np.array([[1, 1, 1, 0, 0], [1] * 5], bool)]
K3 = rand(2, 5, 6)
SIMPLE_CASES = {
    "dot": (lambda m: m.Attention(), [Q, V[..., :1].repeat(6, -1)], {}),
    "dot_scale_key_mask": (lambda m: m.Attention(use_scale=True), [Q, V, K3],
                           {"mask": MASK}),
    "concat_causal": (lambda m: m.Attention(score_mode="concat", use_scale=True), [Q, V, K3],
                      {"use_causal_mask": True, "return_attention_scores": True}),
    "additive": (lambda m: m.AdditiveAttention(), [Q, V, K3], {"mask": MASK}),
    "additive_noscale_causal": (lambda m: m.AdditiveAttention(use_scale=False), [Q, V, K3],
                                {"use_causal_mask": True}),
}


@pytest.mark.parametrize("case", sorted(SIMPLE_CASES))
def test_simple_attention_on_every_backend(case, backend):
    make, inputs, kwargs = SIMPLE_CASES[case]
    check_layer(lambda: make(L), inputs, backend, rtol=1e-4, call_kwargs=kwargs)


@pytest.mark.parametrize("case", sorted(SIMPLE_CASES))
def test_simple_attention_against_keras(case):
    make, inputs, kwargs = SIMPLE_CASES[case]
    layer, klayer = _assert_matches_keras(make, inputs, kwargs, random_weights=True)
    assert layer.get_config().keys() == klayer.get_config().keys()


def test_attention_masks_by_hand(backend):
    q, v = Q, V
    with kbridge.backend.use(backend):
        out, weights = L.Attention()([q, v[..., :1].repeat(6, -1), v[..., :1].repeat(6, -1)],
                                     mask=MASK, return_attention_scores=True)
    vv = v[..., :1].repeat(6, -1)
    expected, w = _softmax_attention(q, vv, vv, MASK[1][:, None, :])
    expected = np.where(MASK[0][..., None], expected, 0)
    np.testing.assert_allclose(kbridge.ops.convert_to_numpy(out), expected, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(kbridge.ops.convert_to_numpy(weights), w, rtol=1e-4, atol=1e-6)


def test_symbolic_mha():
    q, v = kbridge.Input((4, 6)), kbridge.Input((5, 3))
    mha = L.MultiHeadAttention(2, 3, output_shape=(7,))
    assert tuple(mha(q, v).shape) == (None, 4, 7)
    assert len(mha.weights) == 8


@pytest.mark.parametrize("backend", kbridge.backend.available())
def test_attention_with_dropout_at_inference_takes_the_fused_op_with_the_same_numbers(backend):
    # Inference skips dropout, so the fused op runs; a fully masked query row must still get
    # the explicit route's zero weights (the route return_attention_scores=True forces).
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 4, 8)).astype("float32")
    v = rng.normal(size=(2, 5, 8)).astype("float32")
    mask = rng.random((2, 4, 5)) > 0.5
    mask[0, 1] = False
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(0)
        mha = kbridge.layers.MultiHeadAttention(2, 4, dropout=0.1,
                                                bias_initializer="ones")
        fused = kbridge.ops.convert_to_numpy(mha(q, v, attention_mask=mask))
        explicit, _ = mha(q, v, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(fused, kbridge.ops.convert_to_numpy(explicit), rtol=1e-5,
                               atol=1e-6)
    # Zero weights: the row is the output projection's bias alone (ones), not a uniform mix.
    np.testing.assert_allclose(fused[0, 1], np.ones(8), rtol=1e-6)
