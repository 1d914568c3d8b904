"""Preprocessing layers: numeric (Rescaling, Normalization, Discretization), image
(CenterCrop, Resizing and random augmentation) and categorical (lookups, encodings, hashing).

Image layers share Keras 3's protocol (``_ImagePreprocessingLayer``): images or a dict of
``images`` / ``labels`` / ``bounding_boxes`` / ``segmentation_masks``, a transformation drawn by
``get_random_transformation`` and applied by the ``transform_*`` hooks; more image layers are
in :mod:`kbridge.layers.image_augmentation`.

Numeric and image layers compute with ``kbridge.ops`` and run on every backend. Vocabulary
and hashing layers work on the numpy side (strings have no tensor type in torch or JAX):
they convert their input to numpy, compute there, and hand the result back as a tensor of the
layer's backend. They are therefore not traceable inside ``jax.jit`` / ``tf.function``.

Hashing uses a documented stable hash (BLAKE2b, 64 bits), not TensorFlow's FarmHash, so its
bin indices are identical on every backend and platform but differ from Keras's.
"""

import hashlib

import numpy as np

from kbridge import ops
from kbridge.backend.common import context
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.layers.layer import Layer
from kbridge.layers.rnn import LayerArgumentError

__all__ = [
    "Rescaling", "Normalization", "CenterCrop", "Resizing", "RandomFlip", "RandomRotation",
    "RandomZoom", "RandomTranslation", "RandomContrast", "StringLookup", "IntegerLookup",
    "CategoryEncoding", "Discretization", "Hashing", "HashedCrossing",
]


def _check_choice(value, choices, name):
    """Raises unless the argument ``name`` has one of the values ``choices``."""
    if value not in choices:
        raise LayerArgumentError(f"`{name}` must be one of {tuple(choices)}. "
                                 f"Received: {name}={value!r}")


def _data_format(data_format):
    if data_format is None:
        from kbridge import backend

        return backend.image_data_format()
    _check_choice(data_format, ("channels_last", "channels_first"), "data_format")
    return data_format


def _seed_generator(seed):
    from kbridge import random

    return random.SeedGenerator(seed)


