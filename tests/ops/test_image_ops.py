"""image ops: every backend vs the numpy backend, plus hand-computed checks of the reference."""

import functools

import numpy as np
import pytest

import kbridge
from kbridge.ops import image
from tests.ops.harness import Case, case_tests, rand

IMG = rand(2, 7, 9, 3, low=0.0, high=1.0)
IMG1 = rand(6, 5, 3, low=0.0, high=1.0, seed=1)
IMG_CF = np.ascontiguousarray(np.transpose(IMG, (0, 3, 1, 2)))
UINT8 = rand(2, 6, 8, 3, dtype="uint8", low=0, high=255)
TRANSFORM = np.array([[1.1, 0.2, -1.0, 0.1, 0.9, 0.47, 0.0, 0.0],
                      [0.9, -0.1, 1.13, 0.2, 1.05, -0.31, 0.01, -0.02]], "float32")
COORDS = rand(2, 4, 4, low=-2.3, high=7.7, seed=5)


def _op(name, **fixed):
    """``kbridge.ops.image.<name>`` (image ops are not exported flat)."""
    fn = getattr(image, name)
    return functools.partial(fn, **fixed) if fixed else fn


def C(name, *args, **kwargs):
    return Case(name, *args, _fn=_op(name), **kwargs)


CASES = [
    C("resize", IMG, (4, 5)),
    C("resize", IMG, (13, 11), _id="up"),
    C("resize", IMG1, (3, 8), _id="unbatched"),
    C("resize", IMG_CF, (4, 5), data_format="channels_first", _id="channels-first"),
    C("resize", IMG, (4, 5), interpolation="nearest", _id="nearest", _grad=False),
    C("resize", IMG, (13, 11), interpolation="nearest", _id="nearest-up", _grad=False),
    C("resize", IMG, (4, 5), antialias=True, _id="antialias"),
    C("resize", IMG, (5, 6), interpolation="bicubic", _id="bicubic"),
    C("resize", IMG, (5, 12), interpolation="lanczos3", antialias=True, _id="lanczos3"),
    C("resize", IMG, (4, 8), crop_to_aspect_ratio=True, _id="crop-aspect"),
    C("resize", IMG, (8, 4), pad_to_aspect_ratio=True, fill_value=0.5, _id="pad-aspect"),
    C("resize", UINT8, (4, 5), _id="uint8"),
    C("affine_transform", IMG, TRANSFORM),
    C("affine_transform", IMG1, TRANSFORM[0], interpolation="nearest", _id="nearest", _grad=False),
    C("affine_transform", IMG, TRANSFORM, fill_mode="reflect", _id="reflect"),
    C("affine_transform", IMG, TRANSFORM, fill_mode="wrap", _id="wrap"),
    C("affine_transform", IMG, TRANSFORM, fill_mode="mirror", _id="mirror"),
    C("affine_transform", IMG, TRANSFORM, fill_mode="nearest", _id="fill-nearest"),
    C("affine_transform", IMG_CF, TRANSFORM, fill_value=0.5, data_format="channels_first",
      _id="channels-first"),
    # non-integer points: at integer sample positions the bilinear gradient has a kink
    C("perspective_transform", IMG, np.array([[0.3, 0.2], [8.1, 0.4], [0.2, 5.7], [7.9, 6.2]],
                                             "float32"),
      np.array([[1.1, 0.1], [7.2, 1.3], [0.4, 5.1], [8.3, 5.9]], "float32"), _rtol=1e-4,
      _atol=1e-5),
    C("map_coordinates", rand(5, 6, seed=2), COORDS, 1),
    C("map_coordinates", rand(5, 6, seed=2), COORDS, 0, _id="order0", _grad=False),
    *[C("map_coordinates", rand(5, 6, seed=2), COORDS, 1, fill_mode=m, fill_value=0.7, _id=m)
      for m in ("nearest", "wrap", "mirror", "reflect")],
    C("rgb_to_grayscale", IMG),
    C("rgb_to_grayscale", IMG_CF, data_format="channels_first", _id="channels-first"),
    C("rgb_to_grayscale", UINT8, _id="uint8"),
    C("rgb_to_hsv", IMG),
    C("hsv_to_rgb", IMG),
    C("hsv_to_rgb", IMG_CF, data_format="channels_first", _id="channels-first"),
    C("pad_images", IMG, 1, 2, target_height=10, right_padding=1),
    C("pad_images", IMG1, None, 0, 2, None, 9, 7, _id="targets"),
    C("crop_images", IMG, 1, 2, target_height=4, right_cropping=1),
    C("crop_images", IMG_CF, None, 1, 1, None, 5, 6, data_format="channels_first", _id="cf"),
    C("extract_patches", IMG, (2, 3)),
    C("extract_patches", IMG, 2, strides=1, padding="same", _id="same"),
    C("extract_patches", IMG, (2, 2), strides=(1, 2), dilation_rate=2, _id="dilated"),
    C("extract_patches", IMG_CF, 2, data_format="channels_first", _id="channels-first"),
    C("extract_patches", IMG1, 3, _id="unbatched"),
    C("extract_patches_3d", rand(1, 4, 6, 6, 2, seed=3), (2, 3, 2)),
    C("gaussian_blur", IMG),
    C("gaussian_blur", IMG, (3, 5), (1.0, 2.0), _id="anisotropic"),
    C("gaussian_blur", IMG_CF, 5, 1.5, data_format="channels_first", _id="channels-first"),
    C("sobel_edges", IMG),
    C("ssim", IMG, IMG * 0.8 + 0.1, filter_size=3),
    C("ssim", IMG1, np.flip(IMG1, 0).copy(), filter_size=5, _id="unbatched"),
    C("scale_and_translate", IMG, (2, 5, 4, 3), np.array([0.7, 0.5], "float32"),
      np.array([0.3, -0.2], "float32"), (1, 2), "linear", _grad=False),
    C("scale_and_translate", IMG, (2, 9, 12, 3), np.array([1.3, 1.5], "float32"),
      np.array([0.0, 0.5], "float32"), (1, 2), "cubic", antialias=False, _id="cubic",
      _grad=False),
    C("elastic_transform", IMG, 5.0, 2.0, seed=3, _rtol=1e-4, _atol=1e-5),
]


