"""ConvLSTM, audio spectrograms, adaptive pooling, SpectralNormalization and
ReversibleEmbedding: every backend against numpy (with a config round trip) and against
Keras 3 given the same weights; small fit smokes on the trainable backends."""

import numpy as np
import pytest

import kbridge
from kbridge.errors import ArgumentError
from tests.layers.harness import check_against_keras, check_layer, keras_module, to_numpy

L = kbridge.layers
RNG = np.random.RandomState(0)


def rand(*shape):
    return RNG.randn(*shape).astype("float32")


SEQ2D, SEQ1D, SEQ3D, SEQ2D_CF = rand(2, 3, 5, 6, 2), rand(2, 4, 7, 3), rand(1, 3, 4, 4, 4, 2), \
    rand(2, 3, 2, 5, 6)
AUDIO, SIGNALS = rand(2, 1000), rand(2, 300, 2)

# (layer name, constructor kwargs, input, tolerance)
CASES = [
    ("ConvLSTM2D", {"filters": 3, "kernel_size": 3, "padding": "same",
                    "return_sequences": True}, SEQ2D, 1e-5),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 2, "strides": 2, "return_state": True},
     SEQ1D, 1e-5),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": (2, 3), "go_backwards": True,
                    "data_format": "channels_first", "unit_forget_bias": False}, SEQ2D_CF, 1e-5),
    ("ConvLSTM3D", {"filters": 2, "kernel_size": 2, "use_bias": False}, SEQ3D, 1e-5),
    ("MelSpectrogram", {"fft_length": 128, "sequence_stride": 64, "num_mel_bins": 16},
     AUDIO, 1e-4),
    ("MelSpectrogram", {"fft_length": 64, "sequence_length": 48, "sequence_stride": 32,
                        "num_mel_bins": 8, "power_to_db": False, "mag_exp": 1.0,
                        "window": "hamming", "sampling_rate": 8000, "min_freq": 100.0,
                        "max_freq": 3000}, AUDIO, 1e-4),
    ("STFTSpectrogram", {"frame_length": 32, "frame_step": 16}, SIGNALS, 1e-4),
    ("STFTSpectrogram", {"mode": "psd", "frame_length": 30, "fft_length": 64,
                         "padding": "same", "expand_dims": True}, SIGNALS, 1e-4),
    ("STFTSpectrogram", {"mode": "stft", "frame_length": 16, "scaling": "spectrum",
                         "periodic": True, "window": "hamming"}, SIGNALS, 1e-4),
    ("STFTSpectrogram", {"mode": "magnitude", "frame_length": 16, "window": None,
                         "scaling": None, "data_format": "channels_first"},
     SIGNALS.transpose(0, 2, 1).copy(), 1e-4),
    ("AdaptiveAveragePooling1D", {"output_size": 4}, rand(2, 10, 3), 1e-6),
    ("AdaptiveAveragePooling2D", {"output_size": (3, 4)}, rand(2, 7, 9, 2), 1e-6),
    ("AdaptiveAveragePooling3D", {"output_size": 3, "data_format": "channels_first"},
     rand(1, 2, 5, 6, 7), 1e-6),
    ("AdaptiveMaxPooling1D", {"output_size": 3, "data_format": "channels_first"},
     rand(2, 3, 10), 1e-6),
    ("AdaptiveMaxPooling2D", {"output_size": 2}, rand(2, 7, 9, 2), 1e-6),
    ("AdaptiveMaxPooling3D", {"output_size": (2, 3, 4)}, rand(1, 5, 6, 7, 2), 1e-6),
    ("ReversibleEmbedding", {"input_dim": 7, "output_dim": 3, "mask_zero": True},
     np.array([[1, 2, 0], [6, 4, 4]]), 1e-6),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


@pytest.mark.parametrize("name, kwargs, x, tol", CASES, ids=IDS)
def test_matches_numpy_backend_and_keras(name, kwargs, x, tol, backend):
    def make():
        return getattr(L, name)(**kwargs)

    check_layer(make, x, backend, rtol=tol, atol=tol)
    check_against_keras(make, lambda keras: getattr(keras.layers, name)(**kwargs), x, backend,
                        rtol=tol, atol=tol)


@pytest.mark.parametrize("kwargs", [{}, {"tie_weights": False, "logit_soft_cap": 2.0}],
                         ids=["tied", "untied_soft_cap"])
def test_reversible_embedding_reverse_matches_keras(kwargs, backend):
    hidden = rand(2, 3, 4)

    def make():
        return L.ReversibleEmbedding(9, 4, **kwargs)

    check_layer(make, hidden, backend, call_kwargs={"reverse": True})
    check_against_keras(make, lambda keras: keras.layers.ReversibleEmbedding(9, 4, **kwargs),
                        hidden, backend, call_kwargs={"reverse": True})
    if kwargs.get("tie_weights", True):  # reverse logits are x @ embeddings.T
        layer = make()
        layer(np.array([[1]]))
        expected = hidden @ to_numpy(layer.embeddings).T
        np.testing.assert_allclose(to_numpy(layer(hidden, reverse=True)), expected, rtol=1e-5,
                                   atol=1e-6)