def _to_numpy(x):
    """``x`` (an array, Python data or a tensor: also an eager TensorFlow one from
    ``tf.data`` on any backend) as a numpy array."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple, str, bytes, int, float)):
        return np.asarray(x)
    if hasattr(x, "numpy") and type(x).__module__.startswith("tensorflow"):
        return np.asarray(x.numpy())
    return np.asarray(ops.convert_to_numpy(x))


# --- numeric --------------------------------------------------------------------------------
class Rescaling(Layer):
    """Multiplies by ``scale`` and adds ``offset``: ``x * scale + offset``.

    Example:
        >>> kbridge.layers.Rescaling(1 / 255)(images)   # pixel values into [0, 1]
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset
        self.supports_masking = True

    def call(self, inputs):
        dtype = self.compute_dtype
        inputs = ops.cast(inputs, dtype)
        scale = ops.cast(np.asarray(self.scale), dtype) if not isinstance(
            self.scale, (int, float)) else self.scale
        offset = ops.cast(np.asarray(self.offset), dtype) if not isinstance(
            self.offset, (int, float)) else self.offset
        return inputs * scale + offset

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """Shifts and scales to zero mean and unit variance along ``axis``: ``(x - mean) / std``.

    Give ``mean`` and ``variance``, or call :meth:`adapt` on data. ``invert=True`` maps back.

    Example:
        >>> norm = kbridge.layers.Normalization(); norm.adapt(data); y = norm(data)
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, int):
            axis = (axis,)
        else:
            axis = tuple(axis)
        self.axis = axis
        if (mean is None) != (variance is None):
            raise LayerArgumentError("Give both `mean` and `variance`, or neither. Received: "
                                     f"mean={mean!r}, variance={variance!r}")
        self.input_mean = mean
        self.input_variance = variance
        self.invert = invert
        self.supports_masking = True
        self._broadcast_shape = None

    def build(self, input_shape):
        if input_shape is None:
            return
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise LayerArgumentError(f"All `axis` values must be in [-{ndim}, {ndim}). "
                                     f"Received: axis={self.axis}")
        keep = tuple(sorted(a % ndim for a in self.axis))
        for a in keep:
            if input_shape[a] is None:
                raise LayerArgumentError(f"Axis {a} is normalised separately, so it needs a "
                                         f"known size. Received: shape={tuple(input_shape)}")
        self._keep_axis = keep
        self._reduce_axis = tuple(d for d in range(ndim) if d not in keep)
        self._broadcast_shape = tuple(input_shape[d] if d in keep else 1 for d in range(ndim))
        shape = tuple(input_shape[d] for d in keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=shape, initializer="zeros",
                                              trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=shape,
                                                  initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), dtype="int64",
                                         initializer="zeros", trainable=False)
        self.built = True

    def _constants(self):
        """(mean, variance) as numpy arrays shaped to broadcast against the input."""
        if self.input_mean is not None:
            mean = np.asarray(self.input_mean, np.float64)
            variance = np.asarray(self.input_variance, np.float64)
            if mean.ndim:
                expanded = [1] * len(self._broadcast_shape)
                for i in range(1, mean.ndim + 1):
                    expanded[self._keep_axis[-i]] = mean.shape[-i]
                mean, variance = mean.reshape(expanded), variance.reshape(expanded)
            mean = np.broadcast_to(mean, self._broadcast_shape)
            variance = np.broadcast_to(variance, self._broadcast_shape)
            return mean, variance
        return None

    def adapt(self, data):
        """Compute the mean and variance of ``data`` (an array, a tensor, or an iterable of
        batches) per position of ``axis``, with numpy in float64."""
        if isinstance(data, np.ndarray) or ops.is_tensor(data) or hasattr(data, "shape"):
            batches = [_to_numpy(data)]
        else:
            batches = [_to_numpy(b[0] if isinstance(b, tuple) else b) for b in data]
        if not batches:
            raise LayerArgumentError("adapt() received no data.")
        if not self.built:
            shape = (None,) + tuple(batches[0].shape[1:])
            from kbridge.backend.common import naming

            with naming.name_scope(self.name):
                self.build(shape)
            # Recorded, so a saved adapted layer is rebuilt (and its statistics restored).
            object.__setattr__(self, "_build_shapes_dict", {"input_shape": shape})
        if self.input_mean is not None:
            raise LayerArgumentError("This Normalization layer was given `mean` and `variance`;"
                                     " it cannot also be adapted.")
        count, mean, m2 = 0, 0.0, 0.0
        for batch in batches:  # Chan et al.'s parallel update of mean and squared deviations
            batch = batch.astype(np.float64)
            n = int(np.prod([batch.shape[d] for d in self._reduce_axis]))
            b_mean = np.mean(batch, axis=self._reduce_axis)
            b_m2 = np.sum(np.square(batch - np.mean(batch, axis=self._reduce_axis,
                                                    keepdims=True)), axis=self._reduce_axis)
            total = count + n
            delta = b_mean - mean
            mean = mean + delta * n / total
            m2 = m2 + b_m2 + np.square(delta) * count * n / total
            count = total
        self.adapt_mean.assign(np.asarray(mean, np.float32).reshape(self.adapt_mean.shape))
        self.adapt_variance.assign(
            np.asarray(m2 / count, np.float32).reshape(self.adapt_variance.shape))
        self.count.assign(np.asarray(count, np.int64))

    def finalize_state(self):
        pass

    @property
    def mean(self):
        """The mean, shaped to broadcast against the input (None before build or adapt)."""
        return self._statistic(0)

    @property
    def variance(self):
        """The variance, shaped to broadcast against the input (None before build or adapt)."""
        return self._statistic(1)

    def _statistic(self, which):
        if self._broadcast_shape is None:
            return (self.input_mean, self.input_variance)[which]
        constants = self._constants()
        if constants is not None:
            return ops.cast(constants[which], self.compute_dtype)
        weight = (self.adapt_mean, self.adapt_variance)[which]
        return ops.reshape(ops.cast(weight, self.compute_dtype), self._broadcast_shape)

    def call(self, inputs):
        dtype = self.compute_dtype
        inputs = ops.cast(inputs, dtype)
        constants = self._constants()
        if constants is not None:
            mean = ops.cast(constants[0], dtype)
            variance = ops.cast(constants[1], dtype)
        else:
            mean = ops.reshape(ops.cast(self.adapt_mean, dtype), self._broadcast_shape)
            variance = ops.reshape(ops.cast(self.adapt_variance, dtype), self._broadcast_shape)
        from kbridge import backend

        std = ops.maximum(ops.sqrt(variance), backend.epsilon())
        if self.invert:
            return mean + inputs * std
        return (inputs - mean) / std

    def compute_output_spec(self, inputs):
        return KerasTensor(inputs.shape, self.compute_dtype)

    def get_config(self):
        def plain(v):
            return v.tolist() if isinstance(v, np.ndarray) else v

        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": plain(self.input_mean), "variance": plain(self.input_variance)}


# --- images ---------------------------------------------------------------------------------
class _ImageLayer(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)
        self.supports_masking = False

    def _hw_axes(self, ndim):
        # (height axis, width axis) of a batched or unbatched image tensor
        if self.data_format == "channels_last":
            return ndim - 3, ndim - 2
        return ndim - 2, ndim - 1

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def _factor_range(factor, name, symmetric=True):
    """``(lower, upper)`` from a number ``f`` (``(-f, f)``) or a pair."""
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise LayerArgumentError(f"`{name}` must be a number or a pair. Received: "
                                     f"{name}={factor!r}")
        return float(factor[0]), float(factor[1])
    factor = float(factor)
    return (-abs(factor), abs(factor)) if symmetric else (0.0, abs(factor))


def _tensor_backend(x, default):
    """The backend owning tensor ``x`` (TensorFlow inside ``tf.data``), else ``default``."""
    from kbridge import backend

    if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float)):
        return default
    try:
        return backend.of(x)
    except Exception:  # not a tensor of any backend: let the layer's backend convert it
        return default


class _ImagePreprocessingLayer(_ImageLayer):
    """Keras 3's image-preprocessing protocol: ``call`` takes images (3-D or 4-D) or a dict
    with ``"images"`` and optional ``"labels"``, ``"bounding_boxes"`` (``{"boxes",
    "labels"}``) and ``"segmentation_masks"``; it draws one transformation for the batch with
    :meth:`get_random_transformation` and applies it with the ``transform_*`` hooks, which
    always see batched data.

    ``training`` left unset means ``True``, as in Keras (``fit`` passes True, ``predict`` /
    ``evaluate`` pass False). The ops run on the backend of the images, so a layer of any
    backend also works on symbolic TensorFlow tensors inside ``tf.data``.
    """

    def __init__(self, bounding_box_format=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.bounding_box_format = bounding_box_format

    # --- hooks (Keras names) ----------------------------------------------------------------
    def get_random_transformation(self, data, training=True, seed=None):
        return None

    def transform_images(self, images, transformation=None, training=True):
        return images

    def transform_labels(self, labels, transformation=None, training=True):
        return labels

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        return bounding_boxes

    def transform_segmentation_masks(self, segmentation_masks, transformation=None,
                                     training=True):
        return segmentation_masks

    def _boxes_as(self, bounding_boxes, box_format, height, width):
        """The boxes of ``bounding_boxes`` (on a ``height x width`` image) in ``box_format``."""
        from kbridge.utils import bounding_boxes as bb

        return bb.convert_format(bounding_boxes["boxes"], self.bounding_box_format, box_format,
                                 height=height, width=width)

    def _clipped_boxes(self, bounding_boxes, boxes, box_format, height, width,
                       clip_format="xyxy"):
        """``bounding_boxes`` with ``boxes`` (in ``box_format`` on a ``height x width`` image)
        clipped as ``clip_format`` (Keras's choice per layer), in the layer's box format."""
        from kbridge.utils import bounding_boxes as bb

        out = bb.clip_to_image_size({**bounding_boxes, "boxes": boxes}, height=height,
                                    width=width, bounding_box_format=clip_format)
        out["boxes"] = bb.convert_format(out["boxes"], box_format, self.bounding_box_format,
                                         height=height, width=width)
        return out

    # --- calling ----------------------------------------------------------------------------
    def call(self, data, training=True):
        training = True if training is None else training
        images = data["images"] if isinstance(data, dict) else data
        with context.use(_tensor_backend(images, self.backend_name)):
            return self._call_batched(data, training)

    def _call_batched(self, data, training):
        is_dict = isinstance(data, dict)
        images = ops.cast(ops.convert_to_tensor(data["images"] if is_dict else data),
                          self.compute_dtype)
        rank = len(images.shape)
        if rank not in (3, 4):
            raise LayerArgumentError("Images must have rank 3 (one image) or 4 (a batch). "
                                     f"Received: images.shape={tuple(images.shape)}")
        unbatched = rank == 3
        expand = (lambda x: ops.expand_dims(x, 0)) if unbatched else (lambda x: x)
        squeeze = (lambda x: x[0]) if unbatched else (lambda x: x)
        if not is_dict:
            images = expand(images)
            transformation = self.get_random_transformation(images, training=training)
            return squeeze(self.transform_images(images, transformation, training=training))
        batch = dict(data)
        batch["images"] = expand(images)
        if "labels" in data:
            batch["labels"] = expand(ops.convert_to_tensor(data["labels"]))
        if "segmentation_masks" in data:
            batch["segmentation_masks"] = expand(ops.convert_to_tensor(
                data["segmentation_masks"]))
        if "bounding_boxes" in data:
            if not self.bounding_box_format:
                raise LayerArgumentError(
                    "The input has 'bounding_boxes' but the layer has no bounding box format:"
                    f" pass e.g. `bounding_box_format='xyxy'` to {type(self).__name__}.")
            boxes = _densify_boxes(data["bounding_boxes"])
            batch["bounding_boxes"] = {k: expand(v) for k, v in boxes.items()}
        transformation = self.get_random_transformation(batch, training=training)
        out = dict(batch)
        out["images"] = squeeze(self.transform_images(batch["images"], transformation,
                                                      training=training))
        if "bounding_boxes" in batch:
            boxes = self.transform_bounding_boxes(dict(batch["bounding_boxes"]), transformation,
                                                  training=training)
            out["bounding_boxes"] = {k: squeeze(v) for k, v in boxes.items()}
        if "labels" in batch:
            out["labels"] = squeeze(self.transform_labels(batch["labels"], transformation,
                                                          training=training))
        if "segmentation_masks" in batch:
            out["segmentation_masks"] = squeeze(self.transform_segmentation_masks(
                batch["segmentation_masks"], transformation, training=training))
        return out

    def _output_image_shape(self, shape):
        return tuple(shape)

    def compute_output_spec(self, data, training=True):
        if isinstance(data, dict):
            out = dict(data)
            out["images"] = KerasTensor(self._output_image_shape(data["images"].shape),
                                        self.compute_dtype)
            if "segmentation_masks" in data:
                out["segmentation_masks"] = KerasTensor(
                    self._output_image_shape(data["segmentation_masks"].shape),
                    data["segmentation_masks"].dtype)
            return out
        return KerasTensor(self._output_image_shape(data.shape), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return self._output_image_shape(input_shape)

    # --- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _images_of(data):
        return data["images"] if isinstance(data, dict) else data

    def _size(self, images):
        """(batch, height, width) of a batch of images (static where known)."""
        h_axis, w_axis = self._hw_axes(4)
        shape = ops.shape(images)
        return shape[0], shape[h_axis], shape[w_axis]

    def _channels_last(self, images):
        return images if self.data_format == "channels_last" else ops.transpose(
            images, (0, 2, 3, 1))

    def _restore_format(self, images):
        return images if self.data_format == "channels_last" else ops.transpose(
            images, (0, 3, 1, 2))

    @staticmethod
    def _value_range(images, source, target):
        """Map values linearly from range ``source`` to range ``target``."""
        if tuple(source) == tuple(target):
            return images
        scale = (float(target[1]) - float(target[0])) / (float(source[1]) - float(source[0]))
        return (images - float(source[0])) * scale + float(target[0])

    def get_config(self):
        config = super().get_config()
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config


def _densify_boxes(bounding_boxes):
    if (not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes
            or "labels" not in bounding_boxes):
        raise LayerArgumentError("`bounding_boxes` must be a dict with 'boxes' and 'labels'. "
                                 f"Received: {bounding_boxes!r}")
    boxes = ops.cast(ops.convert_to_tensor(bounding_boxes["boxes"]), "float32")
    if len(boxes.shape) not in (2, 3) or boxes.shape[-1] != 4:
        raise LayerArgumentError("bounding_boxes['boxes'] must have shape (num_boxes, 4) or "
                                 f"(batch, num_boxes, 4). Received: {tuple(boxes.shape)}")
    return {**bounding_boxes, "boxes": boxes,
            "labels": ops.convert_to_tensor(bounding_boxes["labels"])}


def _resized_image_shape(self, shape):
    """``_output_image_shape`` for layers whose images come out ``self.height x self.width``."""
    shape = list(shape)
    h_axis, w_axis = self._hw_axes(len(shape))
    shape[h_axis], shape[w_axis] = self.height, self.width
    return tuple(shape)


def _masks_as_images(self, segmentation_masks, transformation=None, training=True):
    """``transform_segmentation_masks`` for layers that move masks exactly as images."""
    return self.transform_images(segmentation_masks, transformation, training)


class CenterCrop(_ImagePreprocessingLayer):
    """Crops the centre ``height x width`` of images (resizing first when they are smaller);
    bounding boxes and segmentation masks follow.

    Example:
        >>> kbridge.layers.CenterCrop(224, 224)(images)
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = height, width

    def get_random_transformation(self, data, training=True, seed=None):
        _, h, w = self._size(self._images_of(data))
        return h, w

    def transform_images(self, images, transformation=None, training=True):
        h_axis, w_axis = self._hw_axes(len(images.shape))
        h, w = images.shape[h_axis], images.shape[w_axis]
        if h is None or w is None or h < self.height or w < self.width:
            return ops.image.resize(images, (self.height, self.width), crop_to_aspect_ratio=True,
                                    data_format=self.data_format)
        top, left = (h - self.height) // 2, (w - self.width) // 2
        index = [slice(None)] * len(images.shape)
        index[h_axis] = slice(top, top + self.height)
        index[w_axis] = slice(left, left + self.width)
        return images[tuple(index)]

    transform_segmentation_masks = _masks_as_images

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        h, w = transformation
        boxes = self._boxes_as(bounding_boxes, "xyxy", h, w)
        if h >= self.height and w >= self.width:
            crop_h, crop_w = self.height, self.width
        else:  # the centred window of the target's aspect ratio, resized
            crop_h = max(min(h, int(float(w * self.height) / self.width)), 1)
            crop_w = max(min(w, int(float(h * self.width) / self.height)), 1)
        top, left = int((h - crop_h) / 2), int((w - crop_w) / 2)
        x1, y1, x2, y2 = ops.split(boxes, 4, axis=-1)
        sx, sy = self.width / crop_w, self.height / crop_h
        boxes = ops.concatenate([
            (ops.clip(x1, left, left + crop_w) - left) * sx,
            (ops.clip(y1, top, top + crop_h) - top) * sy,
            (ops.clip(x2, left, left + crop_w) - left) * sx,
            (ops.clip(y2, top, top + crop_h) - top) * sy], axis=-1)
        return self._clipped_boxes(bounding_boxes, boxes, "xyxy", self.height, self.width)

    _output_image_shape = _resized_image_shape

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class Resizing(_ImagePreprocessingLayer):
    """Resizes images to ``height x width`` with ``kbridge.ops.image.resize``; bounding boxes
    and segmentation masks (nearest) follow.

    Example:
        >>> kbridge.layers.Resizing(64, 64, interpolation="nearest")(images)
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = height, width
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = antialias

    def get_random_transformation(self, data, training=True, seed=None):
        _, h, w = self._size(self._images_of(data))
        return h, w

    def _resize(self, images, interpolation):
        return ops.image.resize(
            images, (self.height, self.width), interpolation=interpolation,
            antialias=self.antialias, crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_mode=self.fill_mode,
            fill_value=self.fill_value, data_format=self.data_format)

    def transform_images(self, images, transformation=None, training=True):
        return self._resize(images, self.interpolation)

    def transform_segmentation_masks(self, segmentation_masks, transformation=None,
                                     training=True):
        return self._resize(segmentation_masks, "nearest")

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        from kbridge.utils import bounding_boxes as bb

        in_h, in_w = transformation
        boxes = bounding_boxes["boxes"]
        # all -1 or all 0 boxes are padding: they stay zero
        padding = ops.logical_or(ops.all(boxes == -1, axis=-1), ops.all(boxes == 0, axis=-1))
        boxes = bb.convert_format(boxes, self.bounding_box_format, "xyxy", height=in_h,
                                  width=in_w)
        sy, sx, dy, dx = self._box_scale_offset(float(in_h), float(in_w))
        x1, y1, x2, y2 = ops.split(boxes, 4, axis=-1)
        boxes = ops.concatenate([x1 * sx - dx, y1 * sy - dy, x2 * sx - dx, y2 * sy - dy], -1)
        out = bb.clip_to_image_size({**bounding_boxes, "boxes": boxes}, height=self.height,
                                    width=self.width)
        out["boxes"] = ops.where(ops.expand_dims(padding, -1), 0.0, out["boxes"])
        out["boxes"] = bb.convert_format(out["boxes"], "xyxy", self.bounding_box_format,
                                         height=self.height, width=self.width)
        return out

    def _box_scale_offset(self, in_h, in_w):
        """(scale_y, scale_x, offset_y, offset_x): output = input * scale - offset."""
        if self.pad_to_aspect_ratio:
            ratio = min(self.height / in_h, self.width / in_w)
            return (ratio, ratio, -((self.height - in_h * ratio) // 2),
                    -((self.width - in_w * ratio) // 2))
        if self.crop_to_aspect_ratio:
            source, target = in_w / in_h, self.width / self.height
            new_w = self.height * source if source > target else float(self.width)
            new_h = float(self.height) if source > target else self.width / source
            return (new_h / in_h, new_w / in_w, (new_h - self.height) // 2,
                    (new_w - self.width) // 2)
        return self.height / in_h, self.width / in_w, 0.0, 0.0

    _output_image_shape = _resized_image_shape

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


class _RandomImageLayer(_ImagePreprocessingLayer):
    """A random augmentation: identity when ``training`` is False; its draws come from a
    :class:`kbridge.random.SeedGenerator` (threaded through jitted training steps).

    A subclass draws its transformation in :meth:`_draw` and moves boxes in
    :meth:`_move_boxes`; these run only in training, with a drawn transformation.
    """

    def __init__(self, seed=None, bounding_box_format=None, data_format=None, **kwargs):
        super().__init__(bounding_box_format=bounding_box_format, data_format=data_format,
                         **kwargs)
        self.seed = seed
        with context.use(self.backend_name):
            self.seed_generator = _seed_generator(seed)
        # Generators for other backends (TensorFlow inside tf.data), made on first use. The
        # dict is assigned empty, so later entries are not tracked as this layer's state.
        self._foreign_generators = {}

    def _generator(self, seed=None):
        """``seed`` if given, else the layer's generator for the active backend."""
        if seed is not None:
            return seed
        active = context.get()
        if active == self.seed_generator.backend:
            return self.seed_generator
        gen = self._foreign_generators.get(active)
        if gen is None:
            import contextlib

            from kbridge import random

            scope = contextlib.nullcontext()
            if active == "tensorflow":
                import tensorflow as tf

                # first use is usually inside a tf.data graph: make the state (and the
                # backend's module constants) eagerly, outside it
                scope = tf.init_scope()
            with scope:
                gen = random.SeedGenerator(self.seed_generator._initial_seed, backend=active)
            self._foreign_generators[active] = gen
        return gen

    def _random_uniform(self, shape, low=0.0, high=1.0, seed=None, dtype="float32"):
        from kbridge import random

        return random.uniform(shape, minval=low, maxval=high, dtype=dtype,
                              seed=self._generator(seed))

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        return self._draw(self._images_of(data), self._generator(seed))

    def _draw(self, images, gen):
        """The transformation of a training call on the batch ``images``, drawn from the
        generator ``gen``."""
        raise NotImplementedError

    def transform_bounding_boxes(self, bounding_boxes, transformation=None, training=True):
        if not training or transformation is None:
            return bounding_boxes
        return self._move_boxes(bounding_boxes, transformation)

    def _move_boxes(self, bounding_boxes, transformation):
        """``bounding_boxes`` moved as the drawn ``transformation`` moves the images."""
        return bounding_boxes

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _keras_factor(factor, bounds=(-1.0, 1.0), name="factor"):
    """Keras's factor rule: a pair (sorted) or a number ``f`` meaning
    ``(max(-|f|, lower bound), |f|)``; values outside ``bounds`` are rejected."""
    message = (f"`{name}` must be a number or a pair of numbers in [{bounds[0]}, {bounds[1]}]. "
               f"Received: {name}={factor!r}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise LayerArgumentError(message)
        lower, upper = sorted(factor)
        return lower, upper
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if factor < bounds[0] or factor > bounds[1]:
            raise LayerArgumentError(message)
        factor = abs(factor)
        return max(-factor, bounds[0]), factor
    raise LayerArgumentError(message)


class RandomFlip(_RandomImageLayer):
    """Flips images left-right and/or up-down at random (one draw per image decides both, as
    in Keras); bounding boxes follow.

    Example:
        >>> kbridge.layers.RandomFlip("horizontal", seed=1)(images, training=True)
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        _check_choice(mode, ("horizontal", "vertical", "horizontal_and_vertical"), "mode")
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = mode

    def _draw(self, images, gen):
        batch, h, w = self._size(images)
        flips = self._random_uniform((batch, 1, 1, 1), seed=gen) <= 0.5
        return {"flips": flips, "height": h, "width": w}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        h_axis, w_axis = self._hw_axes(4)
        flips = transformation["flips"]
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            images = ops.where(flips, ops.flip(images, axis=w_axis), images)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            images = ops.where(flips, ops.flip(images, axis=h_axis), images)
        return images

    transform_segmentation_masks = _masks_as_images

    def _move_boxes(self, bounding_boxes, transformation):
        h, w = transformation["height"], transformation["width"]
        flips = ops.squeeze(transformation["flips"], axis=-1)  # (batch, 1, 1)
        boxes = self._boxes_as(bounding_boxes, "rel_xyxy", h, w)
        x1, y1, x2, y2 = ops.split(boxes, 4, axis=-1)
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            boxes = ops.where(flips, ops.concatenate([1 - x2, y1, 1 - x1, y2], -1), boxes)
            x1, y1, x2, y2 = ops.split(boxes, 4, axis=-1)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            boxes = ops.where(flips, ops.concatenate([x1, 1 - y2, x2, 1 - y1], -1), boxes)
        # Keras clips these relative boxes with the pixel size (a no-op clip) and marks
        # empty boxes with label -1; kept so the outputs match.
        return self._clipped_boxes(bounding_boxes, boxes, "rel_xyxy", h, w)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _WarpLayer(_RandomImageLayer):
    """A layer that resamples images (with its ``interpolation``) and segmentation masks
    (with "nearest") through :meth:`_warp`."""

    def _warp(self, images, transformation, interpolation):
        """``images`` resampled as the drawn ``transformation`` says."""
        raise NotImplementedError

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        return self._warp(images, transformation, self.interpolation)

    def transform_segmentation_masks(self, segmentation_masks, transformation=None,
                                     training=True):
        if not training or transformation is None:
            return segmentation_masks
        return self._warp(segmentation_masks, transformation, "nearest")


class _AffineLayer(_WarpLayer):
    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        _check_choice(fill_mode, ("reflect", "wrap", "constant", "nearest", "mirror"),
                      "fill_mode")
        _check_choice(interpolation, ("nearest", "bilinear"), "interpolation")
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = fill_value

    @staticmethod
    def _transform(columns):
        """(batch, 8) transforms from eight (batch,) columns or numbers."""
        like = next(c for c in columns if not isinstance(c, (int, float)))
        zeros = ops.reshape(ops.zeros_like(like), (-1, 1))
        # concatenated (batch, 1) columns, not a stack: TensorFlow's grappler folds a slice
        # of a stack into the stacked input and loses the slice's new axes, which breaks
        # affine_transform's broadcasting inside a traced step
        return ops.concatenate([zeros + c if isinstance(c, (int, float))
                                else ops.reshape(c, (-1, 1)) for c in columns], axis=1)

    def _matrix(self, transformation, images):
        """The ``(batch, 8)`` projective transform of a drawn ``transformation`` for
        ``images``."""
        raise NotImplementedError

    def _warp(self, images, transformation, interpolation):
        return ops.cast(ops.image.affine_transform(
            images, self._matrix(transformation, images), interpolation=interpolation,
            fill_mode=self.fill_mode, fill_value=self.fill_value,
            data_format=self.data_format), images.dtype)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


class RandomRotation(_AffineLayer):
    """Rotates images by a random angle of ``factor * 2 pi`` (``training=True`` only).

    Example:
        >>> kbridge.layers.RandomRotation(0.1, seed=1)(images, training=True)  # up to 36 deg
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        kwargs.pop("value_range", None)
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, "factor")

    def _draw(self, images, gen):
        batch, h, w = self._size(images)
        degrees = self._random_uniform((batch,), self.factor[0] * 360.0,
                                       self.factor[1] * 360.0, gen)
        angle = degrees * (np.pi / 180.0)
        cos, sin = ops.cos(angle), ops.sin(angle)
        w1, h1 = float(w) - 1.0, float(h) - 1.0
        # rotate about the image centre: output (x, y) reads input R (x, y) + offset
        x_off = (w1 - (cos * w1 - sin * h1)) / 2.0
        y_off = (h1 - (sin * w1 + cos * h1)) / 2.0
        matrix = self._transform([cos, -sin, x_off, sin, cos, y_off, 0.0, 0.0])
        return {"angle": degrees, "rotation_matrix": matrix, "image_height": h,
                "image_width": w, "batch_size": batch}

    def _matrix(self, transformation, images):
        return transformation["rotation_matrix"]

    def _move_boxes(self, bounding_boxes, transformation):
        from kbridge.utils import bounding_boxes as bb

        h, w = transformation["image_height"], transformation["image_width"]
        angle = ops.cast(transformation["angle"], "float32")
        zeros = ops.zeros_like(angle)
        # Keras reads the boxes as xyxy here whatever the layer's format, and converts the
        # result from xyxy to it; kept for parity
        boxes = bb.affine_transform(bounding_boxes["boxes"], angle, zeros, zeros, zeros + 1.0,
                                    zeros, zeros, h, w)
        return self._clipped_boxes(bounding_boxes, boxes, "xyxy", h, w)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_AffineLayer):
    """Zooms images in or out by a random factor (``training=True`` only); a positive factor
    zooms out, as in Keras.

    Example:
        >>> kbridge.layers.RandomZoom(0.2, seed=1)(images, training=True)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self._height_range = _factor_range(height_factor, "height_factor")
        self._width_range = (None if width_factor is None
                             else _factor_range(width_factor, "width_factor"))

    def _draw(self, images, gen):
        batch, h, w = self._size(images)
        zy = 1.0 + self._random_uniform((batch, 1), *self._height_range, gen)
        zx = zy if self._width_range is None else 1.0 + self._random_uniform(
            (batch, 1), *self._width_range, gen)
        return {"height_zoom": zy, "width_zoom": zx, "height": h, "width": w}

    @staticmethod
    def _matrix_columns(transformation, h, w):
        zx = ops.cast(transformation["width_zoom"], "float32")[:, 0]
        zy = ops.cast(transformation["height_zoom"], "float32")[:, 0]
        x_off = (float(w) - 1.0) / 2.0 * (1.0 - zx)
        y_off = (float(h) - 1.0) / 2.0 * (1.0 - zy)
        return zx, zy, x_off, y_off

    def _matrix(self, transformation, images):
        _, h, w = self._size(images)
        zx, zy, x_off, y_off = self._matrix_columns(transformation, h, w)
        return self._transform([zx, 0.0, x_off, 0.0, zy, y_off, 0.0, 0.0])

    def _move_boxes(self, bounding_boxes, transformation):
        from kbridge.utils import bounding_boxes as bb

        h, w = transformation["height"], transformation["width"]
        boxes = self._boxes_as(bounding_boxes, "xyxy", h, w)
        zx, zy, x_off, y_off = self._matrix_columns(transformation, h, w)
        # the input window the output shows: from H(0, 0) to H(w, h)
        x_start, y_start = x_off[:, None, None], y_off[:, None, None]
        x_end = (zx * float(w) + x_off)[:, None, None]
        y_end = (zy * float(h) + y_off)[:, None, None]
        x1, y1, x2, y2 = ops.split(boxes, 4, axis=-1)
        boxes = ops.concatenate([ops.clip(x1, x_start, x_end) - x_start,
                                 ops.clip(y1, y_start, y_end) - y_start,
                                 ops.clip(x2, x_start, x_end) - x_start,
                                 ops.clip(y2, y_start, y_end) - y_start], axis=-1)
        win_h, win_w = y_end - y_start, x_end - x_start
        boxes = bb.convert_format(boxes, "xyxy", "rel_xyxy", height=win_h, width=win_w)
        return self._clipped_boxes(bounding_boxes, boxes, "rel_xyxy", h, w, "rel_xyxy")

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomTranslation(_AffineLayer):
    """Shifts images by a random fraction of their height and width (``training=True`` only).

    Example:
        >>> kbridge.layers.RandomTranslation(0.1, 0.1, seed=1)(images, training=True)
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self._height_range = _factor_range(height_factor, "height_factor")
        self._width_range = _factor_range(width_factor, "width_factor")

    def _draw(self, images, gen):
        batch, h, w = self._size(images)
        dy = self._random_uniform((batch, 1), *self._height_range, gen) * float(h)
        dx = self._random_uniform((batch, 1), *self._width_range, gen) * float(w)
        return {"translations": ops.concatenate([dx, dy], axis=1), "height": h, "width": w}

    def _matrix(self, transformation, images):
        shift = ops.cast(transformation["translations"], "float32")
        dx, dy = shift[:, 0], shift[:, 1]
        return self._transform([1.0, 0.0, -dx, 0.0, 1.0, -dy, 0.0, 0.0])

    def _move_boxes(self, bounding_boxes, transformation):
        h, w = transformation["height"], transformation["width"]
        boxes = self._boxes_as(bounding_boxes, "xyxy", h, w)
        shift = ops.cast(transformation["translations"], boxes.dtype)
        dx, dy = shift[:, None, 0:1], shift[:, None, 1:2]
        x1, y1, x2, y2 = ops.split(boxes, 4, axis=-1)
        boxes = ops.concatenate([x1 + dx, y1 + dy, x2 + dx, y2 + dy], axis=-1)
        return self._clipped_boxes(bounding_boxes, boxes, "xyxy", h, w)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomContrast(_RandomImageLayer):
    """Scales each image's contrast about its per-channel mean by a random factor in
    ``[1 - lower, 1 + upper]``, clipped to ``value_range`` (``training=True`` only).

    Example:
        >>> kbridge.layers.RandomContrast(0.2, seed=1)(images, training=True)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        data_format = kwargs.pop("data_format", None)
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        lower, upper = _factor_range(factor, "factor", symmetric=False)
        if isinstance(factor, (tuple, list)):
            lower, upper = abs(lower), abs(upper)
        self.factor = factor if isinstance(factor, (tuple, list)) else (0, factor)
        self._lower, self._upper = lower, upper
        self.value_range = value_range

    def get_random_transformation(self, data, training=True, seed=None):
        shape = (ops.shape(self._images_of(data))[0], 1, 1, 1)
        if not training:
            return {"contrast_factor": ops.zeros(shape, self.compute_dtype)}
        return {"contrast_factor": self._random_uniform(
            shape, 1.0 - self._lower, 1.0 + self._upper, seed, self.compute_dtype)}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        if transformation is None:  # drawn here (a caller that only transforms)
            transformation = self.get_random_transformation(images)
        factor = ops.cast(transformation["contrast_factor"], images.dtype)
        h_axis, w_axis = self._hw_axes(4)
        mean = ops.mean(images, axis=(h_axis, w_axis), keepdims=True)
        out = (images - mean) * factor + mean
        return ops.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


# --- categorical (numpy side) ---------------------------------------------------------------
class _NumpySideLayer(Layer):
    """Inputs stay numpy (strings cannot become torch/JAX tensors); outputs are tensors of the
    layer's backend."""

    def _convert_input(self, x):
        return x

    def _output(self, array):
        with context.use(self.backend_name):
            return ops.convert_to_tensor(array)