test_matches_numpy, test_symbolic, test_gradients_agree = case_tests(CASES)


# ---------------------------------------------------------------- the numpy reference itself

def _np(fn, *args, **kwargs):
    with kbridge.backend.use("numpy"):
        return fn(*args, **kwargs)


def test_reference_bilinear_half_pixel():
    # 1x4 -> 1x8: output j samples input (j + 0.5) / 2 - 0.5, clamped to the edges.
    x = np.array([0.0, 1.0, 2.0, 4.0], "float32").reshape(1, 4, 1)
    out = _np(image.resize, x, (1, 8))[0, :, 0]
    np.testing.assert_allclose(out, [0.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 4.0])
    # 4 -> 2: samples at 0.5 and 2.5, i.e. the mean of neighbours (no antialias)
    out = _np(image.resize, x.reshape(4, 1, 1), (2, 1))[:, 0, 0]
    np.testing.assert_allclose(out, [0.5, 3.0])
    # with antialias the kernel is twice as wide: weights 1/4, 3/4, 3/4, 1/4 (normalised)
    out = _np(image.resize, x.reshape(4, 1, 1), (2, 1), antialias=True)[:, 0, 0]
    np.testing.assert_allclose(out, [(0.75 * 0 + 0.75 * 1 + 0.25 * 2) / 1.75,
                                     (0.25 * 1 + 0.75 * 2 + 0.75 * 4) / 1.75], rtol=1e-6)


def test_reference_nearest_and_aspect():
    x = np.arange(6, dtype="float32").reshape(1, 6, 1)
    np.testing.assert_array_equal(_np(image.resize, x, (1, 3), interpolation="nearest")[0, :, 0],
                                  [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(_np(image.resize, x, (1, 4), interpolation="nearest")[0, :, 0],
                                  [0.0, 2.0, 3.0, 5.0])
    x = np.arange(8, dtype="float32").reshape(2, 4, 1)
    # crop to 1:1 keeps the centred 2x2 block
    out = _np(image.resize, x, (2, 2), crop_to_aspect_ratio=True)
    np.testing.assert_array_equal(out[..., 0], [[1.0, 2.0], [5.0, 6.0]])
    # pad to 1:1 adds one row of fill above and below
    out = _np(image.resize, x, (4, 4), pad_to_aspect_ratio=True, fill_value=-1.0)
    np.testing.assert_array_equal(out[[0, 3], :, 0], -np.ones((2, 4)))


def test_reference_against_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = rand(5, 6, seed=2).astype("float64")
    c = rand(2, 10, low=0.2, high=3.8, seed=3).astype("float64")
    for order in (0, 1):
        np.testing.assert_allclose(_np(image.map_coordinates, x, c, order),
                                   ndimage.map_coordinates(x, c, order=order), atol=1e-12)
    img = rand(1, 6, 7, 1, seed=4).astype("float64")
    edges = _np(image.sobel_edges, img)
    np.testing.assert_allclose(edges[0, :, :, 0, 0], ndimage.sobel(img[0, :, :, 0], axis=0))
    np.testing.assert_allclose(edges[0, :, :, 0, 1], ndimage.sobel(img[0, :, :, 0], axis=1))


def test_reference_affine_and_colour():
    x = rand(4, 5, 1, seed=6)
    shift = np.array([1, 0, 1, 0, 1, 0, 0, 0], "float32")  # output (x, y) reads input (x + 1, y)
    out = _np(image.affine_transform, x, shift)
    np.testing.assert_allclose(out[:, :-1], x[:, 1:])
    np.testing.assert_array_equal(out[:, -1], 0.0)
    rgb = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.5]]], "float32")
    hsv = _np(image.rgb_to_hsv, rgb)
    np.testing.assert_allclose(hsv[0], [[0.0, 1.0, 1.0], [1 / 3, 1.0, 1.0], [0.0, 0.0, 0.5]],
                               rtol=1e-6)
    np.testing.assert_allclose(_np(image.hsv_to_rgb, hsv), rgb, atol=1e-6)
    patches = _np(image.extract_patches, np.arange(16.0).reshape(4, 4, 1), 2)
    np.testing.assert_array_equal(patches[0, 1], [2.0, 3.0, 6.0, 7.0])


def test_ssim_of_identical_images_is_one():
    np.testing.assert_allclose(_np(image.ssim, IMG, IMG, filter_size=5), [1.0, 1.0], rtol=1e-6)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="interpolation"):
        _np(image.resize, IMG, (2, 2), interpolation="area")
    with pytest.raises(ValueError, match="exactly two"):
        _np(image.pad_images, IMG, 1, 1)
    with pytest.raises(ValueError, match="rank"):
        _np(image.resize, np.zeros((4, 4)), (2, 2))
