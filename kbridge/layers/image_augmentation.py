"""Keras 3's image augmentation layers: colour and intensity (RandomBrightness, RandomHue,
RandomSaturation, RandomGrayscale, RandomInvert, RandomPosterization, RandomSharpness,
RandomColorDegeneration, RandomColorJitter, AutoContrast, Equalization, Solarization,
ContrastLimitedAdaptiveHistogramEqualization), mixing (MixUp, CutMix), policies (RandAugment,
AugMix), MaxNumBoundingBoxes and Pipeline. Geometric layers (RandomCrop, RandomShear, ...) are
in :mod:`kbridge.layers.image_geometry`.

Each layer follows Keras's split: ``get_random_transformation(data, training, seed)`` draws
the per-image parameters from the layer's SeedGenerator, and ``transform_images(images,
transformation, training)`` applies them deterministically, so a transformation drawn once
can be replayed (or compared with Keras's). Inputs are images or Keras's dict of
``images`` / ``labels`` / ``bounding_boxes`` / ``segmentation_masks`` (see
``_ImagePreprocessingLayer`` in :mod:`kbridge.layers.preprocessing`).
"""

import random as _py_random

import numpy as np

from kbridge import ops
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.layers.image_geometry import (RandomCrop, RandomElasticTransform, RandomErasing,
                                          RandomGaussianBlur, RandomPerspective, RandomShear,
                                          _random_box_masks)
from kbridge.layers.layer import Layer
from kbridge.layers.preprocessing import (LayerArgumentError, RandomContrast, RandomRotation,
                                          RandomTranslation, _ImagePreprocessingLayer,
                                          _keras_factor, _masks_as_images,
                                          _RandomImageLayer)

__all__ = [
    "RandomCrop", "RandomBrightness", "RandomHue", "RandomSaturation", "RandomGrayscale",
    "RandomErasing", "RandomPerspective", "RandomShear", "RandomSharpness", "RandomInvert",
    "RandomPosterization", "RandomGaussianBlur", "RandomElasticTransform", "RandomColorJitter",
    "RandomColorDegeneration", "AugMix", "RandAugment", "CutMix", "MixUp", "AutoContrast",
    "Equalization", "Solarization", "ContrastLimitedAdaptiveHistogramEqualization",
    "MaxNumBoundingBoxes", "Pipeline",
]


def _value_range(value_range):
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise LayerArgumentError("`value_range` must be a pair of numbers. "
                                 f"Received: value_range={value_range!r}")
    return sorted(value_range)


def _batch(images):
    return ops.shape(images)[0]


def _per_image(values):
    """(batch,) -> (batch, 1, 1, 1), to broadcast over images."""
    return ops.reshape(values, (-1, 1, 1, 1))


def _channel(images, index, data_format):
    return images[..., index] if data_format == "channels_last" else images[:, index]


def _stack_channels(channels, data_format):
    return ops.stack(channels, axis=-1 if data_format == "channels_last" else 1)