def _encode(indices, depth, output_mode, dtype, count_weights=None):
    """int indices -> one_hot / multi_hot / count arrays of width ``depth`` (numpy)."""
    indices = np.asarray(indices)
    if output_mode == "one_hot":
        if indices.ndim and indices.shape[-1] == 1 and indices.ndim > 1:
            indices = indices[..., 0]
        out = np.zeros(indices.shape + (depth,), dtype)
        valid = (indices >= 0) & (indices < depth)
        np.put_along_axis(out, np.where(valid, indices, 0)[..., None],
                          valid[..., None].astype(dtype), axis=-1)
        return out
    if indices.ndim <= 1:
        indices = indices[None] if indices.ndim == 1 else indices.reshape(1, 1)
        squeeze = True
    else:
        squeeze = False
    flat = indices.reshape(-1, indices.shape[-1])
    out = np.zeros((flat.shape[0], depth), np.float64)
    weights = None if count_weights is None else np.asarray(count_weights).reshape(flat.shape)
    for row in range(flat.shape[0]):
        valid = (flat[row] >= 0) & (flat[row] < depth)
        w = np.ones(flat.shape[1]) if weights is None else weights[row]
        np.add.at(out[row], flat[row][valid], w[valid])
    if output_mode == "multi_hot":
        out = (out > 0).astype(np.float64)
    out = out.reshape(indices.shape[:-1] + (depth,)).astype(dtype)
    return out[0] if squeeze else out


