"""Recurrent layers: every backend against numpy, Keras 3 with the same weights, and plain
numpy reference loops for the gate orders, masking and the Bidirectional merge."""

import numpy as np
import pytest

import kbridge
from tests.layers.harness import check_against_keras, check_layer, keras_module, to_numpy

L = kbridge.layers
RNG = np.random.RandomState(0)
X = RNG.randn(2, 5, 3).astype("float32")
MASK = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], bool)


def _flat(value):
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _flat(v)]
    return [np.asarray(to_numpy(value))]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _random_weights(layer, seed=1):
    rng = np.random.RandomState(seed)
    return [rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in layer.get_weights()]


def _run(make, x, backend, weights=None, **call_kwargs):
    with kbridge.backend.use(backend):
        layer = make()
        layer(x, **call_kwargs)
        if weights is not None:
            layer.set_weights(weights)
        return layer, _flat(layer(x, **call_kwargs))


def _check_keras_multi(make, keras_make, x, backend, **call_kwargs):
    """Like check_against_keras, for layers returning several tensors (states)."""
    keras = keras_module()
    klayer = keras_make(keras)
    expected = _flat([np.asarray(t) for t in _flat_keras(klayer(x, **call_kwargs))])
    layer, got = _run(make, x, backend, [np.asarray(w) for w in klayer.get_weights()],
                      **call_kwargs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def _flat_keras(value):
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _flat_keras(v)]
    return [value]


@pytest.fixture
def numpy_backend():
    """Backend-independent checks run on numpy: cheap (no JAX compilation per call)."""
    with kbridge.backend.use("numpy"):
        yield


# --- numpy references -----------------------------------------------------------------------
def ref_lstm(x, kernel, recurrent, bias, mask=None):
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units), np.float64)
    c = np.zeros_like(h)
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i = _sigmoid(z[:, :units])
        f = _sigmoid(z[:, units:2 * units])
        g = np.tanh(z[:, 2 * units:3 * units])
        o = _sigmoid(z[:, 3 * units:])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        if mask is not None:
            m = mask[:, t:t + 1]
            h_new, c_new = np.where(m, h_new, h), np.where(m, c_new, c)
        h, c = h_new, c_new
        outs.append(h)
    return np.stack(outs, 1), h, c


def ref_gru(x, kernel, recurrent, bias, reset_after):
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units), np.float64)
    outs = []
    for t in range(x.shape[1]):
        xb = x[:, t] @ kernel + (bias[0] if reset_after else bias)
        x_z, x_r, x_h = xb[:, :units], xb[:, units:2 * units], xb[:, 2 * units:]
        if reset_after:
            rb = h @ recurrent + bias[1]
            z = _sigmoid(x_z + rb[:, :units])
            r = _sigmoid(x_r + rb[:, units:2 * units])
            hh = np.tanh(x_h + r * rb[:, 2 * units:])
        else:
            rb = h @ recurrent[:, :2 * units]
            z = _sigmoid(x_z + rb[:, :units])
            r = _sigmoid(x_r + rb[:, units:])
            hh = np.tanh(x_h + (r * h) @ recurrent[:, 2 * units:])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, 1), h


def ref_simple(x, kernel, recurrent, bias, mask=None, backwards=False):
    h = np.zeros((x.shape[0], recurrent.shape[0]), np.float64)
    outs = []
    steps = range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])
    for t in steps:
        new = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
        out = new
        if mask is not None:
            m = mask[:, t:t + 1]
            out = np.where(m, new, h)  # masked step: previous output and state
            new = np.where(m, new, h)
        h = new
        outs.append(out)
    return np.stack(outs, 1), h