# --- colour and intensity ---------------------------------------------------------------------
class _FactorLayer(_RandomImageLayer):
    """An augmentation drawing from ``factor`` (a pair within ``_factor_bounds``) on images
    in ``value_range``."""

    _factor_bounds = (-1.0, 1.0)

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, self._factor_bounds)
        self.value_range = _value_range(value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomBrightness(_FactorLayer):
    """Adds a random ``delta * (value_range span)`` per image, ``delta`` uniform in
    ``factor``, then clips to ``value_range``.

    Example:
        >>> kbridge.layers.RandomBrightness(0.2, seed=1)(images)   # +-20% of 0..255
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor, value_range, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        images = self._images_of(data)
        shape = (_batch(images), 1, 1, 1)
        if not training:
            return {"rgb_delta": ops.zeros(shape, self.compute_dtype)}
        delta = self._random_uniform(shape, self.factor[0], self.factor[1], seed)
        return {"rgb_delta": delta * (self.value_range[1] - self.value_range[0])}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        images = images + ops.cast(transformation["rgb_delta"], images.dtype)
        return ops.clip(images, self.value_range[0], self.value_range[1])


class RandomHue(_RandomImageLayer):
    """Rotates the hue of each image by a random amount up to ``factor / 2`` of the colour
    wheel (either direction); RGB images in ``value_range``.

    Example:
        >>> kbridge.layers.RandomHue(0.2, value_range=(0, 1), seed=1)(images)
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1))
        self.value_range = value_range

    def get_random_transformation(self, data, training=True, seed=None):
        batch = _batch(self._images_of(data))
        gen = self._generator(seed)
        sign = ops.where(self._random_uniform((batch,), seed=gen) > 0.5, -1.0, 1.0)
        amount = self._random_uniform((batch,), self.factor[0], self.factor[1], gen)
        return {"factor": sign * amount * 0.5}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        images = self._value_range(images, self.value_range, (0, 1))
        shift = ops.reshape(ops.cast(transformation["factor"], images.dtype), (-1, 1, 1))
        hsv = ops.image.rgb_to_hsv(images, data_format=self.data_format)
        hue = _channel(hsv, 0, self.data_format) + shift
        hue = ops.where(hue > 1.0, hue - 1.0, hue)
        hue = ops.where(hue < 0.0, hue + 1.0, hue)
        hsv = _stack_channels([hue, _channel(hsv, 1, self.data_format),
                               _channel(hsv, 2, self.data_format)], self.data_format)
        rgb = ops.clip(ops.image.hsv_to_rgb(hsv, data_format=self.data_format), 0, 1)
        return self._value_range(rgb, (0, 1), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomSaturation(_FactorLayer):
    """Scales the HSV saturation of each image by ``f / (1 - f)``, ``f`` uniform in
    ``factor`` (0.5 keeps it, 0 greys, 1 saturates fully).

    Example:
        >>> kbridge.layers.RandomSaturation((0.2, 0.8), seed=1)(images)
    """

    def get_random_transformation(self, data, training=True, seed=None):
        from kbridge import backend

        batch = _batch(self._images_of(data))
        f = self._random_uniform((batch,), self.factor[0], self.factor[1], seed)
        return {"factor": f / (1.0 - f + backend.epsilon())}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        scale = ops.reshape(ops.cast(transformation["factor"], images.dtype), (-1, 1, 1))
        hsv = ops.image.rgb_to_hsv(images, data_format=self.data_format)
        # Keras clips the scaled saturation to value_range (not to [0, 1]); kept for parity
        sat = ops.clip(_channel(hsv, 1, self.data_format) * scale, self.value_range[0],
                       self.value_range[1])
        hsv = _stack_channels([_channel(hsv, 0, self.data_format), sat,
                               _channel(hsv, 2, self.data_format)], self.data_format)
        return ops.image.hsv_to_rgb(hsv, data_format=self.data_format)


class RandomGrayscale(_RandomImageLayer):
    """Turns each image grey (kept with 3 channels) with probability ``factor``.

    Example:
        >>> kbridge.layers.RandomGrayscale(0.3, seed=1)(images)
    """

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not 0 <= factor <= 1:
            raise LayerArgumentError(f"`factor` must be in [0, 1]. Received: factor={factor}")
        self.factor = factor

    def get_random_transformation(self, data, training=True, seed=None):
        batch = _batch(self._images_of(data))
        return _per_image(self._random_uniform((batch,), seed=seed) < self.factor)

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        gray = ops.image.rgb_to_grayscale(images, data_format=self.data_format)
        return ops.where(transformation, gray, images)

    def get_config(self):
        config = super().get_config()
        config.pop("seed")  # Keras's config has no seed for this layer
        return {**config, "factor": self.factor}


class RandomInvert(_RandomImageLayer):
    """Replaces an image by ``value_range[1] - image`` with a probability drawn from
    ``factor``.

    Example:
        >>> kbridge.layers.RandomInvert(0.5, seed=1)(images)
    """

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1))
        self.value_range = value_range

    def _draw(self, images, gen):
        batch = _batch(images)
        probability = self._random_uniform((batch,), self.factor[0], self.factor[1], gen)
        threshold = self._random_uniform((batch,), seed=gen)
        return {"apply_inversion": threshold < probability}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        flip = _per_image(transformation["apply_inversion"])
        return ops.where(flip, self.value_range[1] - images, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomPosterization(_FactorLayer):
    """Keeps the ``b`` most significant bits of each 8-bit channel, ``b`` drawn in
    ``[1, factor)`` (``factor`` fixed when a single value is given).

    Example:
        >>> kbridge.layers.RandomPosterization(4)(images)   # 4-bit colour
    """

    _factor_bounds = (1, 8)

    def get_random_transformation(self, data, training=True, seed=None):
        from kbridge import random

        batch = _batch(self._images_of(data))
        if self.factor[0] != self.factor[1]:
            bits = random.randint((batch,), self.factor[0], self.factor[1], dtype="int32",
                                  seed=self._generator(seed))
        else:
            bits = ops.zeros((batch,), "int32") + int(self.factor[0])
        return {"shift_factor": 8 - bits}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        shift = _per_image(ops.cast(transformation["shift_factor"], "int32"))
        levels = ops.cast(self._value_range(images, self.value_range, (0, 255)), "int32")
        levels = ops.bitwise_left_shift(ops.bitwise_right_shift(levels, shift), shift)
        return self._value_range(ops.cast(levels, self.compute_dtype), (0, 255),
                                 self.value_range)


def _depthwise_3x3(images, kernel):
    """Per-channel 'same' correlation of NHWC ``images`` with a (3, 3) numpy kernel."""
    channels = images.shape[-1]
    k = np.tile(np.asarray(kernel, np.float32).reshape(3, 3, 1, 1), (1, 1, channels, 1))
    return ops.depthwise_conv(images, ops.cast(k, images.dtype), strides=1, padding="same",
                              data_format="channels_last")


class RandomSharpness(_FactorLayer):
    """Blends each image with a smoothed copy: ``f`` uniform in ``factor``, 0.5 keeps it,
    lower blurs, higher sharpens.

    Example:
        >>> kbridge.layers.RandomSharpness((0.5, 1.0), seed=1)(images)
    """

    _factor_bounds = (0, 1)

    def get_random_transformation(self, data, training=True, seed=None):
        batch = _batch(self._images_of(data))
        return {"factor": self._random_uniform((batch,), self.factor[0], self.factor[1], seed)}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        x = self._channels_last(images)
        amount = _per_image(ops.cast(transformation["factor"] * 2, x.dtype))
        a, b = 1.0 / 13.0, 5.0 / 13.0
        smooth = _depthwise_3x3(x, [[a, a, a], [a, b, a], [a, a, a]])
        x = ops.clip(x + (1.0 - amount) * (smooth - x), self.value_range[0],
                     self.value_range[1])
        return self._restore_format(x)


class RandomColorDegeneration(_FactorLayer):
    """Blends each image towards its greyscale version by ``f`` uniform in ``factor``.

    Example:
        >>> kbridge.layers.RandomColorDegeneration(0.5, seed=1)(images)
    """

    def get_random_transformation(self, data, training=True, seed=None):
        batch = _batch(self._images_of(data))
        return {"factor": self._random_uniform((batch, 1, 1, 1), self.factor[0],
                                               self.factor[1], seed)}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        amount = ops.cast(transformation["factor"], images.dtype)
        gray = ops.image.rgb_to_grayscale(images, data_format=self.data_format)
        return ops.clip(images + amount * (gray - images), self.value_range[0],
                        self.value_range[1])


class RandomColorJitter(_RandomImageLayer):
    """Random brightness, contrast, saturation and hue in turn (each only when its factor
    is given), with the sub-layers' semantics.

    Example:
        >>> kbridge.layers.RandomColorJitter(brightness_factor=0.2, hue_factor=0.1)(images)
    """

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range
        self.brightness_factor = brightness_factor
        self.contrast_factor = contrast_factor
        self.saturation_factor = saturation_factor
        self.hue_factor = hue_factor
        common = dict(value_range=value_range, seed=seed, data_format=data_format,
                      dtype=self.dtype_policy)
        self._steps = []
        if brightness_factor is not None:
            self._steps.append(RandomBrightness(brightness_factor, **common))
        if contrast_factor is not None:
            self._steps.append(RandomContrast(contrast_factor, **common))
        if saturation_factor is not None:
            self._steps.append(RandomSaturation(saturation_factor, **common))
        if hue_factor is not None:
            self._steps.append(RandomHue(hue_factor, **common))

    def get_random_transformation(self, data, training=True, seed=None):
        return None  # each step draws from this layer's generator as it runs

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        gen = self._generator()
        for step in self._steps:
            drawn = step.get_random_transformation(images, training=True, seed=gen)
            images = step.transform_images(images, drawn, training=True)
        return images

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor,
                "saturation_factor": self.saturation_factor, "hue_factor": self.hue_factor}


