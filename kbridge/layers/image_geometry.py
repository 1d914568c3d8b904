"""Keras 3's geometric and region augmentation layers: RandomCrop, RandomShear,
RandomPerspective, RandomGaussianBlur, RandomElasticTransform and RandomErasing (exported
through :mod:`kbridge.layers.image_augmentation`, which describes the layers' protocol).
"""

import numpy as np

from kbridge import ops
from kbridge.backend.common.geometry import homography_system
from kbridge.layers.preprocessing import (LayerArgumentError, _check_choice, _keras_factor,
                                          _masks_as_images, _RandomImageLayer,
                                          _resized_image_shape, _WarpLayer)

__all__ = []  # exported by kbridge.layers.image_augmentation

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _per_image(values):
    return ops.reshape(values, (-1, 1, 1, 1))


class RandomCrop(_RandomImageLayer):
    """Crops a random ``height x width`` window (one position per batch, as in Keras).

    In training, images not larger than the target in both directions are handled as Keras
    does: a target-sized window from the corner of the largest centred window of the target's
    aspect ratio, resized to the target. At inference (``training=False``) the input passes
    unchanged, as in Keras 3.15 (whose docs describe a centre crop; its symbolic output shape
    is the target's). :meth:`center_crop` gives the documented centre crop.
    Bounding boxes follow the crop.

    Example:
        >>> kbridge.layers.RandomCrop(24, 24, seed=1)(images)      # images: (n, 32, 32, 3)
    """

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.height, self.width = int(height), int(width)

    def get_random_transformation(self, data, training=True, seed=None):
        _, h, w = self._size(self._images_of(data))
        if h is None or w is None:
            raise LayerArgumentError("RandomCrop needs images of known height and width. "
                                     f"Received: height={h}, width={w}")
        if training and h > self.height and w > self.width:
            gen = self._generator(seed)
            top = ops.cast(self._random_uniform((), 0.0, float(h - self.height + 1), gen),
                           "int32")
            left = ops.cast(self._random_uniform((), 0.0, float(w - self.width + 1), gen),
                            "int32")
            return {"top": top, "left": left, "crop_height": self.height,
                    "crop_width": self.width, "input_height": h, "input_width": w}
        # the largest window of the target's aspect ratio, centred
        crop_h = max(min(h, int(float(w * self.height) / self.width)), 1)
        crop_w = max(min(w, int(float(h * self.width) / self.height)), 1)
        top, left = int(float(h - crop_h) / 2), int(float(w - crop_w) / 2)
        if training:
            # Keras's training path for small images: a target-sized window from that
            # corner (cut short by the image edge), resized to the target
            crop_h, crop_w = min(self.height, h - top), min(self.width, w - left)
        return {"top": top, "left": left, "crop_height": crop_h, "crop_width": crop_w,
                "input_height": h, "input_width": w}

    def center_crop(self, images):
        """The largest centred window of the target's aspect ratio, resized to the target."""
        return self._crop(images, self.get_random_transformation(images, training=False))

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        return self._crop(images, transformation)

    def _crop(self, images, transformation):
        top, left = transformation["top"], transformation["left"]
        crop_h, crop_w = transformation["crop_height"], transformation["crop_width"]
        channels_last = self.data_format == "channels_last"
        if isinstance(top, int):
            if channels_last:
                images = images[:, top:top + crop_h, left:left + crop_w, :]
            else:
                images = images[:, :, top:top + crop_h, left:left + crop_w]
        else:  # a drawn (possibly traced) position: a dynamic slice
            shape = list(images.shape)
            zero = ops.zeros((), "int32")
            if channels_last:
                start = ops.stack([zero, top, left, zero])
                shape[1], shape[2] = crop_h, crop_w
            else:
                start = ops.stack([zero, zero, top, left])
                shape[2], shape[3] = crop_h, crop_w
            shape[0] = ops.shape(images)[0]
            images = ops.slice(images, start, shape)
        if (crop_h, crop_w) != (self.height, self.width):
            images = ops.image.resize(images, (self.height, self.width),
                                      data_format=self.data_format)
            images = ops.cast(images, self.compute_dtype)
        return images

    transform_segmentation_masks = _masks_as_images

    def _move_boxes(self, bounding_boxes, transformation):
        from kbridge.utils import bounding_boxes as bb

        h, w = transformation["input_height"], transformation["input_width"]
        boxes = self._boxes_as(bounding_boxes, "xyxy", h, w)
        top = ops.cast(transformation["top"], boxes.dtype)
        left = ops.cast(transformation["left"], boxes.dtype)
        x1, y1, x2, y2 = ops.split(boxes, 4, axis=-1)
        sy = self.height / transformation["crop_height"]
        sx = self.width / transformation["crop_width"]
        # Keras 3.15 subtracts the vertical offset from x and the horizontal one from y (its
        # bug); kbridge moves each axis by its own offset, then keeps boxes >= 0 as Keras.
        boxes = ops.concatenate([ops.maximum(x1 - left, 0) * sx, ops.maximum(y1 - top, 0) * sy,
                                 ops.maximum(x2 - left, 0) * sx, ops.maximum(y2 - top, 0) * sy],
                                axis=-1)
        boxes = bb.convert_format(boxes, "xyxy", self.bounding_box_format, height=self.height,
                                  width=self.width)
        return {**bounding_boxes, "boxes": boxes}

    _output_image_shape = _resized_image_shape

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomShear(_WarpLayer):
    """Shears images along x and/or y by random amounts in ``x_factor`` / ``y_factor``
    (fractions; the direction is random too).

    Example:
        >>> kbridge.layers.RandomShear(x_factor=0.2, seed=1)(images)
    """

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.x_factor = self._factor(x_factor, "x_factor")
        self.y_factor = self._factor(y_factor, "y_factor")
        _check_choice(fill_mode, _FILL_MODES, "fill_mode")
        _check_choice(interpolation, ("nearest", "bilinear"), "interpolation")
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.interpolation = interpolation

    @staticmethod
    def _factor(factor, name):
        # a number in [0, 1], or a pair in [-1, 1] (what get_config saves)
        pair = isinstance(factor, (tuple, list))
        values = factor if pair else [factor]
        low = -1 if pair else 0
        if (len(values) not in (1, 2) or
                any(not isinstance(v, (int, float)) or not low <= v <= 1 for v in values)):
            raise LayerArgumentError(f"`{name}` must be a number in [0, 1] or a pair in "
                                     f"[-1, 1]. Received: {name}={factor!r}")
        if pair:
            return tuple(sorted(factor))
        return (-abs(factor), abs(factor))

    def _draw(self, images, gen):
        batch = ops.shape(images)[0]
        dtype = self.compute_dtype
        sign = ops.where(self._random_uniform((batch, 1), seed=gen, dtype=dtype) > 0.5, -1.0,
                         1.0)
        shear_y = self._random_uniform((batch, 1), *self.y_factor, gen, dtype)
        shear_x = self._random_uniform((batch, 1), *self.x_factor, gen, dtype)
        _, h, w = self._size(images)
        return {"shear_factor": ops.cast(ops.concatenate([shear_x, shear_y], axis=1) * sign,
                                         dtype), "height": h, "width": w}

    def _warp(self, images, transformation, interpolation):
        shear = ops.cast(transformation["shear_factor"], "float32")
        ones, zeros = ops.ones_like(shear[:, :1]), ops.zeros_like(shear[:, :1])
        # concatenated columns, not a stack (see _AffineLayer._transform)
        matrix = ops.concatenate([ones, shear[:, :1], zeros, shear[:, 1:], ones, zeros, zeros,
                                  zeros], axis=1)
        out = ops.image.affine_transform(images, matrix, interpolation=interpolation,
                                         fill_mode=self.fill_mode, fill_value=self.fill_value,
                                         data_format=self.data_format)
        return ops.cast(out, images.dtype)

    def _move_boxes(self, bounding_boxes, transformation):
        h, w = transformation["height"], transformation["width"]
        boxes = self._boxes_as(bounding_boxes, "rel_xyxy", h, w)
        shear = ops.cast(transformation["shear_factor"], boxes.dtype)
        sx, sy = shear[:, 0:1], shear[:, 1:2]  # (batch, 1): broadcast over the boxes
        x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
        # as Keras: each corner moves by the shear of the relative coordinates, taking the
        # extreme of the two candidate edges
        x1, x2 = (ops.where(sx < 0, x1 - sx * y1, x1 - sx * y2),
                  ops.where(sx < 0, x2 - sx * y2, x2 - sx * y1))
        y1, y2 = (ops.where(sy > 0, y1 - sy * x2, y1 - sy * x1),
                  ops.where(sy > 0, y2 - sy * x1, y2 - sy * x2))
        boxes = ops.stack([x1, y1, x2, y2], axis=-1)
        return self._clipped_boxes(bounding_boxes, boxes, "rel_xyxy", h, w, "rel_xyxy")

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomPerspective(_WarpLayer):
    """With a probability drawn from ``factor``, moves each image corner by up to
    ``scale / 2`` of its coordinates and warps the image to match.

    Example:
        >>> kbridge.layers.RandomPerspective(factor=0.5, scale=0.3, seed=1)(images)
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0,
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1))
        if not 0.0 <= scale <= 1.0:
            raise LayerArgumentError(f"`scale` must be in [0, 1]. Received: scale={scale}")
        _check_choice(interpolation, ("nearest", "bilinear"), "interpolation")
        self.scale = scale
        self.fill_value = fill_value
        self.interpolation = interpolation

    def _draw(self, images, gen):
        batch, h, w = self._size(images)
        probability = self._random_uniform((batch,), self.factor[0], self.factor[1], gen)
        apply = self._random_uniform((batch,), seed=gen) < probability
        jitter = self._random_uniform((batch, 4, 2), -0.5 * self.scale, 0.5 * self.scale, gen,
                                      self.compute_dtype)
        corners = np.array([[[0.0, 0.0], [w - 1, 0.0], [0.0, h - 1], [w - 1, h - 1]]],
                           np.float32)
        start = ops.zeros_like(jitter) + corners
        return {"apply_perspective": apply, "start_points": start,
                "end_points": start + start * jitter, "height": h, "width": w}

    def _warp(self, images, transformation, interpolation):
        out = ops.image.perspective_transform(
            images, transformation["start_points"], transformation["end_points"],
            interpolation=interpolation, fill_value=self.fill_value,
            data_format=self.data_format)
        return ops.where(_per_image(transformation["apply_perspective"]),
                         ops.cast(out, images.dtype), images)

    def _move_boxes(self, bounding_boxes, transformation):
        h, w = transformation["height"], transformation["width"]
        boxes = self._boxes_as(bounding_boxes, "xyxy", h, w)
        # the image samples input = H(output) with H from the end to the start points; boxes
        # go the other way: the homography from the start to the end points
        forward = _homography(ops.cast(transformation["end_points"], boxes.dtype),
                              ops.cast(transformation["start_points"], boxes.dtype))
        m = forward[:, None, :]  # (batch, 1, 8): broadcast over the boxes
        x0, y0, x1, y1 = (boxes[..., i] for i in range(4))
        xs, ys = [], []
        for x, y in ((x0, y0), (x1, y1), (x0, y1), (x1, y0)):
            k = m[..., 6] * x + m[..., 7] * y + 1.0
            xs.append((m[..., 0] * x + m[..., 1] * y + m[..., 2]) / k)
            ys.append((m[..., 3] * x + m[..., 4] * y + m[..., 5]) / k)
        xs, ys = ops.stack(xs, axis=-1), ops.stack(ys, axis=-1)
        moved = ops.stack([ops.min(xs, axis=-1), ops.min(ys, axis=-1), ops.max(xs, axis=-1),
                           ops.max(ys, axis=-1)], axis=-1)
        apply = ops.reshape(transformation["apply_perspective"], (-1, 1, 1))
        boxes = ops.where(apply, moved, boxes)
        return self._clipped_boxes(bounding_boxes, boxes, "xyxy", h, w)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


def _homography(source, target):
    """(batch, 8) coefficients of the homography taking the four ``target`` points
    (batch, 4, 2) to the ``source`` points (see ``homography_system``)."""
    matrix, rhs = homography_system(ops, source, target)
    return ops.solve(matrix, rhs[..., None])[..., 0]


def _gaussian_taps(size, sigma):
    """Normalised 1-D Gaussian of ``size`` taps for a (possibly traced) scalar ``sigma``."""
    x = ops.convert_to_tensor(np.arange(size, dtype=np.float32) - (size - 1) / 2.0)
    taps = ops.exp(-0.5 * (x / sigma) ** 2)
    return taps / ops.sum(taps)


def _blur(images, kernel_size, sigma_x, sigma_y):
    """Zero-padded per-channel Gaussian blur of NHWC ``images`` (kernel ``(kx, ky)``)."""
    kx = _gaussian_taps(kernel_size[0], sigma_x)
    ky = _gaussian_taps(kernel_size[1], sigma_y)
    kernel = ops.expand_dims(ky, 1) * ops.expand_dims(kx, 0)  # (kh, kw)
    channels = images.shape[-1]
    kernel = ops.tile(ops.reshape(kernel, (kernel_size[1], kernel_size[0], 1, 1)),
                      (1, 1, channels, 1))
    return ops.depthwise_conv(images, ops.cast(kernel, images.dtype), strides=1,
                              padding="same", data_format="channels_last")


class RandomGaussianBlur(_RandomImageLayer):
    """Blurs each image, with a probability drawn from ``factor``, by a Gaussian of
    ``kernel_size`` and a standard deviation drawn from ``sigma`` (one per batch).

    Example:
        >>> kbridge.layers.RandomGaussianBlur(factor=0.5, kernel_size=5, sigma=(0.5, 2.0))(x)
    """

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1))
        self.kernel_size = self._kernel_size(kernel_size)
        self.sigma = _keras_factor(sigma, (0, 1), "sigma")
        self.value_range = value_range

    @staticmethod
    def _kernel_size(size):
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        if len(sizes) != 2 or any(int(s) % 2 == 0 for s in sizes):
            raise LayerArgumentError("`kernel_size` must be an odd number or a pair of odd "
                                     f"numbers. Received: kernel_size={size!r}")
        return tuple(int(s) for s in sizes)

    def _draw(self, images, gen):
        batch = ops.shape(images)[0]
        probability = self._random_uniform((batch,), self.factor[0], self.factor[1], gen)
        apply = self._random_uniform((batch,), seed=gen) < probability
        sigma = self._random_uniform((2,), self.sigma[0], self.sigma[1], gen,
                                     self.compute_dtype) + 1e-6
        return {"should_apply_blur": apply, "blur_factor": sigma}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        sigma = ops.cast(transformation["blur_factor"], "float32")
        x = self._channels_last(images)
        blurred = self._restore_format(_blur(x, self.kernel_size, sigma[0], sigma[1]))
        out = ops.where(_per_image(transformation["should_apply_blur"]), blurred, images)
        return ops.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "kernel_size": self.kernel_size, "sigma": self.sigma,
                "value_range": self.value_range}


class RandomElasticTransform(_RandomImageLayer):
    """Elastic distortion: a smooth random displacement field (Gaussian-blurred noise of
    strength ``alpha = 0.1 * scale * max(h, w)``, smoothness ``sigma = 0.05 * scale *
    min(h, w)``), applied with a probability drawn from ``factor``.

    The noise comes from the layer's SeedGenerator (so it is jit- and tf.data-safe); Keras
    draws it through ``ops.image.elastic_transform``, so the fields differ from Keras's.

    Example:
        >>> kbridge.layers.RandomElasticTransform(factor=1.0, scale=0.5, seed=1)(images)
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1))
        self.scale = _keras_factor(scale, (0, 1), "scale")
        _check_choice(interpolation, ("nearest", "bilinear"), "interpolation")
        _check_choice(fill_mode, ("constant", "nearest", "wrap", "mirror", "reflect"),
                      "fill_mode")
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.value_range = value_range

    def _draw(self, images, gen):
        from kbridge import random

        if self.scale[1] == 0 or self.factor[1] == 0:
            return None
        batch, h, w = self._size(images)
        probability = self._random_uniform((batch,), self.factor[0], self.factor[1], gen)
        apply = self._random_uniform((batch,), seed=gen) < probability
        distortion = self._random_uniform((), self.scale[0], self.scale[1], gen)
        noise = random.normal((2, batch, h, w, 1), seed=gen)
        return {"apply_transform": apply, "distortion_factor": distortion, "noise": noise}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        x = self._channels_last(images)
        _, h, w, _ = x.shape
        factor = ops.cast(transformation["distortion_factor"], "float32")
        alpha = float(max(h, w)) * 0.1 * factor
        # the blur size needs a Python number: taken from the largest sigma in `scale`
        sigma_max = float(min(h, w)) * 0.05 * self.scale[1]
        size = max(int(6 * sigma_max) | 1, 3)
        sigma = ops.maximum(float(min(h, w)) * 0.05 * factor, 1e-3)
        noise = ops.cast(transformation["noise"], "float32")
        dy = _blur(noise[0] * sigma, (size, size), sigma, sigma)[..., 0]
        dx = _blur(noise[1] * sigma, (size, size), sigma, sigma)[..., 0]
        grid_y, grid_x = np.meshgrid(np.arange(h, dtype=np.float32),
                                     np.arange(w, dtype=np.float32), indexing="ij")
        ys = ops.convert_to_tensor(grid_y) + alpha * dy  # (batch, h, w)
        xs = ops.convert_to_tensor(grid_x) + alpha * dx
        order = 1 if self.interpolation == "bilinear" else 0
        batch_index = ops.reshape(ops.arange(ops.shape(x)[0], dtype="float32"),
                                  (-1, 1, 1)) + ops.zeros_like(ys)
        coords = [batch_index, ys, xs]  # a list: TensorFlow cannot iterate a graph tensor
        channels = []
        for c in range(x.shape[-1]):
            channels.append(ops.image.map_coordinates(x[..., c], coords, order,
                                                      fill_mode=self.fill_mode,
                                                      fill_value=self.fill_value))
        warped = self._restore_format(ops.cast(ops.stack(channels, axis=-1), images.dtype))
        out = ops.where(_per_image(transformation["apply_transform"]), warped, images)
        return ops.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "value_range": self.value_range}