# --- every backend against numpy, config round trip -----------------------------------------
ALL_BACKENDS = [
    ("simple_back_mask", lambda: L.SimpleRNN(4, return_sequences=True, go_backwards=True),
     {"mask": MASK}),
    ("lstm_state_mask", lambda: L.LSTM(4, return_state=True), {"mask": MASK}),
    ("gru", lambda: L.GRU(4), {}),
    ("gru_v1_mask", lambda: L.GRU(4, reset_after=False, return_sequences=True), {"mask": MASK}),
    ("stacked_list_mask", lambda: L.RNN([L.SimpleRNNCell(3), L.LSTMCell(2)],
                                        return_sequences=True), {"mask": MASK}),
    ("bidi_concat_mask", lambda: L.Bidirectional(L.LSTM(3, return_sequences=True)),
     {"mask": MASK}),
    ("bidi_none_state", lambda: L.Bidirectional(L.SimpleRNN(3, return_state=True),
                                                merge_mode=None), {}),
    ("time_distributed", lambda: L.TimeDistributed(L.Dense(2)), {}),
]
# More configurations, checked on numpy only (config round trip; the ops are the same).
NUMPY_ONLY = [
    ("simple", lambda: L.SimpleRNN(4), {}),
    ("lstm_seq", lambda: L.LSTM(4, return_sequences=True), {}),
    ("rnn_cell", lambda: L.RNN(L.SimpleRNNCell(3), return_sequences=True), {}),
    ("stacked_state", lambda: L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]),
                                    return_state=True), {}),
    ("bidi_sum", lambda: L.Bidirectional(L.GRU(3), merge_mode="sum"), {}),
    ("bidi_backward_layer", lambda: L.Bidirectional(
        L.LSTM(3), backward_layer=L.LSTM(3, go_backwards=True)), {}),
]


@pytest.mark.parametrize("make, kwargs", [c[1:] for c in ALL_BACKENDS],
                         ids=[c[0] for c in ALL_BACKENDS])
def test_layers_match_numpy_backend(make, kwargs, backend):
    check_layer(make, X, backend, call_kwargs=kwargs or None)


@pytest.mark.parametrize("make, kwargs", [c[1:] for c in NUMPY_ONLY],
                         ids=[c[0] for c in NUMPY_ONLY])
def test_more_configurations_numpy(make, kwargs):
    check_layer(make, X, "numpy", call_kwargs=kwargs or None)


# --- Keras 3 with the same weights -----------------------------------------------------------
@pytest.mark.parametrize("name, args", [
    ("SimpleRNN", dict(units=4, return_sequences=True)),
    ("SimpleRNN", dict(units=4, go_backwards=True)),
    ("LSTM", dict(units=4)),
    ("LSTM", dict(units=4, return_sequences=True, go_backwards=True)),
    ("GRU", dict(units=4, return_sequences=True)),
    ("GRU", dict(units=4, reset_after=False)),
])
@pytest.mark.parametrize("masked", [False, True])
def test_against_keras(name, args, masked):
    kwargs = {"mask": MASK} if masked else None
    check_against_keras(lambda: getattr(L, name)(**args),
                        lambda keras: getattr(keras.layers, name)(**args), X, "numpy",
                        call_kwargs=kwargs)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_against_keras(merge_mode):
    _check_keras_multi(
        lambda: L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode=merge_mode),
        lambda k: k.layers.Bidirectional(k.layers.LSTM(3, return_sequences=True),
                                         merge_mode=merge_mode), X, "numpy", mask=MASK)


@pytest.mark.parametrize("make", [
    lambda m: m.layers.LSTM(3, return_sequences=True, return_state=True),
    lambda m: m.layers.GRU(3, return_state=True),
    lambda m: m.layers.Bidirectional(m.layers.GRU(3, return_state=True)),
    lambda m: m.layers.RNN(m.layers.StackedRNNCells([m.layers.LSTMCell(3), m.layers.GRUCell(2)]),
                           return_state=True, return_sequences=True),
    lambda m: m.layers.TimeDistributed(m.layers.Dense(2)),
], ids=["lstm_state", "gru_state", "bidi_state", "stacked", "time_distributed"])
@pytest.mark.parametrize("backend_name", ["numpy", "torch"])
def test_states_against_keras(make, backend_name):
    if backend_name not in kbridge.backend.available():
        pytest.skip(f"{backend_name} is not installed")
    _check_keras_multi(lambda: make(kbridge), make, X, backend_name)


