"""Preprocessing layers: every backend against numpy, Keras 3 where it runs without TF
strings, and hand-computed references (Normalization.adapt, lookups with OOV, encodings)."""

import numpy as np
import pytest

import kbridge
from tests.layers.harness import check_against_keras, check_layer, to_numpy

L = kbridge.layers
RNG = np.random.RandomState(0)
IMAGES = RNG.rand(2, 6, 8, 3).astype("float32")
X = (RNG.randn(4, 3) * 3 + 1).astype("float32")


# --- numeric and image layers: every backend, config round trip, Keras ------------------------
@pytest.mark.parametrize("make, x", [
    (lambda: L.Rescaling(1 / 255, offset=-1.0), IMAGES),
    (lambda: L.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), X),
    (lambda: L.Normalization(axis=None, mean=2.0, variance=4.0, invert=True), X),
    (lambda: L.CenterCrop(4, 5), IMAGES),
    (lambda: L.Resizing(3, 4), IMAGES),
    (lambda: L.Resizing(5, 5, interpolation="nearest", crop_to_aspect_ratio=True), IMAGES),
    (lambda: L.RandomFlip(seed=1), IMAGES),
    (lambda: L.RandomRotation(0.2, seed=1), IMAGES),
    (lambda: L.RandomZoom(0.2, seed=1), IMAGES),
    (lambda: L.RandomTranslation(0.1, 0.2, seed=1), IMAGES),
    (lambda: L.RandomContrast(0.3, seed=1), IMAGES),
    (lambda: L.CategoryEncoding(5, output_mode="one_hot"), np.array([0, 3, 4])),
    (lambda: L.CategoryEncoding(5, output_mode="multi_hot"), np.array([[0, 3, 3], [1, 1, 2]])),
    (lambda: L.CategoryEncoding(5, output_mode="count"), np.array([[0, 3, 3], [1, 1, 2]])),
    (lambda: L.Discretization(bin_boundaries=[-1.0, 0.0, 2.5]), X),
    (lambda: L.Discretization(bin_boundaries=[0.0, 1.0], output_mode="count"), X),
], ids=["rescaling", "normalization", "normalization_invert", "center_crop", "resizing",
        "resizing_nearest_crop", "random_flip", "random_rotation", "random_zoom",
        "random_translation", "random_contrast", "category_one_hot", "category_multi_hot",
        "category_count", "discretization", "discretization_count"])
def test_layers_match_numpy_backend(make, x, backend):
    # random layers augment by default (as in Keras); compare their inference path here
    kwargs = {"training": False} if type(make()).__name__.startswith("Random") else None
    check_layer(make, x, backend, call_kwargs=kwargs)


@pytest.mark.parametrize("name, args, x", [
    ("Rescaling", dict(scale=0.5, offset=0.25), IMAGES),
    ("Normalization", dict(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), X),
    ("Normalization", dict(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0], invert=True), X),
    ("CenterCrop", dict(height=4, width=5), IMAGES),
    ("CenterCrop", dict(height=8, width=8), IMAGES),
    ("Resizing", dict(height=3, width=4), IMAGES),
    ("Resizing", dict(height=4, width=4, crop_to_aspect_ratio=True), IMAGES),
    ("CategoryEncoding", dict(num_tokens=5, output_mode="one_hot"), np.array([0, 3, 4])),
    ("CategoryEncoding", dict(num_tokens=5, output_mode="count"), np.array([[0, 3, 3]])),
    ("Discretization", dict(bin_boundaries=[-1.0, 0.0, 2.5]), X),
    ("RandomFlip", dict(seed=1), IMAGES),
    ("RandomRotation", dict(factor=0.2, seed=1), IMAGES),
    ("RandomZoom", dict(height_factor=0.2, seed=1), IMAGES),
    ("RandomTranslation", dict(height_factor=0.2, width_factor=0.2, seed=1), IMAGES),
    ("RandomContrast", dict(factor=0.2, seed=1), IMAGES),
])
def test_against_keras(name, args, x):
    kwargs = {"training": False} if name.startswith("Random") else None
    check_against_keras(lambda: getattr(L, name)(**args),
                        lambda keras: getattr(keras.layers, name)(**args), x, "numpy",
                        call_kwargs=kwargs)


