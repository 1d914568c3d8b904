"""Core, merging, reshaping, regularization and activation layers: every backend vs numpy,
against Keras 3, and hand-computed references for the tricky ones."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.layers.harness import check_against_keras, check_layer, to_numpy

L = lambda: kbridge.layers  # noqa: E731  (lazy: kbridge.layers loads its families on use)
RNG = np.random.default_rng(0)
X2 = RNG.normal(size=(2, 4)).astype("float32")
X3 = RNG.normal(size=(2, 3, 4)).astype("float32")
X4 = RNG.normal(size=(2, 4, 5, 3)).astype("float32")
X5 = RNG.normal(size=(1, 3, 4, 2, 2)).astype("float32")
IDS = np.array([[1, 2, 0], [4, 0, 3]], "int32")


# --- every layer: all backends against numpy, config round trip --------------------------
SINGLE = {
    "dense": (lambda: L().Dense(3, activation="relu"), X3),
    "dense_nobias": (lambda: L().Dense(5, use_bias=False), X2),
    "einsum_dense": (lambda: L().EinsumDense("abc,cd->abd", (None, 5), bias_axes="d"), X3),
    "einsum_dense_left": (lambda: L().EinsumDense("...b,bc->...c", 6, bias_axes="c"), X3),
    "embedding": (lambda: L().Embedding(5, 3, mask_zero=True), IDS),
    "activation": (lambda: L().Activation("gelu"), X3),
    "identity": (lambda: L().Identity(), X3),
    "lambda": (lambda: L().Lambda(kbridge.activations.tanh), X3),
    "masking": (lambda: L().Masking(0.0), np.concatenate([X3, np.zeros((2, 1, 4), "float32")], 1)),
    "flatten": (lambda: L().Flatten(), X4),
    "flatten_cf": (lambda: L().Flatten(data_format="channels_first"), X4),
    "reshape": (lambda: L().Reshape((-1, 2)), X3),
    "permute": (lambda: L().Permute((2, 1)), X3),
    "repeat_vector": (lambda: L().RepeatVector(3), X2),
    "cropping1d": (lambda: L().Cropping1D((1, 0)), X3),
    "cropping2d": (lambda: L().Cropping2D(((1, 0), (2, 1))), X4),
    "cropping3d": (lambda: L().Cropping3D(((1, 1), (1, 0), (0, 1))), X5),
    "zero_padding1d": (lambda: L().ZeroPadding1D((1, 2)), X3),
    "zero_padding2d": (lambda: L().ZeroPadding2D(((1, 0), (0, 2))), X4),
    "zero_padding3d": (lambda: L().ZeroPadding3D(1), X5),
    "upsampling1d": (lambda: L().UpSampling1D(2), X3),
    "upsampling2d": (lambda: L().UpSampling2D((2, 3)), X4),
    "upsampling2d_bilinear": (lambda: L().UpSampling2D(2, interpolation="bilinear"), X4),
    "upsampling3d": (lambda: L().UpSampling3D((1, 2, 2)), X5),
    "dropout": (lambda: L().Dropout(0.5, seed=1), X3),
    "spatial_dropout1d": (lambda: L().SpatialDropout1D(0.5, seed=1), X3),
    "spatial_dropout2d": (lambda: L().SpatialDropout2D(0.5, seed=1), X4),
    "spatial_dropout3d": (lambda: L().SpatialDropout3D(0.5, seed=1), X5),
    "gaussian_noise": (lambda: L().GaussianNoise(0.1, seed=1), X3),
    "gaussian_dropout": (lambda: L().GaussianDropout(0.1, seed=1), X3),
    "activity_regularization": (lambda: L().ActivityRegularization(l1=0.1, l2=0.2), X3),
    "alpha_dropout": (lambda: L().AlphaDropout(0.1, seed=1), X3),
    "relu": (lambda: L().ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2), X3),
    "leaky_relu": (lambda: L().LeakyReLU(0.2), X3),
    "prelu": (lambda: L().PReLU(alpha_initializer="random_uniform", shared_axes=[1]), X3),
    "elu": (lambda: L().ELU(0.5), X3),
    "softmax": (lambda: L().Softmax(axis=1), X3),
    "softmax_multi_axis": (lambda: L().Softmax(axis=(1, 2)), X3),
}

MERGE = {
    "add": lambda: L().Add(), "subtract": lambda: L().Subtract(),
    "multiply": lambda: L().Multiply(), "average": lambda: L().Average(),
    "maximum": lambda: L().Maximum(), "minimum": lambda: L().Minimum(),
    "concatenate": lambda: L().Concatenate(axis=1), "dot": lambda: L().Dot(axes=(2, 2)),
    "dot_normalize": lambda: L().Dot(axes=1, normalize=True),
}
PAIR = [X3, RNG.normal(size=(2, 3, 4)).astype("float32")]


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_layer_matches_numpy(name, backend):
    make, x = SINGLE[name]
    check_layer(make, x, backend)


@pytest.mark.parametrize("name", sorted(MERGE))
def test_merge_matches_numpy(name, backend):
    check_layer(MERGE[name], PAIR, backend)


# --- against Keras 3 -----------------------------------------------------------------------
KERAS = {
    "dense": (lambda: L().Dense(3, activation="relu"), lambda k: k.layers.Dense(3, activation="relu"), X3),
    "einsum_dense": (lambda: L().EinsumDense("abc,cd->abd", (None, 5), bias_axes="d"),
                     lambda k: k.layers.EinsumDense("abc,cd->abd", (None, 5), bias_axes="d",
                                                    bias_initializer="random_normal"), X3),
    "einsum_dense_bias_ab": (lambda: L().EinsumDense("abc,cde->abde", (3, 2, 6), bias_axes="be"),
                             lambda k: k.layers.EinsumDense("abc,cde->abde", (3, 2, 6),
                                                            bias_axes="be",
                                                            bias_initializer="random_normal"), X3),
    "einsum_dense_right": (lambda: L().EinsumDense("ab...,bc->ac...", (5,), bias_axes="c"),
                           lambda k: k.layers.EinsumDense("ab...,bc->ac...", (5,), bias_axes="c",
                                                          bias_initializer="random_normal"), X3),
    "embedding": (lambda: L().Embedding(5, 3), lambda k: k.layers.Embedding(5, 3), IDS),
    "activation": (lambda: L().Activation("gelu"), lambda k: k.layers.Activation("gelu"), X3),
    "masking": (lambda: L().Masking(X3[0, 0, 0]), lambda k: k.layers.Masking(X3[0, 0, 0]), X3),
    "flatten_cf": (lambda: L().Flatten("channels_first"), lambda k: k.layers.Flatten("channels_first"), X4),
    "reshape": (lambda: L().Reshape((-1, 2)), lambda k: k.layers.Reshape((-1, 2)), X3),
    "permute": (lambda: L().Permute((2, 1)), lambda k: k.layers.Permute((2, 1)), X3),
    "repeat_vector": (lambda: L().RepeatVector(3), lambda k: k.layers.RepeatVector(3), X2),
    "cropping2d": (lambda: L().Cropping2D(((1, 0), (2, 1))), lambda k: k.layers.Cropping2D(((1, 0), (2, 1))), X4),
    "cropping3d_cf": (lambda: L().Cropping3D(((0, 1), (0, 1), (1, 0)), "channels_first"),
                      lambda k: k.layers.Cropping3D(((0, 1), (0, 1), (1, 0)), "channels_first"), X5),
    "zero_padding2d": (lambda: L().ZeroPadding2D(((1, 0), (0, 2))), lambda k: k.layers.ZeroPadding2D(((1, 0), (0, 2))), X4),
    "zero_padding1d": (lambda: L().ZeroPadding1D(2), lambda k: k.layers.ZeroPadding1D(2), X3),
    "upsampling2d": (lambda: L().UpSampling2D((2, 3)), lambda k: k.layers.UpSampling2D((2, 3)), X4),
    "upsampling2d_bilinear": (lambda: L().UpSampling2D(2, interpolation="bilinear"),
                              lambda k: k.layers.UpSampling2D(2, interpolation="bilinear"), X4),
    "upsampling3d": (lambda: L().UpSampling3D((1, 2, 2)), lambda k: k.layers.UpSampling3D((1, 2, 2)), X5),
    "relu": (lambda: L().ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2),
             lambda k: k.layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2), X3),
    "relu6_leak": (lambda: L().ReLU(max_value=6.0, negative_slope=0.1),
                   lambda k: k.layers.ReLU(max_value=6.0, negative_slope=0.1), X3 * 5),
    "prelu": (lambda: L().PReLU(shared_axes=[1]),
              lambda k: k.layers.PReLU(alpha_initializer="random_uniform", shared_axes=[1]), X3),
    "elu": (lambda: L().ELU(0.5), lambda k: k.layers.ELU(0.5), X3),
    "leaky_relu": (lambda: L().LeakyReLU(), lambda k: k.layers.LeakyReLU(), X3),
    "softmax": (lambda: L().Softmax(axis=(1, 2)), lambda k: k.layers.Softmax(axis=(1, 2)), X3),
    "dropout_inference": (lambda: L().Dropout(0.5), lambda k: k.layers.Dropout(0.5), X3),
}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_against_keras(name):
    make, keras_make, x = KERAS[name]
    check_against_keras(make, keras_make, x, "numpy")


@pytest.mark.parametrize("name", sorted(MERGE))
def test_merge_against_keras(name):
    keras_names = {"dot": lambda k: k.layers.Dot(axes=(2, 2)),
                   "dot_normalize": lambda k: k.layers.Dot(axes=1, normalize=True),
                   "concatenate": lambda k: k.layers.Concatenate(axis=1)}
    cls_name = type(MERGE[name]()).__name__
    keras_make = keras_names.get(name, lambda k: getattr(k.layers, cls_name)())
    check_against_keras(MERGE[name], keras_make, PAIR, "numpy")


def test_keras_configs_match():
    """Our get_config has Keras's keys (minus Keras-only extras), so Keras configs load here."""
    from tests.layers.harness import keras_module

    keras = keras_module()
    pairs = [(L().Dense(3), keras.layers.Dense(3)), (L().Embedding(5, 3), keras.layers.Embedding(5, 3)),
             (L().UpSampling2D(), keras.layers.UpSampling2D()), (L().Dropout(0.2), keras.layers.Dropout(0.2)),
             (L().ZeroPadding1D(), keras.layers.ZeroPadding1D()), (L().Cropping1D(), keras.layers.Cropping1D()),
             (L().SpatialDropout1D(0.1), keras.layers.SpatialDropout1D(0.1)),
             (L().ActivityRegularization(), keras.layers.ActivityRegularization()),
             (L().PReLU(), keras.layers.PReLU()), (L().ReLU(), keras.layers.ReLU())]
    for ours, theirs in pairs:
        a, b = ours.get_config(), theirs.get_config()
        # Keras's SpatialDropout configs omit 'trainable'; ours always carry it.
        assert set(a) - {"trainable"} == set(b) - {"trainable"}, (type(ours).__name__, set(a) ^ set(b))
        for key, value in b.items():
            if key not in ("name", "dtype") and not isinstance(value, dict):
                assert a[key] == value, (type(ours).__name__, key, a[key], value)