def test_weight_names_and_shapes(numpy_backend):
    layer = L.Bidirectional(L.GRU(4, reset_after=True), name="bidi")
    layer(X)
    assert [(w.path.split("/", 1)[1].split("/", 1)[1], w.shape) for w in layer.weights] == [
        ("gru_cell/kernel", (3, 12)), ("gru_cell/recurrent_kernel", (4, 12)),
        ("gru_cell/bias", (2, 12))] * 2
    v1 = L.GRU(4, reset_after=False)
    v1(X)
    assert [w.shape for w in v1.weights] == [(3, 12), (4, 12), (12,)]
    lstm = L.LSTM(2)
    lstm(X)
    # unit_forget_bias: ones for the forget gate only
    np.testing.assert_array_equal(lstm.get_weights()[2], [0, 0, 1, 1, 0, 0, 0, 0])


# --- hand-written references ----------------------------------------------------------------
def test_lstm_gate_order(backend):
    make = lambda: L.LSTM(4, return_sequences=True, return_state=True)  # noqa: E731
    layer, _ = _run(make, X, "numpy")
    weights = _random_weights(layer)
    _, (seq, h, c) = _run(make, X, backend, weights)
    r_seq, r_h, r_c = ref_lstm(X.astype(np.float64), *weights)
    np.testing.assert_allclose(seq, r_seq, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, r_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, r_c, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gate_order(reset_after, backend):
    make = lambda: L.GRU(4, return_sequences=True, reset_after=reset_after)  # noqa: E731
    layer, _ = _run(make, X, "numpy")
    weights = _random_weights(layer)
    _, (seq,) = _run(make, X, backend, weights)
    r_seq, _ = ref_gru(X.astype(np.float64), *weights, reset_after=reset_after)
    np.testing.assert_allclose(seq, r_seq, rtol=1e-5, atol=1e-5)


def test_masked_steps_keep_previous_state(backend):
    make = lambda: L.LSTM(3, return_sequences=True, return_state=True)  # noqa: E731
    layer, _ = _run(make, X, "numpy")
    weights = _random_weights(layer, seed=3)
    _, (seq, h, c) = _run(make, X, backend, weights, mask=MASK)
    r_seq, r_h, r_c = ref_lstm(X.astype(np.float64), *weights, mask=MASK)
    np.testing.assert_allclose(seq, r_seq, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, r_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, r_c, rtol=1e-5, atol=1e-5)
    # a masked step repeats the previous output exactly
    np.testing.assert_array_equal(seq[0, 2], seq[0, 1])
    np.testing.assert_array_equal(seq[0, 4], seq[0, 3])
    np.testing.assert_array_equal(seq[1, 0], np.zeros(3))


def test_bidirectional_merge_reference(backend):
    make = lambda mode: (lambda: L.Bidirectional(  # noqa: E731
        L.SimpleRNN(3, return_sequences=True), merge_mode=mode))
    layer, _ = _run(make(None), X, "numpy")
    weights = _random_weights(layer, seed=5)
    fw, _ = ref_simple(X.astype(np.float64), *weights[:3], mask=None)
    bw, _ = ref_simple(X.astype(np.float64), *weights[3:], backwards=True)
    bw = bw[:, ::-1]  # the backward sequence, back in input order
    expected = {"concat": np.concatenate([fw, bw], -1), "sum": fw + bw, "mul": fw * bw,
                "ave": (fw + bw) / 2}
    if backend != "numpy":  # the merge arithmetic is plain ops: one mode is enough there
        expected = {"concat": expected["concat"]}
    for mode, value in expected.items():
        _, (got,) = _run(make(mode), X, backend, weights)
        np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-5)
    _, (got_f, got_b) = _run(make(None), X, backend, weights)
    np.testing.assert_allclose(got_f, fw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_b, bw, rtol=1e-5, atol=1e-5)