class AutoContrast(_ImagePreprocessingLayer):
    """Stretches each image's channels so their minimum maps to the bottom of
    ``value_range`` and their maximum to the top (constant channels are left as they are).

    Example:
        >>> kbridge.layers.AutoContrast(value_range=(0, 1))(images)
    """

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = _value_range(value_range)

    def transform_images(self, images, transformation=None, training=True):
        original = images
        x = self._value_range(images, self.value_range, (0, 255))
        # Keras reduces over axes 1 and 2 (height and width in channels_last)
        low = ops.min(x, axis=(1, 2), keepdims=True)
        high = ops.max(x, axis=(1, 2), keepdims=True)
        scale = 255.0 / (high - low)
        x = ops.clip(x * scale - low * scale, 0.0, 255.0)
        x = self._value_range(x, (0, 255), self.value_range)
        return ops.where(ops.isnan(x), original, x)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}


class Equalization(_ImagePreprocessingLayer):
    """Histogram equalisation per channel with ``bins`` bins (the histogram of a channel is
    taken over the whole batch, as in Keras). Applied when ``training`` is True (Keras's
    default); identity otherwise, as in Keras.

    Example:
        >>> kbridge.layers.Equalization(value_range=(0, 255))(images)
    """

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.bins = bins
        self.value_range = _value_range(value_range)

    def _equalize(self, channel):
        bins = self.bins
        if tuple(self.value_range) != (0, 255):
            channel = self._value_range(channel, self.value_range, (0, 255))
        index = ops.clip(ops.cast(channel * (bins - 1) / 255.0, "int32"), 0, bins - 1)
        flat = ops.reshape(index, (-1,))
        hist = ops.segment_sum(ops.ones_like(flat), flat, num_segments=bins)
        cdf = ops.cumsum(hist)
        # the first non-zero cdf value (cdf is non-decreasing, so it is the smallest > 0)
        cdf_min = ops.min(ops.where(cdf > 0, cdf, ops.max(cdf)))
        denominator = cdf[-1] - cdf_min
        denominator = ops.where(denominator == 0, 1, denominator)
        # round((cdf - cdf_min) * 255 / denominator) in integers (half to even, as numpy's
        # float64 round), so every backend gets the same table (needs < 2**31 / 255 pixels)
        scaled = (cdf - cdf_min) * 255
        quotient = ops.floor_divide(scaled, denominator)
        twice_rest = 2 * (scaled - quotient * denominator)
        up = (twice_rest > denominator) | ((twice_rest == denominator) & (quotient % 2 == 1))
        table = ops.cast(ops.clip(quotient + ops.cast(up, quotient.dtype), 0, 255), "float32")
        lookup = ops.cast(ops.clip(channel / 255.0 * (bins - 1), 0, bins - 1), "int32")
        equalized = ops.cast(ops.take(table, lookup), channel.dtype)
        equalized = ops.where(ops.count_nonzero(hist) <= 1, channel, equalized)
        if tuple(self.value_range) != (0, 255):
            equalized = self._value_range(equalized, (0, 255), self.value_range)
        return equalized

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        count = images.shape[-1] if self.data_format == "channels_last" else images.shape[1]
        return _stack_channels([self._equalize(_channel(images, i, self.data_format))
                                for i in range(count)], self.data_format)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "value_range": self.value_range}


