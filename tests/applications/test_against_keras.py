"""Each architecture family: Keras builds it (random init), saves its weights, kbridge loads the
file on every backend and gives Keras's outputs."""

import numpy as np
import pytest

import kbridge
from kbridge import applications

# family: (constructor, kwargs, weights file format). Small inputs Keras allows; one legacy
# ``.h5`` and one ``.weights.h5`` per family is not needed: the formats alternate.
FAMILIES = {
    "resnet": ("ResNet50", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg"),
               "h5"),
    "resnet_v2": ("ResNet50V2", dict(include_top=True, input_shape=(32, 32, 3), classes=3),
                  "weights.h5"),
    "vgg16": ("VGG16", dict(include_top=False, input_shape=(32, 32, 3), pooling="max"),
              "weights.h5"),
    "mobilenet": ("MobileNet", dict(input_shape=(32, 32, 3), alpha=0.25, classes=4), "h5"),
    "mobilenet_v2": ("MobileNetV2", dict(input_shape=(32, 32, 3), alpha=0.35, classes=4),
                     "weights.h5"),
    "mobilenet_v3": ("MobileNetV3Small", dict(input_shape=(32, 32, 3), classes=4), "h5"),
    "efficientnet": ("EfficientNetB0", dict(input_shape=(32, 32, 3), classes=4), "weights.h5"),
    "efficientnet_v2": ("EfficientNetV2B0", dict(include_top=False, input_shape=(32, 32, 3),
                                                 pooling="avg"), "h5"),
    "convnext": ("ConvNeXtTiny", dict(input_shape=(32, 32, 3), classes=4), "weights.h5"),
    "densenet": ("DenseNet121", dict(include_top=False, input_shape=(32, 32, 3),
                                     pooling="max"), "h5"),
    "xception": ("Xception", dict(include_top=False, input_shape=(71, 71, 3), pooling="avg"),
                 "weights.h5"),
    "inception_v3": ("InceptionV3", dict(input_shape=(75, 75, 3), classes=4), "h5"),
    "inception_resnet_v2": ("InceptionResNetV2", dict(include_top=False, input_shape=(75, 75, 3),
                                                      pooling="avg"), "weights.h5"),
    "nasnet": ("NASNetMobile", dict(input_shape=(32, 32, 3), classes=4), "h5"),
}
# Families cheap enough for the default run (on every backend, or on numpy); the rest run
# with KBRIDGE_SLOW_TESTS=1, on every backend.
FAST = {"mobilenet", "mobilenet_v2", "mobilenet_v3"}
FAST_NUMPY = {"efficientnet", "vgg16"}
_CACHE = {}


def _randomize_statistics(model, rng):
    """Non-trivial BatchNorm / Normalization statistics, so loading them is checked too."""
    for layer in model.layers:
        for w in getattr(layer, "weights", []):
            name = w.path.split("/")[-1]
            if name in ("moving_variance", "variance"):
                w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
            elif name in ("moving_mean", "mean", "beta"):
                w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))
            elif name == "gamma":
                w.assign(rng.uniform(0.8, 1.2, w.shape).astype("float32"))


def keras_reference(family, tmp_dir):
    """``(weights file, input, Keras's output)`` for ``family``, built once per session."""
    if family not in _CACHE:
        import keras
        from keras.src.legacy.saving import legacy_h5_format
        import h5py

        fn, kwargs, fmt = FAMILIES[family]
        model = getattr(keras.applications, fn)(weights=None, **kwargs)
        rng = np.random.default_rng(0)
        _randomize_statistics(model, rng)
        path = str(tmp_dir / f"{family}.{fmt}")
        if fmt == "h5":
            with h5py.File(path, "w") as f:
                legacy_h5_format.save_weights_to_hdf5_group(f, model)
        else:
            model.save_weights(path)
        x = rng.uniform(0, 255, (2,) + kwargs["input_shape"]).astype("float32")
        _CACHE[family] = (path, x, np.asarray(model(x, training=False)))
    return _CACHE[family]


def _cases():
    for family in FAMILIES:
        marks = () if family in FAST else (pytest.mark.slow,)
        yield pytest.param(family, "all", marks=marks, id=f"{family}-all-backends")
        if family in FAST_NUMPY:
            yield pytest.param(family, "numpy", id=f"{family}-numpy")


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("application_weights")


@pytest.mark.parametrize("family,backends", list(_cases()))
def test_loads_keras_weights_and_matches_keras(family, backends, weights_dir):
    from tests.conftest import BACKENDS

    path, x, expected = keras_reference(family, weights_dir)
    fn, kwargs, _ = FAMILIES[family]
    for name in (BACKENDS if backends == "all" else ["numpy"]):
        with kbridge.backend.use(name):
            model = getattr(getattr(applications, family), fn)(weights=path, **kwargs)
            out = kbridge.ops.convert_to_numpy(model(x, training=False))
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(out, expected, atol=1e-4 * scale, rtol=1e-4,
                                   err_msg=f"{fn} on {name}")


def test_model_load_weights_reads_keras_weights_file(weights_dir):
    """``Model.load_weights`` (kbridge.saving) reads the same Keras ``.weights.h5`` file."""
    path, x, expected = keras_reference("mobilenet_v2", weights_dir)
    fn, kwargs, _ = FAMILIES["mobilenet_v2"]
    with kbridge.backend.use("numpy"):
        model = getattr(applications, fn)(weights=None, **kwargs)
        model.load_weights(path)
        out = kbridge.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)