# --- hand-computed references ------------------------------------------------------------
def test_einsum_dense_shapes_and_values(backend):
    layer = L().EinsumDense("abc,cde->abde", output_shape=(3, 2, 6), bias_axes="be")
    out = layer(X3)
    kernel, bias = layer.get_weights()
    # the bias spans the output from its first biased axis ('b'): (b, d -> 1, e)
    assert kernel.shape == (4, 2, 6) and bias.shape == (3, 1, 6)
    want = np.einsum("abc,cde->abde", X3, kernel) + bias
    np.testing.assert_allclose(to_numpy(out), want, rtol=1e-5, atol=1e-5)
    # bias only on 'b' of "ab...,bc->ac...": broadcast shape (4, 1) over trailing elided dims
    layer = L().EinsumDense("abc...,cd->abd...", (3, 6), bias_axes="b")
    layer.build((2, 3, 4, 7))
    assert [w.shape for w in layer.get_weights()] == [(4, 6), (3, 1, 1)]
    assert layer.full_output_shape == (2, 3, 6, 7)
    layer = L().EinsumDense("...b,bc->...c", 6, bias_axes="c")
    layer.build((None, 2, 3, 4))
    assert layer.full_output_shape == (None, 2, 3, 6)
    with pytest.raises(kbridge.KbridgeError):
        L().EinsumDense("ab,bc->ad", 4).build((2, 3))