class Solarization(_RandomImageLayer):
    """Adds a random amount (``addition_factor`` of 255) and inverts the pixels above a
    random threshold (``threshold_factor`` of 255), on the 0..255 scale.

    Example:
        >>> kbridge.layers.Solarization(threshold_factor=(0.5, 0.5))(images)
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.addition_factor = self._check_factor(addition_factor, "addition_factor")
        self.threshold_factor = self._check_factor(threshold_factor, "threshold_factor")
        self.value_range = _value_range(value_range)

    @staticmethod
    def _check_factor(factor, name):
        values = factor if isinstance(factor, (tuple, list)) else [factor]
        if (len(values) not in (1, 2) or
                any(not isinstance(v, (int, float)) or not 0 <= v <= 1 for v in values)):
            raise LayerArgumentError(f"`{name}` must be a number or a pair in [0, 1]. "
                                     f"Received: {name}={factor!r}")
        return tuple(sorted(factor)) if isinstance(factor, (tuple, list)) else (0, factor)

    def _draw(self, images, gen):
        shape = (_batch(images), 1, 1, 1)
        # Keras scales only the upper end by 255: uniform(low, high * 255)
        additions = self._random_uniform(shape, self.addition_factor[0],
                                         self.addition_factor[1] * 255, gen, self.compute_dtype)
        thresholds = self._random_uniform(shape, self.threshold_factor[0],
                                          self.threshold_factor[1] * 255, gen,
                                          self.compute_dtype)
        return {"additions": additions, "thresholds": thresholds}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        x = self._value_range(images, self.value_range, (0, 255))
        x = ops.clip(x + transformation["additions"], 0, 255)
        x = ops.where(x < transformation["thresholds"], x, 255 - x)
        return self._value_range(x, (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor}


class ContrastLimitedAdaptiveHistogramEqualization(_ImagePreprocessingLayer):
    """CLAHE: equalises histograms per tile of a ``tile_grid_size`` grid, with each bin
    clipped at ``clip_limit`` times the mean count, and interpolates bilinearly between the
    tiles' mappings. Images in ``value_range``; applied in and out of training.

    Example:
        >>> kbridge.layers.ContrastLimitedAdaptiveHistogramEqualization(clip_limit=2.0)(images)
    """

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8),
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = value_range
        self.clip_limit = clip_limit
        self.tile_grid_size = tile_grid_size

    def transform_images(self, images, transformation=None, training=True):
        x = self._channels_last(images)
        x = self._value_range(ops.cast(x, "float32"), self.value_range, (0, 255))
        x = self._value_range(self._clahe(x), (0, 255), self.value_range)
        return self._restore_format(ops.cast(x, images.dtype))

    def _clahe(self, images):
        _, height, width, channels = images.shape
        batch = ops.shape(images)[0]
        grid_h, grid_w = self.tile_grid_size
        tile_h, tile_w = -(-height // grid_h), -(-width // grid_w)
        pad_h, pad_w = tile_h * grid_h - height, tile_w * grid_w - width
        padded = images
        if pad_h or pad_w:
            padded = ops.pad(images, [(0, 0), (0, pad_h), (0, pad_w), (0, 0)], mode="symmetric")
        tiles = ops.reshape(padded, (-1, grid_h, tile_h, grid_w, tile_w, channels))
        tiles = ops.reshape(ops.transpose(tiles, (0, 1, 3, 5, 2, 4)),
                            (-1, grid_h, grid_w, channels, tile_h * tile_w))
        levels = ops.clip(ops.cast(tiles, "int32"), 0, 255)
        hists = ops.sum(ops.one_hot(levels, 256, dtype="float32"), axis=-2)
        if self.clip_limit > 0:
            limit = self.clip_limit * (tile_h * tile_w) / 256.0
            clipped = ops.clip(hists, 0, limit)
            hists = clipped + ops.sum(hists - clipped, axis=-1, keepdims=True) / 256.0
        cdf = ops.cumsum(hists, axis=-1)
        cdf_min = ops.min(cdf, axis=-1, keepdims=True)
        denominator = float(tile_h * tile_w) - cdf_min
        denominator = ops.where(denominator == 0, ops.ones_like(denominator), denominator)
        table = ops.clip((cdf - cdf_min) * 255.0 / denominator, 0, 255)
        # one tile of edge padding around the grid, so border pixels interpolate to the edge
        table = ops.concatenate([table[:, :1], table, table[:, -1:]], axis=1)
        table = ops.concatenate([table[:, :, :1], table, table[:, :, -1:]], axis=2)
        # per output row/column: the two neighbouring tiles (in padded grid units) + weights
        gy = (np.arange(tile_h * grid_h, dtype=np.float32) - tile_h / 2.0) / tile_h + 1.0
        gx = (np.arange(tile_w * grid_w, dtype=np.float32) - tile_w / 2.0) / tile_w + 1.0
        y0, x0 = np.floor(gy), np.floor(gx)
        wy, wx = (gy - y0)[None, :, None, None], (gx - x0)[None, None, :, None]
        y0, y1 = np.clip(y0, 0, grid_h + 1), np.clip(y0 + 1, 0, grid_h + 1)
        x0, x1 = np.clip(x0, 0, grid_w + 1), np.clip(x0 + 1, 0, grid_w + 1)
        stride_x = 256 * channels
        stride_y = stride_x * (grid_w + 2)
        stride_b = stride_y * (grid_h + 2)
        flat = ops.reshape(table, (-1,))
        pixels = ops.cast(ops.clip(padded, 0, 255), "int32")
        base = (ops.reshape(ops.arange(batch, dtype="int32") * stride_b, (-1, 1, 1, 1)) +
                np.arange(channels, dtype=np.int32)[None, None, None, :] * 256 + pixels)

        def look(ys, xs):
            offset = (ys.astype(np.int32)[None, :, None, None] * stride_y +
                      xs.astype(np.int32)[None, None, :, None] * stride_x)
            return ops.take(flat, base + offset)

        top = look(y0, x0) * (1.0 - wx) + look(y0, x1) * wx
        bottom = look(y1, x0) * (1.0 - wx) + look(y1, x1) * wx
        result = top * (1.0 - wy) + bottom * wy
        return result[:, :height, :width, :]

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "clip_limit": self.clip_limit, "tile_grid_size": self.tile_grid_size}


# --- mixing ------------------------------------------------------------------------------------
class MixUp(_RandomImageLayer):
    """MixUp (Zhang et al., 2018): blends each image (and label) with another of the batch,
    weight ``w ~ Beta(alpha, alpha)``: ``w * x + (1 - w) * x[perm]``.

    Example:
        >>> out = kbridge.layers.MixUp(0.2)({"images": images, "labels": one_hot_labels})
    """

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.alpha = alpha

    def get_random_transformation(self, data, training=True, seed=None):
        from kbridge import random

        batch = _batch(self._images_of(data))
        gen = self._generator(seed)
        order = random.shuffle(ops.arange(batch, dtype="int32"), seed=gen)
        weight = random.beta((batch,), self.alpha, self.alpha, seed=gen)
        return {"mix_weight": weight, "permutation_order": order}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        weight = _per_image(ops.cast(transformation["mix_weight"], images.dtype))
        other = ops.take(images, transformation["permutation_order"], axis=0)
        return weight * images + (1.0 - weight) * other

    def transform_labels(self, labels, transformation=None, training=True):
        if not training:
            return labels
        labels = ops.cast(labels, self.compute_dtype)
        weight = ops.reshape(ops.cast(transformation["mix_weight"], labels.dtype), (-1, 1))
        other = ops.take(labels, transformation["permutation_order"], axis=0)
        return weight * labels + (1.0 - weight) * other

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        if not training:
            return bounding_boxes
        order = transformation["permutation_order"]
        boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
        # Keras joins each image's boxes with its partner's along the box axis, and the labels
        # along the batch axis (as it does; kept for parity)
        return {"boxes": ops.concatenate([boxes, ops.take(boxes, order, axis=0)], axis=1),
                "labels": ops.concatenate([labels, ops.take(labels, order, axis=0)], axis=0)}

    def transform_segmentation_masks(self, segmentation_masks, transformation=None,
                                     training=True):
        if not training:
            return segmentation_masks
        weight = _per_image(ops.cast(transformation["mix_weight"], self.compute_dtype))
        masks = ops.cast(segmentation_masks, self.compute_dtype)
        other = ops.take(masks, transformation["permutation_order"], axis=0)
        return weight * masks + (1.0 - weight) * other

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class CutMix(_RandomImageLayer):
    """CutMix (Yun et al., 2019): pastes a random rectangle of another image of the batch
    into each image and mixes the labels by the pasted area. Needs batched images.

    Example:
        >>> out = kbridge.layers.CutMix()({"images": images, "labels": one_hot_labels})
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1))

    def _draw(self, images, gen):
        from kbridge import random

        batch = self._size(images)[0]
        alpha = self._random_uniform((), self.factor[0], self.factor[1], gen,
                                     self.compute_dtype) + 1e-6
        weight = random.beta((batch,), alpha, alpha, seed=gen, dtype=self.compute_dtype)
        ratio = ops.sqrt(1.0 - weight)
        masks, area = _random_box_masks(self, images, ratio, ratio, gen)
        mix_weight = 1.0 - area
        order = random.shuffle(ops.arange(batch, dtype="int32"), seed=gen)
        return {"permutation_order": order, "batch_masks": masks, "mix_weight": mix_weight}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        other = ops.take(images, transformation["permutation_order"], axis=0)
        return ops.where(transformation["batch_masks"], other, images)

    def transform_labels(self, labels, transformation=None, training=True):
        if not training or transformation is None:
            return labels
        weight = ops.reshape(transformation["mix_weight"], (-1, 1))
        other = ops.take(labels, transformation["permutation_order"], axis=0)
        return weight * labels + (1.0 - weight) * other

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        raise LayerArgumentError("CutMix does not transform bounding boxes (nor does Keras).")

    transform_segmentation_masks = _masks_as_images

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