def test_config_keys_match_keras():
    from tests.layers.harness import keras_module

    keras = keras_module()
    cases = [("Rescaling", (0.5,)), ("Normalization", ()), ("CenterCrop", (2, 2)),
             ("Resizing", (2, 2)), ("RandomFlip", ()), ("RandomRotation", (0.1,)),
             ("RandomZoom", (0.1,)), ("RandomTranslation", (0.1, 0.1)),
             ("RandomContrast", (0.2,)), ("CategoryEncoding", (3,)), ("Hashing", (3,)),
             ("HashedCrossing", (3,))]
    for name, args in cases:
        ours = set(getattr(L, name)(*args).get_config()) - {"dtype", "trainable"}
        theirs = set(getattr(keras.layers, name)(*args).get_config()) - {"dtype", "trainable"}
        assert ours == theirs, (name, ours ^ theirs)
    ours = set(L.StringLookup(vocabulary=["a"]).get_config()) - {"dtype", "trainable"}
    theirs = set(keras.layers.StringLookup(vocabulary=["a"]).get_config()) - {"dtype", "trainable"}
    assert ours == theirs


# --- Normalization.adapt ----------------------------------------------------------------------
def test_normalization_adapt(backend):
    data = (RNG.randn(50, 2, 3) * [1.0, 2.0, 3.0] + [5.0, -1.0, 0.5]).astype("float32")
    layer = L.Normalization(axis=-1)
    layer.adapt(data)
    mean = data.reshape(-1, 3).astype(np.float64).mean(0)
    var = data.reshape(-1, 3).astype(np.float64).var(0)
    np.testing.assert_allclose(layer.get_weights()[0], mean, rtol=1e-5)
    np.testing.assert_allclose(layer.get_weights()[1], var, rtol=1e-5)
    assert int(layer.get_weights()[2]) == 100
    out = to_numpy(layer(data))
    np.testing.assert_allclose(out, (data - mean) / np.sqrt(var), rtol=1e-4, atol=1e-5)
    # batches give the same statistics as one array
    batched = L.Normalization(axis=(1, 2))
    batched.adapt([data[:13], data[13:31], data[31:]])
    np.testing.assert_allclose(batched.get_weights()[0], data.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched.get_weights()[1], data.astype(np.float64).var(0),
                               rtol=1e-4)
    inverse = L.Normalization(mean=mean, variance=var, invert=True)
    np.testing.assert_allclose(to_numpy(inverse(out)), data.reshape(-1, 2, 3).astype(np.float64),
                               rtol=1e-4, atol=1e-4)


def test_normalization_adapt_against_keras():
    from tests.layers.harness import keras_module

    keras = keras_module()
    ours, theirs = L.Normalization(axis=-1), keras.layers.Normalization(axis=-1)
    ours.adapt(X)
    theirs.adapt(X)
    np.testing.assert_allclose(to_numpy(ours(X)), np.asarray(theirs(X)), rtol=1e-5, atol=1e-5)


# --- lookups (expected values checked against Keras 3 on TensorFlow) --------------------------
def test_string_lookup(backend):
    layer = L.StringLookup(vocabulary=["a", "b", "c"], mask_token="")
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b", "c"]
    assert layer.vocabulary_size() == 5
    np.testing.assert_array_equal(to_numpy(layer(np.array([["a", "", "z", "c"]]))),
                                  [[2, 0, 1, 4]])
    one_hot = L.StringLookup(vocabulary=["a", "b", "c"], output_mode="one_hot")
    np.testing.assert_array_equal(to_numpy(one_hot(np.array(["a", "z"]))),
                                  [[0, 1, 0, 0], [1, 0, 0, 0]])
    multi = L.StringLookup(vocabulary=["a", "b", "c"], output_mode="multi_hot", mask_token="")
    np.testing.assert_array_equal(
        to_numpy(multi(np.array([["a", "z", "a", ""], ["b", "b", "c", "c"]]))),
        [[1, 1, 0, 0], [0, 0, 1, 1]])
    count = L.StringLookup(vocabulary=["a", "b"], output_mode="count")
    np.testing.assert_array_equal(to_numpy(count(np.array([["a", "a", "q", "b"]]))),
                                  [[1, 2, 1]])
    inverse = L.StringLookup(vocabulary=["a", "b", "c"], invert=True)
    assert inverse(np.array([[0, 1, 3]])).tolist() == [["[UNK]", "a", "c"]]
    inverse = L.StringLookup(vocabulary=["a", "b", "c"], invert=True, mask_token="")
    assert inverse(np.array([[0, 1, 3]])).tolist() == [["", "[UNK]", "b"]]