_ENCODING_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


class _IndexLookup(_NumpySideLayer):
    """Shared vocabulary logic of StringLookup and IntegerLookup (Keras index layout: the mask
    token at 0 if any, then ``num_oov_indices`` OOV slots, then the vocabulary)."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None,
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 sparse=False, pad_to_max_tokens=False, oov_method="floormod", salt=None,
                 **kwargs):
        kwargs.pop("vocabulary_size", None)
        super().__init__(**kwargs)
        _check_choice(output_mode, _ENCODING_MODES, "output_mode")
        if invert and output_mode != "int":
            raise LayerArgumentError("`invert=True` needs output_mode='int'. "
                                     f"Received: output_mode={output_mode!r}")
        if num_oov_indices < 0:
            raise LayerArgumentError("`num_oov_indices` must be >= 0. "
                                     f"Received: num_oov_indices={num_oov_indices}")
        if sparse:
            raise LayerArgumentError("sparse=True is not supported by kbridge lookups.")
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = invert
        self.output_mode = output_mode
        self.sparse = sparse
        self.pad_to_max_tokens = pad_to_max_tokens
        self.oov_method = oov_method
        self.salt = salt
        self.idf_weights = None if idf_weights is None else np.asarray(idf_weights, "float32")
        self._vocab = []
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    @classmethod
    def from_config(cls, config):
        vocabulary = config.get("vocabulary")
        if isinstance(vocabulary, str):
            # A config may come from a downloaded release: never read a file it names.
            raise LayerArgumentError(f"A {cls.__name__} config must carry its vocabulary as "
                                     "a list of tokens, not a file path. Received: "
                                     f"vocabulary={vocabulary[:200]!r}")
        return super().from_config(config)

    # vocabulary ------------------------------------------------------------------------------
    def _prepare_token(self, token):
        return token

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the tokens (no mask or OOV entries) and, for tf_idf, their weights."""
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = [line.rstrip("\n") for line in f]
        tokens = [self._prepare_token(t) for t in _to_numpy(vocabulary).reshape(-1).tolist()]
        if len(set(tokens)) != len(tokens):
            raise LayerArgumentError("The vocabulary holds repeated tokens: "
                                     f"{sorted({t for t in tokens if tokens.count(t) > 1})}")
        specials = [t for t in (self.mask_token, self.oov_token) if t is not None]
        # a vocabulary that starts with the mask/OOV tokens (get_vocabulary()) is accepted
        start = 0
        if self.mask_token is not None and tokens[:1] == [self.mask_token]:
            start = 1
        while self.num_oov_indices and tokens[start:start + 1] == [self.oov_token]:
            start += 1
        tokens = tokens[start:]
        if any(t in specials for t in tokens):
            raise LayerArgumentError(f"The vocabulary must not contain the mask or OOV tokens "
                                     f"{specials} after its start. Received: {tokens}")
        if self.max_tokens is not None and len(tokens) + self._offset() > self.max_tokens:
            raise LayerArgumentError(f"The vocabulary has {len(tokens)} tokens, more than "
                                     f"max_tokens={self.max_tokens} allows.")
        self._vocab = tokens
        if idf_weights is not None:
            self.idf_weights = np.asarray(idf_weights, "float32")
        self._index = {t: i + self._offset() for i, t in enumerate(tokens)}

    def _offset(self):
        return self.num_oov_indices + (1 if self.mask_token is not None else 0)

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens in index order (with the mask and OOV tokens first by default)."""
        if not include_special_tokens:
            return list(self._vocab)
        head = [self.mask_token] if self.mask_token is not None else []
        return head + [self.oov_token] * self.num_oov_indices + list(self._vocab)

    def vocabulary_size(self):
        return len(self._vocab) + self._offset()

    def adapt(self, data, steps=None):
        """Build the vocabulary from ``data``: tokens by decreasing frequency (ties: the
        larger token first, as Keras), at most ``max_tokens`` entries."""
        if isinstance(data, np.ndarray) or hasattr(data, "shape") or isinstance(data, list):
            values = _to_numpy(data).reshape(-1).tolist()
        else:
            values = [v for batch in data for v in _to_numpy(batch).reshape(-1).tolist()]
        values = [self._prepare_token(v) for v in values]
        counts = {}
        for v in values:
            if v != self.mask_token and not (self.num_oov_indices and v == self.oov_token):
                counts[v] = counts.get(v, 0) + 1
        tokens = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if self.max_tokens is not None:
            tokens = tokens[:max(self.max_tokens - self._offset(), 0)]
        self.set_vocabulary(tokens)
        if self.output_mode == "tf_idf":  # document frequency per token (rows = documents)
            docs = _to_numpy(data)
            docs = docs.reshape(docs.shape[0], -1) if docs.ndim > 1 else docs.reshape(-1, 1)
            df = np.array([sum(t in set(map(self._prepare_token, row.tolist())) for row in docs)
                           for t in tokens], np.float64)
            self.idf_weights = np.log1p(len(docs) / (1.0 + df)).astype("float32")

    # lookup ----------------------------------------------------------------------------------
    def _oov_index(self, token):
        mask_shift = 1 if self.mask_token is not None else 0
        if self.num_oov_indices == 1:
            return mask_shift
        return mask_shift + self._oov_bucket(token) % self.num_oov_indices

    def _lookup(self, values):
        flat = values.reshape(-1).tolist()
        out = np.empty(len(flat), np.int64)
        for i, v in enumerate(flat):
            v = self._prepare_token(v)
            if self.mask_token is not None and v == self.mask_token:
                out[i] = 0
            elif v in self._index:
                out[i] = self._index[v]
            elif self.num_oov_indices == 0:
                raise LayerArgumentError(f"Token {v!r} is not in the vocabulary and the layer "
                                         "has num_oov_indices=0.")
            else:
                out[i] = self._oov_index(v)
        return out.reshape(values.shape)

    def _invert(self, values):
        vocab = self.get_vocabulary()
        flat = values.reshape(-1).tolist()
        oov = self.oov_token
        return np.array([vocab[i] if 0 <= i < len(vocab) else oov for i in flat],
                        dtype=self._token_dtype()).reshape(values.shape)

    def _depth(self):
        size = self.vocabulary_size()
        if self.pad_to_max_tokens and self.max_tokens is not None:
            size = self.max_tokens
        # the mask token has no column in the encoded outputs
        return size - (1 if self.mask_token is not None else 0)

    def call(self, inputs):
        values = _to_numpy(inputs)
        if self.invert:
            return self._invert(values.astype(np.int64))
        indices = self._lookup(values)
        if self.output_mode == "int":
            return self._output(indices)
        shift = 1 if self.mask_token is not None else 0
        indices = indices - shift  # mask -> -1: dropped by _encode
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        out = _encode(indices, self._depth(), mode, np.float32)
        if self.output_mode == "tf_idf":
            weights = np.zeros(self._depth(), np.float32)
            n = len(self.idf_weights) if self.idf_weights is not None else 0
            start = self.num_oov_indices
            weights[start:start + n] = self.idf_weights
            if self.num_oov_indices and n:
                weights[:start] = np.mean(self.idf_weights)
            out = out * weights
        elif self.output_mode in ("one_hot", "multi_hot"):
            out = out.astype(np.int64)
        return self._output(out)

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        if self.invert:
            return KerasTensor(shape, "string")
        if self.output_mode == "int":
            return KerasTensor(shape, "int64")
        depth = self._depth()
        if self.output_mode == "one_hot":
            shape = shape[:-1] + (depth,) if shape and shape[-1] == 1 else shape + (depth,)
            return KerasTensor(shape, "int64")
        dtype = "int64" if self.output_mode == "multi_hot" else "float32"
        return KerasTensor((shape[0] if len(shape) > 1 else 1, depth), dtype)

    def get_config(self):
        vocab = self.get_vocabulary(include_special_tokens=False)
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                "mask_token": self.mask_token, "output_mode": self.output_mode,
                "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                "idf_weights": None if self.idf_weights is None else self.idf_weights.tolist(),
                "vocabulary": [self._plain(t) for t in vocab],
                "vocabulary_size": self.vocabulary_size(), "oov_method": self.oov_method,
                "salt": self.salt}

    @staticmethod
    def _plain(token):
        return token.item() if isinstance(token, np.generic) else token


class StringLookup(_IndexLookup):
    """Maps strings to integer indices of a vocabulary (or back, with ``invert=True``).

    Example:
        >>> kbridge.layers.StringLookup(vocabulary=["a", "b"])(np.array(["a", "z"]))  # [1, 0]
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", **kwargs):
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         sparse=sparse, pad_to_max_tokens=pad_to_max_tokens, **kwargs)

    def _prepare_token(self, token):
        if isinstance(token, bytes):
            return token.decode(self.encoding)
        return str(token)

    def _token_dtype(self):
        return object

    def _invert(self, values):
        return np.asarray(super()._invert(values), dtype=str)

    def _oov_bucket(self, token):
        return stable_hash(token.encode(self.encoding))

    def get_config(self):
        return {**super().get_config(), "encoding": self.encoding}