# --- policies ----------------------------------------------------------------------------------
def _policy_layers(owner, names, factor, value_range, interpolation, seed, data_format):
    """The sub-layers of RandAugment / AugMix, by Keras's attribute names."""
    common = dict(seed=seed, data_format=data_format, dtype=owner.dtype_policy)
    colour = dict(value_range=value_range, **common)
    makers = {
        "random_shear": lambda: RandomShear(x_factor=factor, y_factor=factor,
                                            interpolation=interpolation, **common),
        "random_translation": lambda: RandomTranslation(factor, factor,
                                                        interpolation=interpolation, **common),
        "random_rotation": lambda: RandomRotation(factor, interpolation=interpolation,
                                                  **common),
        "random_brightness": lambda: RandomBrightness(factor, **colour),
        "random_color_degeneration": lambda: RandomColorDegeneration(factor, **colour),
        "random_contrast": lambda: RandomContrast(factor, **colour),
        "random_sharpness": lambda: RandomSharpness(factor, **colour),
        "solarization": lambda: Solarization(factor, factor, **colour),
        "random_posterization": lambda: RandomPosterization(max(1, int(8 * factor[1])),
                                                            **colour),
        "auto_contrast": lambda: AutoContrast(value_range=value_range, data_format=data_format,
                                              dtype=owner.dtype_policy),
        "equalization": lambda: Equalization(value_range=value_range, data_format=data_format,
                                             dtype=owner.dtype_policy),
    }
    return {name: makers[name]() for name in names}