def test_embedding_mask_and_lookup(backend):
    layer = L().Embedding(5, 2, mask_zero=True)
    table = np.arange(10, dtype="float32").reshape(5, 2)
    layer.build()
    layer.set_weights([table])
    out = to_numpy(layer(IDS))
    np.testing.assert_array_equal(out, table[IDS])
    mask = to_numpy(layer.compute_mask(IDS, None))
    np.testing.assert_array_equal(mask, IDS != 0)
    assert L().Embedding(5, 2).compute_mask(IDS, None) is None
    # float indices are cast to int
    np.testing.assert_array_equal(to_numpy(layer(IDS.astype("float32"))), table[IDS])
    # Functional: the mask travels on the KerasTensor
    x = kbridge.Input((3,), dtype="int32")
    y = L().Embedding(5, 2, mask_zero=True)(x)
    assert y.shape == (None, 3, 2) and y._keras_mask is not None


def test_dot_hand_computed(backend):
    a = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
    b = np.array([[5.0, 6.0], [7.0, 8.0]], "float32")
    np.testing.assert_allclose(to_numpy(L().Dot(axes=1)([a, b])), [[17.0], [53.0]])
    cos = to_numpy(L().Dot(axes=1, normalize=True)([a, b]))
    want = [[17 / (np.sqrt(5) * np.sqrt(61))], [53 / (5 * np.sqrt(113))]]
    np.testing.assert_allclose(cos, want, rtol=1e-5)
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    y = RNG.normal(size=(2, 3, 5)).astype("float32")
    out = to_numpy(L().Dot(axes=1)([x, y]))
    np.testing.assert_allclose(out, np.einsum("bij,bik->bjk", x, y), rtol=1e-5, atol=1e-5)
    out = to_numpy(kbridge.layers.dot([x, x], axes=[2, 2]))
    np.testing.assert_allclose(out, np.einsum("bik,bjk->bij", x, x), rtol=1e-5, atol=1e-5)