class IntegerLookup(_IndexLookup):
    """Maps integers to indices of a vocabulary (or back, with ``invert=True``).

    Example:
        >>> kbridge.layers.IntegerLookup(vocabulary=[12, 36])(np.array([36, 7]))   # [2, 0]
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 output_mode="int", sparse=False, vocabulary=None, vocabulary_dtype="int64",
                 idf_weights=None, invert=False, **kwargs):
        self.vocabulary_dtype = vocabulary_dtype
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         sparse=sparse, **kwargs)

    def _prepare_token(self, token):
        return int(token)

    def _token_dtype(self):
        return np.int64

    def _oov_bucket(self, token):
        return int(token)  # floormod of the value, as Keras's "floormod" oov_method

    def _invert(self, values):
        return self._output(super()._invert(values))

    def get_config(self):
        return {**super().get_config(), "vocabulary_dtype": self.vocabulary_dtype}


class CategoryEncoding(Layer):
    """Encodes integer ids in ``[0, num_tokens)`` as one-hot, multi-hot or count vectors.

    Example:
        >>> kbridge.layers.CategoryEncoding(4, output_mode="count")(np.array([[1, 3, 3]]))
    """

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        _check_choice(output_mode, ("one_hot", "multi_hot", "count"), "output_mode")
        if num_tokens is None or num_tokens < 1:
            raise LayerArgumentError("`num_tokens` must be a positive int. "
                                     f"Received: num_tokens={num_tokens!r}")
        self.num_tokens = num_tokens
        self.output_mode = output_mode
        self.sparse = sparse

    def call(self, inputs, count_weights=None):
        inputs = ops.cast(inputs, "int32")
        rank = len(inputs.shape)
        if self.output_mode == "one_hot":
            if rank > 1 and inputs.shape[-1] == 1:
                inputs = ops.squeeze(inputs, axis=-1)
            return ops.one_hot(inputs, self.num_tokens, dtype=self.compute_dtype)
        if rank == 1:
            inputs = ops.expand_dims(inputs, 0)
        encoded = ops.one_hot(inputs, self.num_tokens, dtype=self.compute_dtype)
        if count_weights is not None:
            weights = ops.cast(count_weights, self.compute_dtype)
            if rank == 1:
                weights = ops.expand_dims(weights, 0)
            encoded = encoded * ops.expand_dims(weights, -1)
        if self.output_mode == "multi_hot":
            out = ops.max(encoded, axis=-2)
        else:
            out = ops.sum(encoded, axis=-2)
        return out[0] if rank == 1 else out

    def compute_output_spec(self, inputs, count_weights=None):
        shape = tuple(inputs.shape)
        if self.output_mode == "one_hot":
            if len(shape) > 1 and shape[-1] == 1:
                shape = shape[:-1]
            return KerasTensor(shape + (self.num_tokens,), self.compute_dtype)
        if len(shape) == 1:
            return KerasTensor((self.num_tokens,), self.compute_dtype)
        return KerasTensor(shape[:-1] + (self.num_tokens,), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens,
                "output_mode": self.output_mode}


class Discretization(Layer):
    """Buckets numbers by ``bin_boundaries`` (index ``i`` when ``b[i-1] <= x < b[i]``); or
    learns ``num_bins`` quantile boundaries with :meth:`adapt`.

    Example:
        >>> kbridge.layers.Discretization(bin_boundaries=[0.0, 1.0])(np.array([-1.0, 0.5, 2.0]))
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, dtype=None, name=None, **kwargs):
        _check_choice(output_mode, ("int", "one_hot", "multi_hot", "count"), "output_mode")
        if bin_boundaries is not None and num_bins is not None:
            raise LayerArgumentError("Give `bin_boundaries` or `num_bins`, not both.")
        if dtype is None:
            dtype = "int64" if output_mode == "int" else "float32"
        super().__init__(dtype=dtype, name=name, **kwargs)
        self.bin_boundaries = list(bin_boundaries) if bin_boundaries is not None else None
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = sparse

    def adapt(self, data, steps=None):
        """Set ``num_bins - 1`` boundaries at the data's exact quantiles (numpy); Keras uses an
        approximate quantile sketch, so boundaries can differ slightly on large data."""
        if self.num_bins is None:
            raise LayerArgumentError("adapt() needs `num_bins` to be set.")
        if not (isinstance(data, np.ndarray) or hasattr(data, "shape")):
            data = np.concatenate([_to_numpy(b).reshape(-1) for b in data])
        values = np.sort(_to_numpy(data).reshape(-1).astype(np.float64))
        qs = np.linspace(0.0, 1.0, self.num_bins + 1)[1:-1]
        # the smallest value with at least that share of the data below (Keras's choice too)
        self.bin_boundaries = [float(v) for v in np.quantile(values, qs, method="inverted_cdf")]

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise LayerArgumentError("Discretization needs `bin_boundaries` or a call to "
                                     "adapt() first.")
        boundaries = np.asarray(self.bin_boundaries, np.float32)
        with context.use(self.backend_name):
            inputs = ops.cast(inputs, "float32")
            indices = ops.digitize(inputs, ops.convert_to_tensor(boundaries))
            depth = len(self.bin_boundaries) + 1
            if self.output_mode == "int":
                return ops.cast(indices, self.compute_dtype)
            return CategoryEncoding(depth, self.output_mode, dtype=self.compute_dtype,
                                    name=self.name + "_encoding")(indices)

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        if self.output_mode == "int":
            return KerasTensor(shape, self.compute_dtype)
        depth = len(self.bin_boundaries or []) + 1 if self.bin_boundaries else self.num_bins
        if self.output_mode == "one_hot":
            return KerasTensor(shape + (depth,), self.compute_dtype)
        return KerasTensor(shape[:-1] + (depth,), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries,
                "num_bins": self.num_bins, "epsilon": self.epsilon,
                "output_mode": self.output_mode, "sparse": self.sparse}

    @classmethod
    def from_config(cls, config):
        """An adapted layer's config holds both ``num_bins`` and the learned boundaries (as
        Keras's): build with ``num_bins``, then set the boundaries."""
        config = dict(config)
        boundaries = config.pop("bin_boundaries", None) if config.get("num_bins") is not None \
            else None
        layer = super().from_config(config)
        if boundaries is not None:
            layer.bin_boundaries = list(boundaries)
        return layer