def _sub_transformation(layer, images, gen):
    """``layer``'s transformation drawn from ``gen`` (the policy's generator)."""
    if isinstance(layer, _RandomImageLayer):
        return layer.get_random_transformation(images, training=True, seed=gen)
    return None


def _apply_sub(layer, images, drawn):
    return ops.cast(layer.transform_images(images, drawn, training=True), images.dtype)


class RandAugment(_RandomImageLayer):
    """RandAugment (Cubuk et al., 2019): ``num_ops`` operations chosen at random (one choice
    per batch) from 11 geometric and colour augmentations of strength ``factor``.

    Example:
        >>> kbridge.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5)(images)
    """

    _AUGMENT_LAYERS = ("random_shear", "random_translation", "random_rotation",
                       "random_brightness", "random_color_degeneration", "random_contrast",
                       "random_sharpness", "random_posterization", "solarization",
                       "auto_contrast", "equalization")

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear",
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range
        self.num_ops = num_ops
        self.factor = _keras_factor(factor, (0, 1))
        self.interpolation = interpolation
        self._ops = _policy_layers(self, self._AUGMENT_LAYERS, self.factor, value_range,
                                   interpolation, seed, self.data_format)

    def get_random_transformation(self, data, training=True, seed=None):
        from kbridge import random

        if not training:
            return None
        images = self._images_of(data)
        gen = self._generator(seed)
        chosen = random.randint((self.num_ops,), 0, len(self._AUGMENT_LAYERS), seed=gen)
        drawn = {name: _sub_transformation(layer, images, gen)
                 for name, layer in self._ops.items()}
        return {"transforms": drawn, "layer_idxes": chosen}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        chosen = transformation["layer_idxes"]
        for i in range(self.num_ops):
            for index, (name, layer) in enumerate(self._ops.items()):
                out = _apply_sub(layer, images, transformation["transforms"][name])
                images = ops.where(chosen[i] == index, out, images)
        return images

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "num_ops": self.num_ops, "factor": self.factor,
                "interpolation": self.interpolation}