def test_dropout_training_and_inference(backend):
    x = np.ones((50, 40), "float32")
    layer = L().Dropout(0.25, seed=3)
    np.testing.assert_array_equal(to_numpy(layer(x)), x)  # inference: identity
    np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)
    if not hasattr(kbridge.random, "dropout"):
        pytest.skip("kbridge.random.dropout is not available yet")
    out = to_numpy(layer(x, training=True))
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)  # survivors scaled
    assert 0.65 < kept.mean() < 0.85
    spatial = to_numpy(L().SpatialDropout1D(0.5, seed=1)(np.ones((4, 6, 8), "float32"),
                                                           training=True))
    # a channel is dropped for every step at once
    assert np.all((spatial == 0).all(axis=1) | (spatial != 0).all(axis=1))


def test_noise_layers_statistics(backend):
    x = np.ones((200, 50), "float32")
    for layer in (L().GaussianNoise(0.5, seed=1), L().GaussianDropout(0.2, seed=1),
                  L().AlphaDropout(0.2, seed=1)):
        np.testing.assert_array_equal(to_numpy(layer(x)), x)
    if not hasattr(kbridge.random, "normal") or not hasattr(kbridge.random, "SeedGenerator"):
        pytest.skip("kbridge.random.normal / SeedGenerator are not available yet")
    noisy = to_numpy(L().GaussianNoise(0.5, seed=1)(x, training=True))
    assert abs(noisy.mean() - 1) < 0.05 and abs(noisy.std() - 0.5) < 0.05
    noisy = to_numpy(L().GaussianDropout(0.2, seed=1)(x, training=True))
    assert abs(noisy.mean() - 1) < 0.05 and abs(noisy.std() - 0.5) < 0.05


def test_activity_regularization_loss(backend):
    layer = L().ActivityRegularization(l1=0.1, l2=0.2)
    layer(X3)
    (loss,) = layer.losses
    want = (0.1 * np.abs(X3).sum() + 0.2 * np.square(X3).sum()) / X3.shape[0]
    np.testing.assert_allclose(to_numpy(loss), want, rtol=1e-5)