def _box_masks(layer, images, x0, x1, y0, y1):
    """Boolean masks (shaped like ``images``) of the per-image rectangles
    ``x0 <= x < x1, y0 <= y < y1``."""
    _, h, w = layer._size(images)
    ys = np.arange(h, dtype=np.float32)
    xs = np.arange(w, dtype=np.float32)
    if layer.data_format == "channels_last":
        gy, gx = ys[None, :, None, None], xs[None, None, :, None]
    else:
        gy, gx = ys[None, None, :, None], xs[None, None, None, :]
    gy, gx = ops.convert_to_tensor(gy), ops.convert_to_tensor(gx)
    x0, x1, y0, y1 = (_per_image(v) for v in (x0, x1, y0, y1))
    inside = (gx >= x0) & (gx < x1) & (gy >= y0) & (gy < y1)
    return ops.logical_and(inside, ops.ones_like(images, dtype="bool"))


def _random_box_masks(layer, images, width_ratio, height_ratio, seed):
    """Masks (as :func:`_box_masks`) of one rectangle per image, ``width_ratio`` x
    ``height_ratio`` (per-image tensors) of its size and placed uniformly at random; also the
    fraction of each image it covers."""
    batch, h, w = layer._size(images)

    def bounds(length, ratio):
        size = ratio * float(length)
        start = layer._random_uniform((batch,), seed=seed, dtype=layer.compute_dtype) * (
            float(length) - size)
        return start, start + size

    x0, x1 = bounds(w, width_ratio)
    y0, y1 = bounds(h, height_ratio)
    return _box_masks(layer, images, x0, x1, y0, y1), (x1 - x0) * (y1 - y0) / float(w * h)