def test_spectral_normalization_updates_like_keras(backend):
    keras = keras_module()
    x = rand(2, 4)
    reference = keras.layers.SpectralNormalization(keras.layers.Dense(3), power_iterations=2)
    reference(x)
    start = [np.asarray(w) for w in reference.get_weights()]
    expected_train = np.asarray(reference(x, training=True))
    expected_weights = [np.asarray(w) for w in reference.get_weights()]
    expected_infer = np.asarray(reference(x))

    layer = L.SpectralNormalization(L.Dense(3), power_iterations=2)
    layer(x)
    assert [(w.path.split("/")[-1], w.trainable) for w in layer.weights] == [
        ("kernel", True), ("vector_u", False), ("bias", True)]
    layer.set_weights(start)
    np.testing.assert_allclose(to_numpy(layer(x, training=True)), expected_train, rtol=1e-5,
                               atol=1e-6)
    for got, want in zip(layer.get_weights(), expected_weights):  # u and kernel updated
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(layer(x)), expected_infer, rtol=1e-5, atol=1e-6)
    # the largest singular value of the normalised kernel approaches 1 (a kernel with well
    # separated singular values 3, 1, 0.5 makes the power iteration converge fast)
    q, _ = np.linalg.qr(RNG.randn(4, 4))
    kernel = (q[:, :3] * np.array([3.0, 1.0, 0.5])).astype("float32")
    layer.set_weights([kernel, np.full((1, 3), 0.5, "float32"), np.zeros(3, "float32")])
    for _ in range(5):
        layer(x, training=True)
    assert abs(np.linalg.svd(to_numpy(layer.layer.kernel), compute_uv=False)[0] - 1) < 1e-3
    clone = L.SpectralNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_conv_lstm_stateful_carries_state(backend):
    x = SEQ2D
    whole = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True)
    full = to_numpy(whole(x))
    stateful = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, stateful=True)
    stateful(x[:, :1])
    stateful.set_weights(whole.get_weights())
    stateful.reset_state()
    parts = [to_numpy(stateful(x[:, :2])), to_numpy(stateful(x[:, 2:]))]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, rtol=1e-5, atol=1e-5)
    stateful.reset_state()
    np.testing.assert_allclose(to_numpy(stateful(x[:, :2])), full[:, :2], rtol=1e-5, atol=1e-5)


def test_symbolic_shapes_and_bad_arguments():
    seq = kbridge.Input((3, 5, 6, 2))
    out, h, c = L.ConvLSTM2D(4, 3, strides=2, return_state=True)(seq)
    assert tuple(out.shape) == tuple(h.shape) == (None, 2, 2, 4)
    assert tuple(L.AdaptiveMaxPooling2D((2, 3))(kbridge.Input((7, 9, 2))).shape) == (None, 2, 3, 2)
    assert tuple(L.MelSpectrogram(fft_length=64, sequence_stride=32, num_mel_bins=8)(
        kbridge.Input((320,))).shape) == (None, 8, 11)
    assert tuple(L.STFTSpectrogram(frame_length=16)(kbridge.Input((64, 2))).shape) == (
        None, 7, 18)
    with pytest.raises(ArgumentError, match="output_size"):
        L.AdaptiveAveragePooling2D((2, 2, 2))
    with pytest.raises(ArgumentError, match="dilation_rate"):
        L.ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ArgumentError, match="mode"):
        L.STFTSpectrogram(mode="power")
    with pytest.raises(ArgumentError, match="power_iterations"):
        L.SpectralNormalization(L.Dense(2), power_iterations=0)
    with pytest.raises(ArgumentError, match="kernel"):
        L.SpectralNormalization(L.Dropout(0.5))(np.ones((1, 2), "float32"))


def test_torch_adaptive_average_pool_reference():
    torch = pytest.importorskip("torch")
    x = rand(2, 3, 7, 9)  # channels_first, as torch
    with kbridge.backend.use("torch"):
        got = to_numpy(L.AdaptiveAveragePooling2D((3, 4), data_format="channels_first")(x))
    expected = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), (3, 4)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_fit_smoke(trainable_backend):
    x, y = rand(8, 3, 4, 4, 1), rand(8, 1)
    model = kbridge.Sequential([
        kbridge.Input((3, 4, 4, 1)), L.ConvLSTM2D(2, 3, padding="same"),
        L.AdaptiveAveragePooling2D(2), L.Flatten(),
        L.SpectralNormalization(L.Dense(4)), L.Dense(1)])
    model.compile(optimizer=kbridge.optimizers.Adam(0.02), loss="mse")
    losses = model.fit(x, y, epochs=6, batch_size=4, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


@pytest.fixture(scope="module")
def keras_archive(tmp_path_factory):
    """A Keras 3 ``.keras`` file using the new layers, and Keras's output on an input."""
    keras = keras_module()
    model = keras.Sequential([
        keras.Input((3, 5, 5, 2)),
        keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
        keras.layers.AdaptiveMaxPooling3D((2, 2, 2)), keras.layers.Flatten(),
        keras.layers.SpectralNormalization(keras.layers.Dense(3))])
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    model.save(path)
    return str(path), SEQ2D[:, :, :5, :5], np.asarray(model(SEQ2D[:, :, :5, :5]))


def test_loads_keras_archive(keras_archive, backend):
    path, x, expected = keras_archive
    model = kbridge.hub.load(path, backend=backend)
    np.testing.assert_allclose(to_numpy(model(x)), expected, rtol=1e-5, atol=1e-5)


def test_conv_lstm_masked_steps_are_skipped(backend):
    # Keras's rule (checked against Keras on TensorFlow; its numpy backend cannot mask
    # ConvLSTM): a masked step keeps the states and repeats the previous output
    x = SEQ2D[:, :, :4, :4]
    mask = np.array([[True, False, True], [True, True, False]])
    layer = L.ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True)
    out, h, c = (to_numpy(t) for t in layer(x, mask=mask))
    for i, keep in enumerate(mask):
        ref_out, ref_h, ref_c = (to_numpy(t) for t in layer(x[i:i + 1, keep]))
        steps = np.cumsum(keep) - 1  # the last kept step at each position
        np.testing.assert_allclose(out[i], ref_out[0, steps], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h[i], ref_h[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c[i], ref_c[0], rtol=1e-5, atol=1e-6)
