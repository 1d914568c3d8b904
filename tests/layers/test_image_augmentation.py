"""Image augmentation layers against Keras 3 (on its numpy backend, in process): deterministic
layers end to end, random layers through Keras's split (Keras draws a transformation, both
apply it), plus seeds, inference identity, layouts, boxes, ``fit`` and ``tf.data``."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.layers.harness import keras_module, to_numpy

L = kbridge.layers
RNG = np.random.RandomState(0)
IMAGES = (RNG.rand(3, 8, 10, 3) * 255).astype("float32")
UNIT = (IMAGES / 255.0).astype("float32")


def _tree(value, convert):
    if isinstance(value, dict):
        return {k: _tree(v, convert) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_tree(v, convert) for v in value)
    if value is None or isinstance(value, (int, float, str)):
        return value
    return convert(np.asarray(value))


# --- transform_images with Keras's own draws -----------------------------------------------
SPLIT_CASES = [
    ("RandomBrightness", dict(factor=0.3), IMAGES),
    ("RandomHue", dict(factor=0.4, value_range=(0, 1)), UNIT),
    ("RandomSaturation", dict(factor=(0.2, 0.8)), UNIT),
    ("RandomGrayscale", dict(factor=0.5), IMAGES),
    ("RandomInvert", dict(factor=0.5), IMAGES),
    ("RandomPosterization", dict(factor=(2, 6)), IMAGES),
    ("RandomSharpness", dict(factor=(0.1, 0.9)), IMAGES),
    ("RandomColorDegeneration", dict(factor=0.6), IMAGES),
    ("Solarization", dict(addition_factor=0.3, threshold_factor=(0.2, 0.8)), IMAGES),
    ("RandomErasing", dict(factor=1.0, fill_value=7.0), IMAGES),
    ("RandomShear", dict(x_factor=0.3, y_factor=0.2, fill_mode="constant"), IMAGES),
    ("RandomPerspective", dict(factor=1.0, scale=0.4), IMAGES),
    ("RandomGaussianBlur", dict(factor=1.0, kernel_size=3, sigma=(0.5, 1.0)), IMAGES),
    ("MixUp", dict(alpha=0.4), IMAGES),
    ("CutMix", dict(factor=1.0), IMAGES),
    ("RandomFlip", dict(mode="horizontal_and_vertical"), IMAGES),
    ("RandomTranslation", dict(height_factor=0.3, width_factor=(-0.2, 0.4),
                               fill_mode="constant"), IMAGES),
    ("RandomRotation", dict(factor=0.2, fill_mode="nearest"), IMAGES),
    ("RandomContrast", dict(factor=(0.3, 0.6)), IMAGES),
    ("RandomZoom", dict(height_factor=0.3, width_factor=(-0.2, 0.3)), IMAGES),
]


@pytest.mark.parametrize("name, args, x", SPLIT_CASES, ids=[c[0] for c in SPLIT_CASES])
def test_transform_images_match_keras(name, args, x, backend):
    keras = keras_module()
    klayer = getattr(keras.layers, name)(seed=3, **args)
    drawn = klayer.get_random_transformation(x, training=True)
    # a copy: Keras's RandomBrightness adds in place
    expected = np.asarray(klayer.transform_images(x.copy(), drawn, training=True))
    drawn = _tree(drawn, np.asarray)
    with kbridge.backend.use(backend):
        layer = getattr(L, name)(seed=3, **args)
        ours = layer.transform_images(ops.convert_to_tensor(x),
                                      _tree(drawn, ops.convert_to_tensor), training=True)
    # perspective/blur/shear resample (float32 kernels, interpolation): a looser tolerance
    atol = 1e-2 if name in ("RandomPerspective", "RandomShear", "RandomGaussianBlur",
                            "RandomTranslation", "RandomRotation", "RandomZoom") else 1e-3
    np.testing.assert_allclose(to_numpy(ours), expected, rtol=1e-5, atol=atol)


def test_labels_follow_keras_draws(backend):
    keras = keras_module()
    labels = np.eye(3, dtype="float32")
    for name in ("MixUp", "CutMix"):
        klayer = getattr(keras.layers, name)(seed=5)
        drawn = klayer.get_random_transformation(IMAGES, training=True)
        expected = np.asarray(klayer.transform_labels(labels, drawn, training=True))
        with kbridge.backend.use(backend):
            ours = getattr(L, name)(seed=5).transform_labels(
                ops.convert_to_tensor(labels), _tree(_tree(drawn, np.asarray),
                                                     ops.convert_to_tensor))
        np.testing.assert_allclose(to_numpy(ours), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(to_numpy(ours).sum(-1), 1.0, rtol=1e-5)


# --- deterministic layers end to end ------------------------------------------------------
DETERMINISTIC = [
    ("AutoContrast", dict(value_range=(0, 255)), IMAGES, {}),
    ("AutoContrast", dict(value_range=(0, 1)), UNIT, {}),
    ("Equalization", dict(), IMAGES, {}),
    ("Equalization", dict(value_range=(0, 1), bins=64), UNIT, {}),
    ("RandomPosterization", dict(factor=(3, 3)), IMAGES, {}),
    ("Solarization", dict(addition_factor=0.0, threshold_factor=0.0), IMAGES, {}),
    ("ContrastLimitedAdaptiveHistogramEqualization", dict(tile_grid_size=(3, 4)), IMAGES, {}),
    ("ContrastLimitedAdaptiveHistogramEqualization",
     dict(value_range=(0, 1), clip_limit=2.0, tile_grid_size=(2, 2)), UNIT, {}),
    ("RandomGrayscale", dict(factor=1.0), IMAGES, {}),
    ("RandomGrayscale", dict(factor=0.0), IMAGES, {}),
]


@pytest.mark.parametrize("name, args, x, kwargs", DETERMINISTIC,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(DETERMINISTIC)])
def test_deterministic_layers_match_keras(name, args, x, kwargs, backend):
    if backend == "jax" and "value_range" in args:
        pytest.skip("time: eager jax compiles every op; the (0, 255) case covers jax")
    keras = keras_module()
    expected = np.asarray(getattr(keras.layers, name)(**args)(x.copy(), **kwargs))
    with kbridge.backend.use(backend):
        got = to_numpy(getattr(L, name)(**args)(x, **kwargs))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_random_crop_matches_keras(backend):
    keras = keras_module()
    klayer = keras.layers.RandomCrop(6, 5)
    # a crop at a fixed position, and a too-small input (crop to the aspect ratio + resize)
    fixed = np.asarray(klayer.transform_images(IMAGES, (1, 2), training=True))
    small = IMAGES[:, :5, :4]
    drawn = klayer.get_random_transformation(small, training=True)
    grown = np.asarray(klayer.transform_images(small, drawn, training=True))
    # the documented centre crop (Keras's resize with crop_to_aspect_ratio computes it)
    centred = np.asarray(keras.ops.image.resize(IMAGES, (6, 5), crop_to_aspect_ratio=True))
    unchanged = np.asarray(klayer(IMAGES, training=False))  # Keras 3.15: identity
    with kbridge.backend.use(backend):
        layer = L.RandomCrop(6, 5, seed=1)
        drawn = {"top": ops.convert_to_tensor(np.int32(1)),
                 "left": ops.convert_to_tensor(np.int32(2)), "crop_height": 6,
                 "crop_width": 5, "input_height": 8, "input_width": 10}
        np.testing.assert_allclose(to_numpy(layer.transform_images(IMAGES, drawn)), fixed)
        np.testing.assert_allclose(to_numpy(layer(small, training=True)), grown, rtol=1e-5,
                                   atol=1e-3)
        np.testing.assert_allclose(to_numpy(layer.center_crop(IMAGES)), centred,
                                   rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(to_numpy(layer(IMAGES, training=False)), unchanged)
        out = to_numpy(layer(IMAGES, training=True))
        assert out.shape == (3, 6, 5, 3)
        # a random window of the input: found somewhere in image 0
        hits = [(t, l) for t in range(3) for l in range(6)
                if np.allclose(IMAGES[0, t:t + 6, l:l + 5], out[0])]
        assert hits
        assert to_numpy(layer(IMAGES[0], training=True)).shape == (6, 5, 3)


def test_max_num_bounding_boxes_matches_keras(backend):
    keras = keras_module()
    boxes = RNG.rand(2, 3, 4).astype("float32") * 8
    labels = np.array([[1, 2, 3], [4, 5, 6]], "int32")
    for number in (2, 5):
        expected = keras.layers.MaxNumBoundingBoxes(number, bounding_box_format="xyxy")(
            {"images": IMAGES[:2], "bounding_boxes": {"boxes": boxes, "labels": labels}})
        with kbridge.backend.use(backend):
            got = L.MaxNumBoundingBoxes(number, bounding_box_format="xyxy")(
                {"images": IMAGES[:2], "bounding_boxes": {"boxes": boxes, "labels": labels}})
        for key in ("boxes", "labels"):
            np.testing.assert_allclose(to_numpy(got["bounding_boxes"][key]),
                                       np.asarray(expected["bounding_boxes"][key]))


# --- random behaviour: identity at inference, seeds, layouts, statistics ---------------------
RANDOM_LAYERS = [
    lambda **k: L.RandomBrightness(0.3, **k), lambda **k: L.RandomHue(0.3, **k),
    lambda **k: L.RandomSaturation(0.4, **k), lambda **k: L.RandomGrayscale(0.5, **k),
    lambda **k: L.RandomInvert(0.5, **k), lambda **k: L.RandomPosterization((2, 6), **k),
    lambda **k: L.RandomSharpness(0.5, **k), lambda **k: L.RandomColorDegeneration(0.5, **k),
    lambda **k: L.Solarization(0.2, 0.5, **k), lambda **k: L.RandomErasing(**k),
    lambda **k: L.RandomShear(0.2, 0.2, **k), lambda **k: L.RandomPerspective(scale=0.3, **k),
    lambda **k: L.RandomGaussianBlur(sigma=(0.3, 1.0), **k),
    lambda **k: L.RandomElasticTransform(scale=0.5, **k),
    lambda **k: L.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.2,
                                    saturation_factor=0.3, hue_factor=0.2, **k),
    lambda **k: L.MixUp(**k), lambda **k: L.CutMix(**k),
    lambda **k: L.RandAugment(num_ops=2, **k), lambda **k: L.AugMix(chain_depth=2, **k),
]


FAST_SUBSET = ("RandomBrightness", "RandomErasing", "CutMix", "RandomColorJitter")


def test_random_layers_behave(backend):
    # every check on numpy; elsewhere (slow eager dispatch) the seeded draw and inference
    x = IMAGES[:2]
    with kbridge.backend.use(backend):
        for make in RANDOM_LAYERS:
            layer = make(seed=11)
            name = type(layer).__name__
            if backend in ("jax", "tensorflow") and name not in FAST_SUBSET:
                continue  # eager jax/tf compile each new op: a subset keeps the test short
            a = to_numpy(layer(x, training=True))
            assert a.shape == x.shape and np.isfinite(a).all(), name
            assert a.min() >= -1e-3 and a.max() <= 255 + 1e-3, name
            b = to_numpy(make(seed=11)(x, training=True))
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4, err_msg=name)  # seeded
            np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)
            if backend == "numpy" and name not in ("MixUp", "CutMix"):
                    assert to_numpy(layer(x[0], training=True)).shape == x.shape[1:], name


def test_training_unset_means_augment():
    x = IMAGES[:2]
    np.testing.assert_allclose(to_numpy(L.RandomBrightness((0.1, 0.1))(x)),
                               np.minimum(x + 25.5, 255), rtol=1e-6)  # as Keras: on
    model = kbridge.Sequential([kbridge.Input((8, 10, 3)), L.RandomBrightness((0.1, 0.1))])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)  # predict: off


def test_random_statistics():
    x = np.full((200, 1, 1, 3), 100.0, "float32")
    delta = to_numpy(L.RandomBrightness((-0.2, 0.4), seed=1)(x, training=True))[:, 0, 0, 0]
    assert delta.min() >= 100 - 0.2 * 255 - 1e-3 and delta.max() <= 100 + 0.4 * 255 + 1e-3
    assert abs((delta - 100).mean() / 255 - 0.1) < 0.03
    flipped = to_numpy(L.RandomInvert(0.5, seed=1)(x, training=True))[:, 0, 0, 0]
    assert set(np.round(flipped).tolist()) <= {100.0, 155.0}
    assert 0.15 < (np.round(flipped) == 155).mean() < 0.35  # P = E[u2 < u1 ~ U(0, .5)] = .25
    gray = to_numpy(L.RandomGrayscale(0.3, seed=2)(UNIT[:, :2, :2].repeat(40, 0),
                                                   training=True))
    share = np.mean(np.all(np.isclose(gray[..., :1], gray), axis=(1, 2, 3)))
    assert 0.15 < share < 0.45
    mixed = to_numpy(L.MixUp(0.5, seed=4)({"images": x, "labels": np.eye(4)[np.arange(200) % 4]},
                                          training=True)["labels"])
    np.testing.assert_allclose(mixed.sum(-1), 1.0, rtol=1e-5)


def test_channels_first_matches_channels_last(backend):
    first = np.transpose(IMAGES, (0, 3, 1, 2))
    with kbridge.backend.use(backend):
        for name, args in [("RandomSharpness", dict(factor=(0.8, 0.8))),
                           ("ContrastLimitedAdaptiveHistogramEqualization", {}),
                           ("RandomHue", dict(factor=(0.3, 0.3))),
                           ("RandomCrop", dict(height=6, width=5))]:
            last = getattr(L, name)(seed=1, **args) if name.startswith("Random") else \
                getattr(L, name)(**args)
            cf = getattr(L, name)(data_format="channels_first", **args)
            if name.startswith("Random"):
                cf = getattr(L, name)(seed=1, data_format="channels_first", **args)
            want = to_numpy(last(IMAGES, training=True))
            got = to_numpy(cf(first, training=True))
            np.testing.assert_allclose(np.transpose(got, (0, 2, 3, 1)), want, rtol=1e-5,
                                       atol=1e-3, err_msg=name)


# --- configs ------------------------------------------------------------------------------------
CONFIG_CASES = [
    ("RandomCrop", dict(height=4, width=4)), ("RandomBrightness", dict(factor=0.2)),
    ("RandomHue", dict(factor=0.2)), ("RandomSaturation", dict(factor=0.2)),
    ("RandomGrayscale", {}), ("RandomErasing", {}), ("RandomPerspective", {}),
    ("RandomShear", dict(x_factor=0.1)), ("RandomSharpness", dict(factor=0.2)),
    ("RandomInvert", {}), ("RandomPosterization", dict(factor=4)),
    ("RandomGaussianBlur", {}), ("RandomElasticTransform", {}),
    ("RandomColorJitter", dict(brightness_factor=0.1)),
    ("RandomColorDegeneration", dict(factor=0.2)), ("AugMix", {}), ("RandAugment", {}),
    ("CutMix", {}), ("MixUp", {}), ("AutoContrast", {}), ("Equalization", {}),
    ("Solarization", {}), ("ContrastLimitedAdaptiveHistogramEqualization", {}),
    ("MaxNumBoundingBoxes", dict(max_number=3)),
]


def test_configs_match_keras_and_round_trip():
    keras = keras_module()
    for name, args in CONFIG_CASES:
        layer = getattr(L, name)(**args)
        config = layer.get_config()
        theirs = getattr(keras.layers, name)(**args).get_config()
        # kbridge also saves MaxNumBoundingBoxes's fill_value (Keras drops it)
        extra = {"fill_value"} if name == "MaxNumBoundingBoxes" else set()
        assert set(config) - extra == set(theirs), (name, set(config) ^ set(theirs))
        for key in (set(config) & set(theirs)) - {"name", "dtype", "seed"}:
            if isinstance(theirs[key], (str, bool, type(None))):
                assert config[key] == theirs[key], (name, key)
            else:
                np.testing.assert_allclose(np.asarray(config[key], float),
                                           np.asarray(theirs[key], float),
                                           err_msg=f"{name}.{key}")
        clone = type(layer).from_config(config)
        assert clone.get_config() == config, name


def test_pipeline():
    pipe = L.Pipeline([L.RandomFlip(seed=1), L.RandomBrightness(0.2, seed=2),
                       L.AutoContrast()])
    out = to_numpy(pipe(IMAGES, training=True))
    assert out.shape == IMAGES.shape and out.min() >= 0 and out.max() <= 255
    # training=False reaches the layers: only AutoContrast acts
    np.testing.assert_allclose(to_numpy(pipe(IMAGES, training=False)),
                               to_numpy(L.AutoContrast()(IMAGES)), rtol=1e-6)
    clone = L.Pipeline.from_config(pipe.get_config())
    assert [type(layer).__name__ for layer in clone.layers] == [
        "RandomFlip", "RandomBrightness", "AutoContrast"]
    assert L.Pipeline([L.RandomCrop(4, 4)])(kbridge.Input((8, 8, 3))).shape == (None, 4, 4, 3)


def test_symbolic_shapes():
    img = kbridge.Input((8, 10, 3))
    assert L.RandomCrop(4, 6)(img).shape == (None, 4, 6, 3)
    assert L.RandAugment()(img).shape == (None, 8, 10, 3)
    assert L.MixUp()(img).shape == (None, 8, 10, 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="factor"):
        L.RandomHue(1.5)
    with pytest.raises(ValueError, match="value_range"):
        L.RandomBrightness(0.1, value_range=5)
    with pytest.raises(ValueError, match="kernel_size"):
        L.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match="rank"):
        L.RandomBrightness(0.1)(np.zeros((2, 2), "float32"))
    with pytest.raises(ValueError, match="bounding_box_format"):
        L.RandomFlip()({"images": IMAGES, "bounding_boxes": {"boxes": np.zeros((3, 1, 4)),
                                                              "labels": np.zeros((3, 1))}})


# --- training and tf.data -----------------------------------------------------------------------
def test_augmentation_inside_fit(trainable_backend):
    x = (RNG.rand(8, 12, 12, 3) * 255).astype("float32")
    y = RNG.randint(0, 2, 8)
    augment = [L.RandomCrop(10, 10, seed=1), L.RandomFlip(seed=2),
               L.RandomRotation(0.1, seed=3),  # affine_transform inside a traced step
               L.RandomColorJitter(brightness_factor=0.1, hue_factor=0.1, seed=5),
               L.MixUp(seed=7)]
    if trainable_backend == "torch":
        # eager: cheap to run everything (under jit / tf.function these compile for seconds
        # each; they were checked there by hand)
        augment += [L.RandAugment(num_ops=1, seed=9), L.RandomErasing(seed=4),
                    L.RandomGaussianBlur(seed=6), L.RandomPerspective(seed=8),
                    L.RandomElasticTransform(seed=3)]
    # pooling, not Flatten: RandomCrop passes images unchanged at inference (as Keras)
    model = kbridge.Sequential([kbridge.Input((12, 12, 3))] + augment +
                               [L.Rescaling(1 / 255), L.GlobalAveragePooling2D(), L.Dense(2)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    seed_before = np.array(to_numpy(model.layers[1].seed_generator.state), copy=True)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    # the draws came from the layers' seed state, which the steps advanced
    assert not np.array_equal(to_numpy(model.layers[1].seed_generator.state), seed_before)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("owner", ["jax", "torch"])
def test_augmentation_in_tf_data(owner):
    tf = pytest.importorskip("tensorflow")
    if owner not in kbridge.backend.available():
        pytest.skip(f"{owner} is not installed")
    x = (RNG.rand(4, 12, 12, 3) * 255).astype("float32")
    with kbridge.backend.use(owner):
        layers = [L.RandomCrop(8, 8, seed=1), L.RandomColorJitter(hue_factor=0.1, seed=3)]
        if owner == "jax":
            layers += [L.RandomBrightness(0.2, seed=2), L.Equalization()]
    pipe = L.Pipeline(layers)
    batched = tf.data.Dataset.from_tensor_slices(x).batch(2).map(pipe)
    first = np.concatenate([b.numpy() for b in batched])
    second = np.concatenate([b.numpy() for b in batched])
    assert first.shape == (4, 8, 8, 3) and np.isfinite(first).all()
    assert not np.allclose(first, second)  # new draws each epoch: the state lives in TF
    single = tf.data.Dataset.from_tensor_slices(x).map(L.RandomFlip(seed=1))
    assert [e.shape for e in single] == [(12, 12, 3)] * 4


# --- bounding boxes -----------------------------------------------------------------------------
BOXES = np.array([[[1.0, 2.0, 6.0, 7.0], [0.0, 0.0, 3.0, 9.0]],
                  [[4.0, 1.0, 9.0, 5.0], [2.0, 3.0, 2.5, 4.0]]], "float32")


def test_bounding_box_utils_match_keras(backend):
    keras = keras_module()
    ours, theirs = kbridge.utils.bounding_boxes, keras.utils.bounding_boxes
    formats = ["xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx",
               "rel_xywh", "rel_center_xywh"]
    boxes = ops.convert_to_tensor(BOXES)
    pairs = [(f, "xyxy") for f in formats] + [("xyxy", f) for f in formats] + [
        ("rel_xywh", "rel_center_xywh"), ("center_yxhw", "rel_yxyx")]
    if backend == "jax":  # eager jax compiles every op: fewer pairs
        pairs = pairs[::4]
    for source, target in pairs:
        got = ours.convert_format(boxes, source, target, height=8, width=10)
        want = theirs.convert_format(BOXES.copy(), source, target, height=8, width=10)
        np.testing.assert_allclose(to_numpy(got), np.asarray(want), rtol=1e-5, atol=1e-5)
    labels = np.array([[1, 2], [3, 4]], "int32")
    clipped = ours.clip_to_image_size({"boxes": boxes, "labels": labels}, 5, 5)
    want = theirs.clip_to_image_size({"boxes": BOXES.copy(), "labels": labels}, 5, 5)
    for key in ("boxes", "labels"):
        np.testing.assert_allclose(to_numpy(clipped[key]), np.asarray(want[key]))
    np.testing.assert_allclose(to_numpy(ours.crop(boxes, 1, 2, 5, 6)),
                               np.asarray(theirs.crop(BOXES.copy(), 1, 2, 5, 6)))
    np.testing.assert_allclose(to_numpy(ours.pad(boxes, 1, 2)),
                               np.asarray(theirs.pad(BOXES.copy(), 1, 2)))
    angle, shift = np.array([10.0, -30.0], "float32"), np.array([0.1, -0.2], "float32")
    scale, shear = np.array([1.1, 0.9], "float32"), np.array([5.0, 0.0], "float32")
    np.testing.assert_allclose(
        to_numpy(ours.affine_transform(boxes, angle, shift, -shift, scale, shear, -shear, 8,
                                       10)),
        np.asarray(theirs.affine_transform(BOXES.copy(), angle, shift, -shift, scale, shear,
                                           -shear, 8, 10)), rtol=1e-4, atol=1e-4)
    for fmt in ("xyxy", "center_yxhw"):
        np.testing.assert_allclose(
            to_numpy(ours.compute_iou(boxes[0], boxes[1], fmt)),
            np.asarray(theirs.compute_iou(BOXES[0], BOXES[1], fmt)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        to_numpy(ours.compute_iou(boxes - 1.5, boxes, "xyxy", use_masking=True)),
        np.asarray(theirs.compute_iou(BOXES - 1.5, BOXES, "xyxy", use_masking=True)),
        rtol=1e-5, atol=1e-6)
    flipped = ops.convert_to_tensor(BOXES[::-1].copy())
    np.testing.assert_allclose(to_numpy(ours.compute_ciou(boxes, flipped, "xyxy")),
                               np.asarray(theirs.compute_ciou(BOXES, BOXES[::-1], "xyxy")),
                               rtol=1e-4, atol=1e-5)
    anchors = BOXES[::-1] + 0.5
    deltas = ours.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", variance=[.1, .1, .2, .2])
    np.testing.assert_allclose(
        to_numpy(deltas), np.asarray(theirs.encode_box_to_deltas(
            anchors, BOXES, "xyxy", "xyxy", variance=[.1, .1, .2, .2])), rtol=1e-4, atol=1e-5)
    back = ours.decode_deltas_to_boxes(anchors, deltas, "xyxy", "xyxy",
                                       variance=[.1, .1, .2, .2])
    np.testing.assert_allclose(to_numpy(back), BOXES, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="height"):
        ours.convert_format(boxes, "xyxy", "rel_xyxy")


def test_layer_boxes_match_keras(backend):
    keras = keras_module()
    labels = np.array([[1, 2], [3, 4]], "int32")
    images = IMAGES[:2]

    def data():
        return {"images": images.copy(), "labels": np.eye(2, dtype="float32"),
                "bounding_boxes": {"boxes": BOXES.copy(), "labels": labels.copy()}}

    def keras_draws_both_apply(make, seed, keys, atol, sizes=None):
        """``make(keras.layers, ...)`` draws a transformation and applies it to the boxes;
        ``make(L, ...)`` applies its ``keys`` (with the image ``sizes``) too."""
        klayer = make(keras.layers, bounding_box_format="xyxy", seed=seed)
        drawn = klayer.get_random_transformation(data(), training=True)
        want = klayer.transform_bounding_boxes(data()["bounding_boxes"], drawn, training=True)
        transformation = {k: ops.convert_to_tensor(np.asarray(drawn[k])) for k in keys}
        got = make(L, bounding_box_format="xyxy").transform_bounding_boxes(
            {"boxes": ops.convert_to_tensor(BOXES), "labels": ops.convert_to_tensor(labels)},
            {**transformation, **(sizes or {"height": 8, "width": 10})})
        for key in ("boxes", "labels"):
            np.testing.assert_allclose(to_numpy(got[key]), np.asarray(want[key]), atol=atol)

    keras_draws_both_apply(lambda m, **kw: m.RandomFlip(**kw), 2, ["flips"], 1e-5)
    # RandomCrop at a fixed offset (equal offsets: Keras swaps the axes' offsets, see docs)
    kcrop = keras.layers.RandomCrop(6, 6, bounding_box_format="xyxy")
    want = kcrop.transform_bounding_boxes(data()["bounding_boxes"], (2, 2), training=True)
    got = L.RandomCrop(6, 6, bounding_box_format="xyxy").transform_bounding_boxes(
        {"boxes": ops.convert_to_tensor(BOXES), "labels": labels},
        {"top": 2, "left": 2, "crop_height": 6, "crop_width": 6, "input_height": 8,
         "input_width": 10})
    np.testing.assert_allclose(to_numpy(got["boxes"]), np.asarray(want["boxes"]), atol=1e-5)
    keras_draws_both_apply(lambda m, **kw: m.RandomTranslation(0.3, 0.3, **kw), 4,
                           ["translations"], 1e-4)
    keras_draws_both_apply(lambda m, **kw: m.RandomRotation(0.2, **kw), 5, ["angle"], 1e-3,
                           {"image_height": 8, "image_width": 10})
    keras_draws_both_apply(lambda m, **kw: m.RandomZoom(0.3, (-0.2, 0.4), **kw), 8,
                           ["height_zoom", "width_zoom"], 1e-3)
    keras_draws_both_apply(lambda m, **kw: m.RandomShear(0.3, 0.3, **kw), 6, ["shear_factor"],
                           1e-4)
    keras_draws_both_apply(lambda m, **kw: m.RandomPerspective(scale=0.4, **kw), 7,
                           ["apply_perspective", "start_points", "end_points"], 1e-3)
    # Resizing, each aspect mode, end to end (boxes with a padding row)
    padded = BOXES.copy()
    padded[1, 1] = -1
    for mode in ({}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True}):
        want = keras.layers.Resizing(6, 4, bounding_box_format="xyxy", **mode)(
            {"images": images.copy(), "bounding_boxes": {"boxes": padded.copy(),
                                                         "labels": labels.copy()}})
        got = L.Resizing(6, 4, bounding_box_format="xyxy", **mode)(
            {"images": images, "bounding_boxes": {"boxes": padded, "labels": labels}})
        for key in ("boxes", "labels"):
            np.testing.assert_allclose(to_numpy(got["bounding_boxes"][key]),
                                       np.asarray(want["bounding_boxes"][key]), atol=1e-4,
                                       err_msg=str(mode))
        np.testing.assert_allclose(to_numpy(got["images"]), np.asarray(want["images"]),
                                   rtol=1e-4, atol=1e-3)
    # CenterCrop, larger and smaller than the images, end to end
    for size in ((6, 6), (9, 12)):
        want = keras.layers.CenterCrop(*size, bounding_box_format="xyxy")(data())
        got = L.CenterCrop(*size, bounding_box_format="xyxy")(data())
        for key in ("boxes", "labels"):
            np.testing.assert_allclose(to_numpy(got["bounding_boxes"][key]),
                                       np.asarray(want["bounding_boxes"][key]), atol=1e-4)
        np.testing.assert_allclose(to_numpy(got["images"]), np.asarray(want["images"]),
                                   rtol=1e-4, atol=1e-3)
    # a whole call: images and boxes move together; unbatched too
    out = L.RandomFlip("horizontal", bounding_box_format="xyxy", seed=3)(data())
    flipped = ~np.isclose(to_numpy(out["images"]), images).all(axis=(1, 2, 3))
    boxes = to_numpy(out["bounding_boxes"]["boxes"])
    mirrored = np.stack([10 - BOXES[..., 2], BOXES[..., 1], 10 - BOXES[..., 0], BOXES[..., 3]],
                        -1)
    np.testing.assert_allclose(boxes, np.where(flipped[:, None, None], mirrored, BOXES),
                               atol=1e-5)
    one = L.RandomCrop(6, 6, bounding_box_format="xyxy", seed=1)(
        {"images": images[0], "bounding_boxes": {"boxes": BOXES[0], "labels": labels[0]}},
        training=True)
    assert to_numpy(one["images"]).shape == (6, 6, 3)
    assert to_numpy(one["bounding_boxes"]["boxes"]).shape == (2, 4)