def test_string_lookup_adapt_and_oov():
    layer = L.StringLookup()
    layer.adapt(np.array(["b", "a", "b", "c", "c", "c"]))
    assert layer.get_vocabulary() == ["[UNK]", "c", "b", "a"]
    capped = L.StringLookup(max_tokens=3)
    capped.adapt(np.array(["b", "a", "b", "c", "c", "c", "a"]))
    assert capped.get_vocabulary() == ["[UNK]", "c", "b"]
    two_oov = L.StringLookup(vocabulary=["a"], num_oov_indices=2)
    out = to_numpy(two_oov(np.array(["a", "x", "y", "x"])))
    assert out[0] == 2 and set(out[1:].tolist()) <= {0, 1} and out[1] == out[3]
    strict = L.StringLookup(vocabulary=["a"], num_oov_indices=0)
    with pytest.raises(ValueError):
        strict(np.array(["zz"]))


def test_integer_lookup(backend):
    layer = L.IntegerLookup(vocabulary=[7, 9], num_oov_indices=0, mask_token=0)
    np.testing.assert_array_equal(to_numpy(layer(np.array([0, 7, 9]))), [0, 1, 2])
    layer = L.IntegerLookup(vocabulary=[12, 36])
    np.testing.assert_array_equal(to_numpy(layer(np.array([[36, 7, 12]]))), [[2, 0, 1]])
    assert layer.get_vocabulary() == [-1, 12, 36]
    inverse = L.IntegerLookup(vocabulary=[12, 36], invert=True)
    np.testing.assert_array_equal(to_numpy(inverse(np.array([0, 2, 1]))), [-1, 36, 12])
    adapted = L.IntegerLookup(output_mode="multi_hot")
    adapted.adapt(np.array([5, 5, 3]))
    assert adapted.get_vocabulary() == [-1, 5, 3]
    np.testing.assert_array_equal(to_numpy(adapted(np.array([[3, 8]]))), [[1, 0, 1]])
    check_layer(lambda: L.IntegerLookup(vocabulary=[12, 36]), np.array([[36, 7, 12]]), backend)
    check_layer(lambda: L.StringLookup(vocabulary=["a", "b"], mask_token=""),
                np.array([["a", "", "q"]]), backend)


# --- hashing ----------------------------------------------------------------------------------
def test_hashing_is_stable(backend):
    strings = np.array([["cat", "dog", "cat"], ["emu", "", "dog"]])
    out = to_numpy(L.Hashing(7)(strings))
    assert out.shape == (2, 3) and out.min() >= 0 and out.max() < 7
    assert out[0, 0] == out[0, 2] and out[0, 1] == out[1, 2]
    # fixed values: the documented BLAKE2b hash, identical on every backend and platform
    assert to_numpy(L.Hashing(1000)(np.array(["cat", "dog"]))).tolist() == [
        kbridge.layers.preprocessing.stable_hash(b"cat") % 1000,
        kbridge.layers.preprocessing.stable_hash(b"dog") % 1000]
    ints = to_numpy(L.Hashing(7)(np.array([3, 4])))
    np.testing.assert_array_equal(ints, to_numpy(L.Hashing(7)(np.array(["3", "4"]))))
    masked = to_numpy(L.Hashing(7, mask_value="")(strings))
    assert masked[1, 1] == 0 and (np.delete(masked.ravel(), 4) >= 1).all()
    salted = to_numpy(L.Hashing(10 ** 6, salt=[1, 2])(strings))
    assert not np.array_equal(salted, to_numpy(L.Hashing(10 ** 6)(strings)))
    counts = to_numpy(L.Hashing(7, output_mode="count")(strings))
    np.testing.assert_array_equal(counts.sum(-1), [3, 3])
    check_layer(lambda: L.Hashing(7, salt=3), strings, backend)