# --- hashing ----------------------------------------------------------------------------------
def stable_hash(data, salt=None):
    """64-bit BLAKE2b of ``data`` (bytes), keyed by ``salt``: the same on every platform.

    ``salt`` is an int or a pair of ints (as Keras accepts); it keys the hash.
    """
    key = b""
    if salt is not None:
        pair = salt if isinstance(salt, (list, tuple)) else (salt, salt)
        key = b"".join(int(s).to_bytes(8, "little", signed=True) for s in pair)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, key=key).digest(), "little")


def _token_bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, (float, np.floating)):
        raise LayerArgumentError(f"Hashing accepts strings and integers. Received: {value!r}")
    return str(value).encode("utf-8")  # ints hash through their decimal text, as Keras


class Hashing(_NumpySideLayer):
    """Hashes strings or integers into ``num_bins`` buckets with a stable 64-bit hash.

    With ``mask_value``, that value maps to bin 0 and the others to ``[1, num_bins)``.

    Example:
        >>> kbridge.layers.Hashing(num_bins=8, salt=1337)(np.array(["cat", "dog"]))
    """

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_bins, int) or num_bins <= 0:
            raise LayerArgumentError("`num_bins` must be a positive int. "
                                     f"Received: num_bins={num_bins!r}")
        _check_choice(output_mode, ("int", "one_hot", "multi_hot", "count"), "output_mode")
        if isinstance(salt, (list, tuple)) and len(salt) != 2:
            raise LayerArgumentError(f"`salt` must be an int or a pair. Received: salt={salt!r}")
        self.num_bins = num_bins
        self.mask_value = mask_value
        self.salt = salt
        self.output_mode = output_mode
        self.sparse = sparse

    def _hash(self, values):
        flat = values.reshape(-1).tolist()
        mask = self.mask_value
        bins = self.num_bins - (1 if mask is not None else 0)
        out = np.empty(len(flat), np.int64)
        for i, v in enumerate(flat):
            if isinstance(v, bytes):
                v = v.decode("utf-8")
            if mask is not None and v == mask:
                out[i] = 0
            else:
                h = stable_hash(_token_bytes(v), self.salt) % max(bins, 1)
                out[i] = h + (1 if mask is not None else 0)
        return out.reshape(values.shape)

    def call(self, inputs):
        indices = self._hash(_to_numpy(inputs))
        if self.output_mode == "int":
            return self._output(indices)
        return self._output(_encode(indices, self.num_bins, self.output_mode, np.float32))

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        if self.output_mode == "int":
            return KerasTensor(shape, "int64")
        if self.output_mode == "one_hot":
            return KerasTensor(shape + (self.num_bins,), "float32")
        return KerasTensor(shape[:-1] + (self.num_bins,), "float32")

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt,
                "mask_value": self.mask_value, "output_mode": self.output_mode,
                "sparse": self.sparse}