class AugMix(_RandomImageLayer):
    """AugMix (Hendrycks et al., 2020): ``num_chains`` chains of up to ``chain_depth`` random
    operations, mixed with Dirichlet weights and blended with the original by a Beta weight.

    The chains' operations are chosen with Python's ``random`` when the transformation is
    drawn (as in Keras), so they are fixed inside a traced (jit / tf.function) step.

    Example:
        >>> kbridge.layers.AugMix(value_range=(0, 255), seed=1)(images)
    """

    _ALL = ("random_shear", "random_translation", "random_rotation", "random_posterization",
            "solarization", "auto_contrast", "equalization", "random_brightness",
            "random_color_degeneration", "random_contrast", "random_sharpness")

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3,
                 alpha=1.0, all_ops=True, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range
        self.num_chains = num_chains
        self.chain_depth = chain_depth
        self.factor = _keras_factor(factor, (0, 1))
        self.alpha = alpha
        self.all_ops = all_ops
        self.interpolation = interpolation
        names = self._ALL if all_ops else self._ALL[:7]
        self._ops = _policy_layers(self, names, self.factor, value_range, interpolation, seed,
                                   self.data_format)
        self._choices = _py_random.Random(seed)

    def get_random_transformation(self, data, training=True, seed=None):
        from kbridge import random

        if not training:
            return None
        images = self._images_of(data)
        gen = self._generator(seed)
        gammas = random.gamma((self.num_chains,), self.alpha, seed=gen)
        chain_weights = gammas / ops.sum(gammas, axis=-1, keepdims=True)
        weight = random.beta((), self.alpha, self.alpha, seed=gen)
        names = list(self._ops) + [None]
        chains = []
        for _ in range(self.num_chains):
            steps = []
            for _ in range(self.chain_depth):
                name = self._choices.choice(names)
                if name is not None:
                    steps.append((name, _sub_transformation(self._ops[name], images, gen)))
            chains.append(steps)
        return {"chain_mixing_weights": chain_weights, "weight_sample": weight,
                "chain_transforms": chains}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        weights = ops.cast(transformation["chain_mixing_weights"], images.dtype)
        weight = ops.cast(transformation["weight_sample"], images.dtype)
        mixed = ops.zeros_like(images)
        for index, steps in enumerate(transformation["chain_transforms"]):
            chained = images
            for name, drawn in steps:
                chained = _apply_sub(self._ops[name], chained, drawn)
            mixed = mixed + chained * weights[index]
        out = weight * images + (1 - weight) * mixed
        return ops.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "num_chains": self.num_chains, "chain_depth": self.chain_depth,
                "factor": self.factor, "alpha": self.alpha, "all_ops": self.all_ops,
                "interpolation": self.interpolation}