def test_hashed_crossing(backend):
    a, b = np.array(["a", "b", "a"]), np.array([1, 2, 1])
    out = to_numpy(L.HashedCrossing(50)((a, b)))
    assert out.shape == (3,) and out[0] == out[2]
    one_hot = to_numpy(L.HashedCrossing(50, output_mode="one_hot")((a, b)))
    assert one_hot.shape == (3, 50)
    np.testing.assert_array_equal(one_hot.argmax(-1), out)


# --- discretization ---------------------------------------------------------------------------
def test_discretization_reference(backend):
    layer = L.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    np.testing.assert_array_equal(to_numpy(layer(np.array([[-0.5, 0.0, 1.5, 2.0, 9.0]]))),
                                  [[0, 1, 2, 3, 3]])
    adapted = L.Discretization(num_bins=4)
    adapted.adapt(np.arange(100.0))
    assert adapted.bin_boundaries == [24.0, 49.0, 74.0]  # Keras gives 24, 49, 74 too
    hot = L.Discretization(bin_boundaries=[0.0], output_mode="one_hot")
    np.testing.assert_array_equal(to_numpy(hot(np.array([-1.0, 1.0]))), [[1, 0], [0, 1]])


# --- random augmentation ----------------------------------------------------------------------
def test_random_layers_training(backend):
    x = IMAGES
    flipped = to_numpy(L.RandomFlip("horizontal", seed=3)(x, training=True))
    for i in range(2):
        assert (np.allclose(flipped[i], x[i]) or np.allclose(flipped[i], x[i, :, ::-1]))
    vflip = to_numpy(L.RandomFlip("vertical", seed=4)(x, training=True))
    for i in range(2):
        assert (np.allclose(vflip[i], x[i]) or np.allclose(vflip[i], x[i, ::-1]))
    np.testing.assert_allclose(to_numpy(L.RandomRotation(0.0)(x, training=True)), x,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(L.RandomZoom(0.0)(x, training=True)), x,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(L.RandomTranslation(0.0, 0.0)(x, training=True)), x,
                               rtol=1e-5, atol=1e-5)
    contrast = to_numpy(L.RandomContrast(0.5, value_range=(0, 1), seed=2)(x, training=True))
    assert contrast.min() >= 0 and contrast.max() <= 1
    np.testing.assert_allclose(contrast.mean((1, 2)), x.mean((1, 2)), atol=0.05)
    rot = L.RandomRotation(0.25, seed=5)
    a = to_numpy(rot(x, training=True))
    assert a.shape == x.shape and not np.allclose(a, x)
    again = to_numpy(L.RandomRotation(0.25, seed=5)(x, training=True))
    np.testing.assert_allclose(a, again, rtol=1e-6)  # seeded: reproducible
    np.testing.assert_array_equal(to_numpy(rot(x, training=False)), x)  # inference: identity


def test_symbolic_shapes():
    img = kbridge.Input((6, 8, 3))
    assert L.CenterCrop(4, 4)(img).shape == (None, 4, 4, 3)
    assert L.Resizing(3, 2)(img).shape == (None, 3, 2, 3)
    assert L.RandomRotation(0.1)(img).shape == (None, 6, 8, 3)
    assert L.Rescaling(0.5)(img).shape == (None, 6, 8, 3)
    ids = kbridge.Input((3,), dtype="int32")
    assert L.CategoryEncoding(5)(ids).shape == (None, 5)
    assert L.CategoryEncoding(5, output_mode="one_hot")(kbridge.Input((1,), dtype="int32")
                                                         ).shape == (None, 5)