def test_go_backwards_with_mask_reference(backend):
    make = lambda: L.SimpleRNN(3, return_sequences=True, go_backwards=True)  # noqa: E731
    layer, _ = _run(make, X, "numpy")
    weights = _random_weights(layer, seed=7)
    _, (seq,) = _run(make, X, backend, weights, mask=MASK)
    ref, _ = ref_simple(X.astype(np.float64), *weights, mask=MASK, backwards=True)
    np.testing.assert_allclose(seq, ref, rtol=1e-5, atol=1e-5)


def test_initial_state_and_stateful(numpy_backend):
    layer = L.LSTM(3, return_state=True)
    h0 = np.full((2, 3), 0.5, "float32")
    c0 = np.full((2, 3), -0.5, "float32")
    out, h, c = layer(X, initial_state=[h0, c0])
    weights = layer.get_weights()
    _, r_h, _ = ref_lstm_with_state(X, weights, h0, c0)
    np.testing.assert_allclose(to_numpy(h), r_h, rtol=1e-5, atol=1e-5)

    stateful = L.SimpleRNN(3, stateful=True)
    first = to_numpy(stateful(X[:, :2]))
    second = to_numpy(stateful(X[:, 2:]))
    plain = L.SimpleRNN(3)
    plain(X)
    plain.set_weights(stateful.get_weights())
    np.testing.assert_allclose(second, to_numpy(plain(X)), rtol=1e-5, atol=1e-5)
    stateful.reset_state()
    np.testing.assert_allclose(to_numpy(stateful(X[:, :2])), first, rtol=1e-5, atol=1e-5)


def ref_lstm_with_state(x, weights, h0, c0):
    kernel, recurrent, bias = weights
    units = recurrent.shape[0]
    h, c = h0.astype(np.float64), c0.astype(np.float64)
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f = _sigmoid(z[:, :units]), _sigmoid(z[:, units:2 * units])
        c = f * c + i * np.tanh(z[:, 2 * units:3 * units])
        h = _sigmoid(z[:, 3 * units:]) * np.tanh(c)
    return None, h, c


def test_symbolic_shapes(numpy_backend):
    inputs = kbridge.Input((None, 3))
    assert L.LSTM(4)(inputs).shape == (None, 4)
    out, h, c = L.LSTM(4, return_sequences=True, return_state=True)(inputs)
    assert (out.shape, h.shape, c.shape) == ((None, None, 4), (None, 4), (None, 4))
    assert L.Bidirectional(L.GRU(4, return_sequences=True))(inputs).shape == (None, None, 8)
    f, b = L.Bidirectional(L.GRU(4), merge_mode=None)(inputs)
    assert f.shape == b.shape == (None, 4)
    assert L.TimeDistributed(L.Dense(2))(inputs).shape == (None, None, 2)
    model = kbridge.Model(inputs, L.GRU(2)(inputs))
    assert to_numpy(model(X)).shape == (2, 2)


def test_config_matches_keras_keys():
    keras = keras_module()
    for name in ("SimpleRNN", "LSTM", "GRU"):
        ours = set(getattr(L, name)(3).get_config())
        theirs = set(getattr(keras.layers, name)(3).get_config())
        assert ours == theirs, (name, ours ^ theirs)
    for name in ("SimpleRNNCell", "LSTMCell", "GRUCell"):
        ours = set(getattr(L, name)(3).get_config())
        theirs = set(getattr(keras.layers, name)(3).get_config())
        assert ours == theirs, (name, ours ^ theirs)


def test_errors():
    with pytest.raises(ValueError):
        L.Bidirectional(L.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2))