def test_upsampling2d_hand_computed(backend):
    x = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
    out = to_numpy(L().UpSampling2D(2)(x))[0, :, :, 0]
    np.testing.assert_array_equal(out, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    # bilinear, half-pixel centres: 1-D profile [1, 1.25, 1.75, 2] for the pair (1, 2)
    out = to_numpy(L().UpSampling2D(2, interpolation="bilinear")(x))[0, :, :, 0]
    row = np.array([1.0, 1.25, 1.75, 2.0])
    want = np.stack([row, row + 0.5, row + 1.5, row + 2.0])
    np.testing.assert_allclose(out, want, rtol=1e-6)
    cf = to_numpy(L().UpSampling2D((1, 2), data_format="channels_first")(x.reshape(1, 1, 2, 2)))
    np.testing.assert_array_equal(cf[0, 0], [[1, 1, 2, 2], [3, 3, 4, 4]])


def test_softmax_mask(backend):
    x = np.array([[1.0, 2.0, 3.0]], "float32")
    out = to_numpy(L().Softmax()(x, mask=np.array([[True, True, False]])))
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(out, [[*(e / e.sum()), 0.0]], rtol=1e-6, atol=1e-7)


def test_masking_hand_computed(backend):
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]], "float32")
    layer = L().Masking(0.0)
    np.testing.assert_array_equal(to_numpy(layer(x)), x)
    np.testing.assert_array_equal(to_numpy(layer.compute_mask(x, None)), [[True, False, True]])
    x2 = np.array([[[5.0, 5.0], [1.0, 5.0]]], "float32")
    np.testing.assert_array_equal(to_numpy(L().Masking(5.0)(x2)), [[[0.0, 0.0], [1.0, 5.0]]])


def test_merge_masks_and_broadcast(backend):
    m1 = np.array([[True, False, True]])
    m2 = np.array([[True, True, False]])
    x = np.ones((1, 3, 2), "float32")
    mask = L().Add().compute_mask([x, x], [m1, m2])
    np.testing.assert_array_equal(to_numpy(mask), [[True, False, False]])
    assert L().Add().compute_mask([x, x], None) is None
    cat_mask = L().Concatenate(axis=1).compute_mask([x, x], [m1, None])
    np.testing.assert_array_equal(to_numpy(cat_mask), [[True, False, True, True, True, True]])
    # lower-rank inputs broadcast after the batch axis, as in Keras
    out = to_numpy(L().Add()([np.ones((2, 3), "float32"), np.ones((2, 4, 3), "float32")]))
    assert out.shape == (2, 4, 3)
    with pytest.raises(kbridge.KbridgeError):
        L().Subtract()([x, x, x])


def test_lambda_is_unsafe_to_deserialize():
    layer = L().Lambda(lambda x, k: x * k, arguments={"k": 3.0})
    np.testing.assert_allclose(to_numpy(layer(np.ones(2, "float32"))), [3.0, 3.0])
    config = kbridge.saving.serialize(layer)
    with pytest.raises(ValueError):
        kbridge.saving.deserialize(config)
    with pytest.raises(ValueError):
        L().Lambda.from_config(layer.get_config())
    clone = kbridge.saving.deserialize(config, safe_mode=False)
    np.testing.assert_allclose(to_numpy(clone(np.ones(2, "float32"))), [3.0, 3.0])


def test_symbolic_shapes():
    x = kbridge.Input((4, 5, 3))
    assert L().Flatten()(x).shape == (None, 60)
    assert L().UpSampling2D(2)(x).shape == (None, 8, 10, 3)
    assert L().ZeroPadding2D(1)(x).shape == (None, 6, 7, 3)
    assert L().Cropping2D(((1, 0), (2, 1)))(x).shape == (None, 3, 2, 3)
    assert L().Reshape((-1, 3))(x).shape == (None, 20, 3)
    assert L().Dense(7)(x).shape == (None, 4, 5, 7)
    assert L().EinsumDense("abcd,de->abce", (4, 5, 2))(x).shape == (None, 4, 5, 2)
    assert L().Dropout(0.5)(x).shape == (None, 4, 5, 3)
    v = kbridge.Input((4,))
    assert L().RepeatVector(3)(v).shape == (None, 3, 4)
    assert L().Dot(axes=1)([v, v]).shape == (None, 1)
    assert L().Concatenate()([v, v]).shape == (None, 8)


def test_dense_regularizers_and_constraints():
    layer = L().Dense(2, kernel_regularizer="l2", bias_regularizer=kbridge.regularizers.L1(0.5),
                      kernel_constraint="non_neg")
    layer(X2)
    kernel, bias = layer.get_weights()
    losses = [float(to_numpy(v)) for v in layer.losses]
    np.testing.assert_allclose(losses, [0.01 * np.square(kernel).sum(), 0.5 * np.abs(bias).sum()],
                               rtol=1e-5)
    config = layer.get_config()
    clone = L().Dense.from_config(config)
    assert isinstance(clone.kernel_regularizer, kbridge.regularizers.L2)
    assert isinstance(clone.kernel_constraint, kbridge.constraints.NonNeg)