class RandomErasing(_RandomImageLayer):
    """With a probability drawn from ``factor``, fills a random rectangle (area a fraction
    in ``scale`` of each side squared) with ``fill_value`` (or Gaussian noise when None).

    Example:
        >>> kbridge.layers.RandomErasing(factor=0.5, scale=(0.02, 0.2), seed=1)(images)
    """

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _keras_factor(factor, (0, 1))
        self.scale = _keras_factor(scale, (0, 1), "scale")
        if fill_value is not None and not (
                isinstance(fill_value, (int, float)) or
                (isinstance(fill_value, (tuple, list)) and len(fill_value) == 3)):
            raise LayerArgumentError("`fill_value` must be None, a number or three numbers. "
                                     f"Received: fill_value={fill_value!r}")
        self.fill_value = fill_value
        self.value_range = value_range

    def _draw(self, images, gen):
        from kbridge import random

        batch = self._size(images)[0]
        dtype = self.compute_dtype
        sides = ops.sqrt(self._random_uniform((batch, 2), self.scale[0], self.scale[1], gen,
                                              dtype))
        masks, _ = _random_box_masks(self, images, sides[:, 0], sides[:, 1], gen)
        probability = self._random_uniform((batch,), self.factor[0], self.factor[1], gen)
        apply = self._random_uniform((batch,), seed=gen) < probability
        if self.fill_value is None:
            fill = random.normal(ops.shape(images), dtype=dtype, seed=gen) * self.value_range[1]
        elif isinstance(self.fill_value, (tuple, list)):
            fill = ops.zeros_like(images) + np.asarray(self.fill_value, np.float32).reshape(
                (-1,) if self.data_format == "channels_last" else (-1, 1, 1))
        else:
            fill = ops.zeros_like(images) + float(self.fill_value)
        fill = ops.clip(fill, self.value_range[0], self.value_range[1])
        return {"apply_erasing": apply, "batch_masks": masks, "fill_value": fill}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        erased = ops.where(transformation["batch_masks"],
                           ops.cast(transformation["fill_value"], images.dtype), images)
        return ops.where(_per_image(transformation["apply_erasing"]), erased, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "fill_value": self.fill_value, "value_range": self.value_range}