# --- boxes and composition ---------------------------------------------------------------------
class MaxNumBoundingBoxes(_ImagePreprocessingLayer):
    """Pads (with ``fill_value``) or truncates the bounding boxes of each image to exactly
    ``max_number``; images pass through.

    Example:
        >>> out = kbridge.layers.MaxNumBoundingBoxes(10)({"images": images,
        ...                                               "bounding_boxes": boxes})
    """

    def __init__(self, max_number, fill_value=-1, **kwargs):
        super().__init__(**kwargs)
        self.max_number = int(max_number)
        self.fill_value = int(fill_value)

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
        extra = max(self.max_number - boxes.shape[1], 0)
        boxes = ops.pad(boxes[:, :self.max_number], [(0, 0), (0, extra), (0, 0)],
                        constant_values=self.fill_value)
        labels = ops.pad(labels[:, :self.max_number], [(0, 0), (0, extra)],
                         constant_values=self.fill_value)
        return {**bounding_boxes, "boxes": boxes, "labels": labels}

    def compute_output_spec(self, data, training=True):
        out = super().compute_output_spec(data, training)
        if isinstance(data, dict) and "bounding_boxes" in data:
            boxes = data["bounding_boxes"]
            out["bounding_boxes"] = {
                **boxes,
                "boxes": KerasTensor((boxes["boxes"].shape[0], self.max_number, 4),
                                     boxes["boxes"].dtype),
                "labels": KerasTensor((boxes["labels"].shape[0], self.max_number),
                                      boxes["labels"].dtype)}
        return out

    def get_config(self):
        return {**super().get_config(), "max_number": self.max_number,
                "fill_value": self.fill_value}


class Pipeline(Layer):
    """Applies ``layers`` in order (a light Sequential for preprocessing: no model, no
    weights of its own); ``training`` is passed on to the layers that take it.

    Example:
        >>> aug = kbridge.layers.Pipeline([kbridge.layers.RandomFlip(),
        ...                                kbridge.layers.RandomBrightness(0.2)])
    """

    def __init__(self, layers, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._pipeline_layers = list(layers)

    @property
    def layers(self):
        return self._pipeline_layers

    def call(self, inputs, training=True):
        for layer in self._pipeline_layers:
            kwargs = {}
            if training is not None and "training" in layer._signature().parameters:
                kwargs["training"] = training
            inputs = layer(inputs, **kwargs)
        return inputs

    def compute_output_spec(self, inputs, training=True):
        for layer in self._pipeline_layers:
            inputs = layer.compute_output_spec(inputs)
        return inputs

    def get_config(self):
        from kbridge.saving import serialize_keras_object

        return {"name": self.name,
                "layers": [serialize_keras_object(layer) for layer in self._pipeline_layers]}

    @classmethod
    def from_config(cls, config):
        from kbridge.saving import deserialize_keras_object

        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise LayerArgumentError("A Pipeline config needs 'layers': a list of serialized "
                                     f"layers. Received: layers={layers!r}")
        config = dict(config)
        config["layers"] = [deserialize_keras_object(layer) for layer in layers]
        return cls(**config)