class HashedCrossing(_NumpySideLayer):
    """Crosses two or more categorical features and hashes each combination into
    ``num_bins`` buckets (the stable hash of the values joined by ``_X_``).

    Example:
        >>> kbridge.layers.HashedCrossing(num_bins=5)((np.array(["a", "b"]), np.array([1, 2])))
    """

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None,
                 **kwargs):
        _check_choice(output_mode, ("int", "one_hot"), "output_mode")
        if dtype is None:
            dtype = "int64" if output_mode == "int" else "float32"
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.num_bins = num_bins
        self.output_mode = output_mode
        self.sparse = sparse

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise LayerArgumentError("HashedCrossing takes a tuple of two or more features.")
        arrays = [_to_numpy(x) for x in inputs]
        shape = arrays[0].shape
        if any(a.shape != shape for a in arrays):
            raise LayerArgumentError("All crossed features need the same shape. Received: "
                                     f"{[a.shape for a in arrays]}")
        columns = [a.reshape(-1).tolist() for a in arrays]
        out = np.empty(len(columns[0]), np.int64)
        for i, row in enumerate(zip(*columns)):
            key = b"_X_".join(_token_bytes(v.decode("utf-8") if isinstance(v, bytes) else v)
                              for v in row)
            out[i] = stable_hash(key) % self.num_bins
        out = out.reshape(shape)
        if self.output_mode == "one_hot":
            return self._output(_encode(out, self.num_bins, "one_hot", np.float32))
        return self._output(out)

    def compute_output_spec(self, inputs):
        shape = tuple(inputs[0].shape)
        if self.output_mode == "int":
            return KerasTensor(shape, "int64")
        return KerasTensor(shape + (self.num_bins,), "float32")

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins,
                "output_mode": self.output_mode, "sparse": self.sparse}
