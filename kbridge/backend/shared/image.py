"""Image ops, written once over ``ops`` for every backend (see kbridge/backend/common/shared.py).

Resampling weights, nearest-neighbour indices, filter kernels and elastic noise are computed
with numpy on the host, so every backend resamples with exactly the same numbers; the images
are then transformed by the includer's own ops.

Bindings: only ``ops``. A backend may override ``_gather`` (the one gather that interpolation
needs).
"""

import functools
import itertools

import numpy as np

from kbridge.backend.common.config import standardize_data_format
from kbridge.backend.common.dtypes import floatx, standardize_dtype
from kbridge.backend.common.geometry import homography_system
from kbridge.backend.common.shared import bound
from kbridge.errors import ArgumentError, ShapeError

ops = bound("ops")

RESIZE_METHODS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic")
INTERPOLATION_ORDER = {"nearest": 0, "bilinear": 1}
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
SCALE_AND_TRANSLATE_METHODS = {
    "linear": "linear", "bilinear": "linear", "trilinear": "linear", "triangle": "linear",
    "cubic": "cubic", "bicubic": "cubic", "tricubic": "cubic",
    "lanczos3": "lanczos3", "lanczos5": "lanczos5",
}
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)
SOBEL_DY = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
SOBEL_DX = SOBEL_DY.T
_FLOATS = ("float16", "bfloat16", "float32", "float64")


# ---------------------------------------------------------------- arguments and dtypes

def check_rank(images, ranks=(3, 4), name="images"):
    if len(images.shape) not in ranks:
        raise ShapeError(
            f"Invalid `{name}` rank: expected rank {ranks[0]} (single image) or {ranks[1]} "
            f"(batch of images). Received: {name}.shape={tuple(images.shape)}"
        )


def image_tensor(images, ranks=(3, 4)):
    """``images`` as a tensor of one of ``ranks`` (a single image or a batch)."""
    images = ops.convert_to_tensor(images)
    check_rank(images, ranks)
    return images


def check_choice(value, choices, name):
    if value not in choices:
        raise ArgumentError(f"`{name}` must be one of {tuple(choices)}. Received: {name}={value!r}")


def check_float(images, name="images"):
    dtype = standardize_dtype(images.dtype)
    if dtype not in _FLOATS:
        raise ArgumentError(f"`{name}` must have a float dtype. Received: {name}.dtype={dtype}")


def channel_axis(data_format):
    return -1 if standardize_data_format(data_format) == "channels_last" else -3


def hw_axes(ndim, data_format):
    """Axes of height and width for an image tensor of rank ``ndim``."""
    if standardize_data_format(data_format) == "channels_last":
        return ndim - 3, ndim - 2
    return ndim - 2, ndim - 1


def _dtype(x):
    return standardize_dtype(x.dtype)


def _compute_dtype(x):
    """float32 for ints and half floats, else the float dtype of ``x``."""
    dtype = _dtype(x)
    return dtype if dtype in ("float32", "float64") else "float32"


def _finish(out, dtype):
    """``out`` cast to ``dtype``, rounded first when that is an integer dtype."""
    return ops.cast(out if dtype in _FLOATS else ops.round(out), dtype)


def _to_nhwc(images, data_format):
    """``images`` as a channels_last batch, and whether they were a batch."""
    batched = len(images.shape) == 4
    x = images if batched else images[None]
    if standardize_data_format(data_format) == "channels_first":
        x = ops.transpose(x, (0, 2, 3, 1))
    return x, batched


def _from_nhwc(x, batched, data_format):
    if standardize_data_format(data_format) == "channels_first":
        x = ops.transpose(x, (0, 3, 1, 2))
    return x if batched else x[0]


# ---------------------------------------------------------------- resampling weights

def _triangle(x):
    return np.maximum(0.0, 1.0 - np.abs(x))


def _keys_cubic(x):
    x = np.abs(x)
    near = ((1.5 * x - 2.5) * x) * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, far, near))


def _lanczos(radius, x):
    x = np.abs(x)
    with np.errstate(all="ignore"):
        y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius) / (np.pi**2 * x**2)
    return np.where(x > radius, 0.0, np.where(x > 1e-3, y, 1.0))


KERNELS = {
    "linear": _triangle, "bilinear": _triangle,
    "cubic": _keys_cubic, "bicubic": _keys_cubic,
    "lanczos3": functools.partial(_lanczos, 3.0),
    "lanczos5": functools.partial(_lanczos, 5.0),
}


def resample_weights(in_size, out_size, method, antialias, scale=None, translation=0.0):
    """(in_size, out_size) float64 matrix W with ``out = in @ W`` along one axis.

    Output sample ``i`` sits at input coordinate ``(i + 0.5 - translation) / scale - 0.5``
    (half-pixel centres); the kernel is widened by ``1 / scale`` when ``antialias`` and
    downsampling. Columns are normalised; samples outside the input get zero weight.
    """
    if scale is None:
        scale = out_size / in_size if in_size else 1.0
    return _resample_weights(int(in_size), int(out_size), method, bool(antialias), float(scale),
                             float(translation))


@functools.lru_cache(maxsize=256)
def _resample_weights(in_size, out_size, method, antialias, scale, translation):
    kernel = KERNELS[method]
    inv_scale = 1.0 / scale
    kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
    sample = (np.arange(out_size) + 0.5 - translation) * inv_scale - 0.5
    dist = np.abs(sample[None, :] - np.arange(in_size)[:, None]) / kernel_scale
    w = kernel(dist)
    total = w.sum(axis=0, keepdims=True)
    w = np.where(np.abs(total) > 1000.0 * np.finfo(np.float32).eps,
                 w / np.where(total != 0, total, 1.0), 0.0)
    inside = (sample >= -0.5) & (sample <= in_size - 0.5)
    w = np.where(inside[None, :], w, 0.0)
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=256)
def nearest_indices(in_size, out_size):
    """Source index of each output pixel for nearest-neighbour resizing (half-pixel centres)."""
    idx = np.floor((np.arange(out_size, dtype=np.float64) + 0.5) * in_size / out_size)
    idx = np.minimum(idx, in_size - 1).astype(np.int64)
    idx.setflags(write=False)
    return idx


# ---------------------------------------------------------------- resizing

def resize_plan(shape, size, interpolation, antialias, crop_to_aspect_ratio, pad_to_aspect_ratio,
                fill_mode, data_format):
    """Validate ``resize`` arguments; returns (h_axis, w_axis, crop_box, pad_box).

    ``crop_box`` is ``(top, left, height, width)`` of the centred crop (or None); ``pad_box``
    is ``(top, left, padded_height, padded_width)`` (or None).
    """
    check_choice(interpolation, RESIZE_METHODS, "interpolation")
    if fill_mode != "constant":
        raise ArgumentError(f"`fill_mode` must be 'constant' for resize. Received: fill_mode={fill_mode!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ArgumentError("Only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True.")
    if len(size) != 2:
        raise ArgumentError(f"`size` must be a tuple (height, width). Received: size={size!r}")
    if len(shape) not in (3, 4):
        raise ShapeError(
            "Invalid `images` rank: expected rank 3 (single image) or 4 (batch of images). "
            f"Received: images.shape={tuple(shape)}"
        )
    h_axis, w_axis = hw_axes(len(shape), data_format)
    height, width = int(shape[h_axis]), int(shape[w_axis])
    target_h, target_w = int(size[0]), int(size[1])
    crop_box = pad_box = None
    if crop_to_aspect_ratio:
        crop_h = max(min(height, int(width * target_h / target_w)), 1)
        crop_w = max(min(width, int(height * target_w / target_h)), 1)
        crop_box = ((height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w)
    elif pad_to_aspect_ratio:
        pad_h = max(height, int(width * target_h / target_w))
        pad_w = max(width, int(height * target_w / target_h))
        top, left = (pad_h - height) // 2, (pad_w - width) // 2
        # the padding is symmetric: the original image sits in the middle
        pad_box = (top, left, height + 2 * top, width + 2 * left)
    return h_axis, w_axis, crop_box, pad_box


def _crop(images, h_axis, w_axis, top, height, left, width):
    index = [slice(None)] * len(images.shape)
    index[h_axis], index[w_axis] = slice(top, top + height), slice(left, left + width)
    return images[tuple(index)]


def _pad(images, h_axis, w_axis, rows, cols, value=0):
    """``images`` padded by ``rows`` (top, bottom) and ``cols`` (left, right) of ``value``."""
    pads = [(0, 0)] * len(images.shape)
    pads[h_axis], pads[w_axis] = rows, cols
    return ops.pad(images, pads, constant_values=value)


def _resample(images, axes, weights):
    """``images`` resampled along each of ``axes`` by its (in, out) numpy ``weights``.

    Integer images are resampled in float32, then rounded and clipped to their input range.
    """
    dtype = _dtype(images)
    out = images if dtype in _FLOATS else ops.cast(images, "float32")
    for axis, w in zip(axes, weights):
        out = ops.moveaxis(ops.tensordot(out, ops.cast(w, _dtype(out)), axes=([axis], [0])),
                           -1, axis)
    if dtype in _FLOATS:
        return out
    low, high = ops.cast(ops.min(images), "float32"), ops.cast(ops.max(images), "float32")
    return ops.cast(ops.minimum(ops.maximum(ops.round(out), low), high), dtype)


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    images = ops.convert_to_tensor(images)
    h_axis, w_axis, crop_box, pad_box = resize_plan(
        tuple(images.shape), size, interpolation, antialias, crop_to_aspect_ratio,
        pad_to_aspect_ratio, fill_mode, data_format)
    if crop_box is not None:
        top, left, height, width = crop_box
        images = _crop(images, h_axis, w_axis, top, height, left, width)
    elif pad_box is not None:
        top, left = pad_box[:2]
        images = _pad(images, h_axis, w_axis, (top, top), (left, left), fill_value)
    changed = [(axis, images.shape[axis], int(n)) for axis, n in zip((h_axis, w_axis), size)
               if images.shape[axis] != int(n)]
    if interpolation == "nearest":
        for axis, n_in, n in changed:
            images = ops.take(images, nearest_indices(n_in, n), axis=axis)
        return images
    return _resample(images, [axis for axis, _, _ in changed],
                     [resample_weights(n_in, n, interpolation, antialias) for _, n_in, n in changed])


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    check_choice(method, SCALE_AND_TRANSLATE_METHODS, "method")
    images = ops.convert_to_tensor(images)
    scale, translation = (np.asarray(ops.convert_to_numpy(v), np.float64).reshape(-1)
                          for v in (scale, translation))
    dims = [d % len(images.shape) for d in spatial_dims]
    weights = [resample_weights(images.shape[d], output_shape[d],
                                SCALE_AND_TRANSLATE_METHODS[method], antialias, s, t)
               for d, s, t in zip(dims, scale, translation)]
    return _resample(images, dims, weights)


# ---------------------------------------------------------------- colour

def rgb_to_grayscale(images, data_format=None):
    images = image_tensor(images)
    axis = channel_axis(data_format) % len(images.shape)
    if images.shape[axis] not in (1, 3):
        raise ShapeError(f"`images` must have 1 or 3 channels. "
                         f"Received: images.shape={tuple(images.shape)}")
    if images.shape[axis] == 1:
        return ops.copy(images)
    compute = images if _dtype(images) in _FLOATS else ops.cast(images, floatx())
    gray = ops.tensordot(compute, ops.cast(GRAY_WEIGHTS, _dtype(compute)), axes=([axis], [0]))
    return ops.cast(ops.expand_dims(gray, axis), _dtype(images))


def rgb_to_hsv(images, data_format=None):
    images = image_tensor(images)
    check_float(images)
    axis = channel_axis(data_format)
    dtype = _dtype(images)
    eps = np.finfo(_compute_dtype(images)).eps
    zero = ops.zeros_like(images)
    images = ops.where(ops.abs(images) < eps, zero, images)
    r, g, b = ops.unstack(images, axis=axis)
    zero, one = ops.zeros_like(r), ops.ones_like(r)
    value = ops.maximum(ops.maximum(r, g), b)
    spread = value - ops.minimum(ops.minimum(r, g), b)
    saturation = ops.where(value > 0, spread / ops.where(value > 0, value, one), zero)
    norm = 1.0 / (6.0 * ops.where(spread > 0, spread, one))
    hue = ops.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = ops.where(value == r, norm * (g - b), hue)
    hue = ops.where(spread > 0, hue, zero) + ops.cast(hue < 0.0, dtype)
    return ops.stack([hue, saturation, value], axis=axis)


def hsv_to_rgb(images, data_format=None):
    images = image_tensor(images)
    check_float(images)
    axis = channel_axis(data_format)
    h, s, v = ops.unstack(images, axis=axis)
    dh = ops.mod(h, 1.0) * 6.0
    dr = ops.clip(ops.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = ops.clip(2.0 - ops.abs(dh - 2.0), 0.0, 1.0)
    db = ops.clip(2.0 - ops.abs(dh - 4.0), 0.0, 1.0)
    return ops.stack([v * (1.0 - s + s * d) for d in (dr, dg, db)], axis=axis)


# ---------------------------------------------------------------- padding and cropping

def _exactly_two(**triple):
    if list(triple.values()).count(None) != 1:
        raise ArgumentError(f"Specify exactly two of {', '.join(triple)}. Received: "
                            + ", ".join(f"{name}={value}" for name, value in triple.items()))


def _non_negative(note="", **values):
    for name, value in values.items():
        if value < 0:
            raise ArgumentError(f"`{name}` must be >= 0{note}. Received: {name}={value}")


def _complete_axis(size, before, after, target, cropping, names):
    """``(before, after, target)`` of one axis from exactly two of them: the padded image is
    ``before + size + after == target``, the crop ``before + target + after == size``."""
    _exactly_two(**dict(zip(names, (before, after, target))))
    if target is None:
        target = size - before - after if cropping else before + size + after
    outer, inner = (size, target) if cropping else (target, size)
    before = outer - inner - after if before is None else before
    after = outer - inner - before if after is None else after
    return before, after, target


def pad_amounts(height, width, top, left, bottom, right, target_height, target_width):
    """``(top, bottom, left, right)`` padding from exactly two of each triple."""
    top, bottom, _ = _complete_axis(height, top, bottom, target_height, cropping=False,
                                    names=("top_padding", "bottom_padding", "target_height"))
    left, right, _ = _complete_axis(width, left, right, target_width, cropping=False,
                                    names=("left_padding", "right_padding", "target_width"))
    _non_negative(" (the image is larger than the target)", top_padding=top,
                  bottom_padding=bottom, left_padding=left, right_padding=right)
    return int(top), int(bottom), int(left), int(right)


def crop_box(height, width, top, left, bottom, right, target_height, target_width):
    """``(top, height, left, width)`` of the kept region from exactly two of each triple."""
    top, _, target_height = _complete_axis(
        height, top, bottom, target_height, cropping=True,
        names=("top_cropping", "bottom_cropping", "target_height"))
    left, _, target_width = _complete_axis(
        width, left, right, target_width, cropping=True,
        names=("left_cropping", "right_cropping", "target_width"))
    _non_negative(top_cropping=top, left_cropping=left, target_height=target_height,
                  target_width=target_width)
    if top + target_height > height or left + target_width > width:
        raise ArgumentError(
            f"The crop exceeds the image ({height}x{width}). Received: top_cropping={top}, "
            f"target_height={target_height}, left_cropping={left}, target_width={target_width}"
        )
    return int(top), int(target_height), int(left), int(target_width)


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    images = image_tensor(images)
    h_axis, w_axis = hw_axes(len(images.shape), data_format)
    top, bottom, left, right = pad_amounts(images.shape[h_axis], images.shape[w_axis],
                                           top_padding, left_padding, bottom_padding,
                                           right_padding, target_height, target_width)
    return _pad(images, h_axis, w_axis, (top, bottom), (left, right))


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    images = image_tensor(images)
    h_axis, w_axis = hw_axes(len(images.shape), data_format)
    top, height, left, width = crop_box(images.shape[h_axis], images.shape[w_axis],
                                        top_cropping, left_cropping, bottom_cropping,
                                        right_cropping, target_height, target_width)
    return _crop(images, h_axis, w_axis, top, height, left, width)


# ---------------------------------------------------------------- patches

def patch_args(size, strides, dilation_rate, padding, n):
    """Normalise ``extract_patches`` arguments to tuples of length ``n``."""
    def tup(v, name):
        if isinstance(v, int):
            return (v,) * n
        v = tuple(int(e) for e in v)
        if len(v) != n:
            raise ArgumentError(f"`{name}` must be an int or a tuple of {n} ints. Received: {name}={v}")
        return v

    size = tup(size, "size")
    strides = size if not strides else tup(strides, "strides")
    check_choice(padding.lower() if isinstance(padding, str) else padding, ("valid", "same"),
                 "padding")
    return size, strides, tup(dilation_rate, "dilation_rate"), padding.lower()


def same_padding(length, window, stride, dilation):
    """(before, after) zero padding of TF's 'same' convolution."""
    effective = (window - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def _patches(x, size, strides, dilation_rate, padding, data_format):
    """Patches of the batch ``x`` with ``len(size)`` spatial dims, taps ordered (k1..kn, c)."""
    n = len(size)
    channels_last = standardize_data_format(data_format) == "channels_last"
    if not channels_last:
        x = ops.moveaxis(x, 1, -1)
    if padding == "same":
        x = ops.pad(x, [(0, 0)] + [same_padding(x.shape[1 + i], size[i], strides[i],
                                                dilation_rate[i]) for i in range(n)] + [(0, 0)])
    # Each spatial axis becomes (out, tap): source index out * stride + tap * dilation.
    for i in range(n):
        axis, k, step = 1 + 2 * i, size[i], strides[i]
        outs = (x.shape[axis] - (k - 1) * dilation_rate[i] - 1) // step + 1
        if step == k and dilation_rate[i] == 1:  # non-overlapping patches: a reshape
            shape = (-1, *x.shape[1:axis], outs, k, *x.shape[axis + 1:])
            x = ops.reshape(x[(slice(None),) * axis + (slice(0, outs * k),)], shape)
        else:
            starts = np.arange(outs) * step
            x = ops.take(x, starts[:, None] + np.arange(k) * dilation_rate[i], axis=axis)
    # (B, o1, k1, ..., on, kn, C) -> (B, o1..on, k1..kn, C) -> (B, o1..on, k1*..*kn*C)
    x = ops.transpose(x, [0, *range(1, 2 * n, 2), *range(2, 2 * n + 1, 2), 2 * n + 1])
    out = ops.reshape(x, (-1, *x.shape[1:1 + n], int(np.prod(x.shape[1 + n:]))))
    return out if channels_last else ops.moveaxis(out, -1, 1)


def _extract(x, size, strides, dilation_rate, padding, data_format, n, name):
    x = ops.convert_to_tensor(x)
    check_rank(x, (n + 1, n + 2), name)
    batched = len(x.shape) == n + 2
    out = _patches(x if batched else x[None],
                   *patch_args(size, strides, dilation_rate, padding, n), data_format)
    return out if batched else out[0]


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    if not isinstance(size, int) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    return _extract(images, size, strides, dilation_rate, padding, data_format, 2, "images")


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    return _extract(volumes, size, strides, dilation_rate, padding, data_format, 3, "volumes")


# ---------------------------------------------------------------- interpolation at coordinates

def _map_index(index, size, fill_mode):
    """Integer ``index`` mapped into [0, size) by ``fill_mode``; also the in-bounds mask."""
    valid = (index >= 0) & (index < size)
    if fill_mode == "wrap":
        index = ops.mod(index, size)
    elif fill_mode == "mirror":
        if size > 1:
            period = 2 * size - 2
            index = ops.mod(index, period)
            index = ops.where(index >= size, period - index, index)
        else:
            index = ops.zeros_like(index)
    elif fill_mode == "reflect":
        index = ops.mod(index, 2 * size)
        index = ops.where(index >= size, 2 * size - 1 - index, index)
    else:  # constant, nearest
        index = ops.clip(index, 0, size - 1)
    return index, valid


def _corners(c, order):
    """(index, weight) pairs of the samples that interpolate at float coordinates ``c``.

    Order 0: the nearest sample (rounding half away from zero, as scipy), weight None.
    """
    if order == 0:
        return [(ops.cast(ops.sign(c) * ops.floor(ops.abs(c) + 0.5), "int32"), None)]
    lower = ops.floor(c)
    frac = c - lower
    lower = ops.cast(lower, "int32")
    return [(lower, 1.0 - frac), (lower + 1, frac)]


def _gather(x, index):
    """``x[b, index[b, i], :]`` for ``x`` (batch, n, channels) and ``index`` (batch or 1, m)."""
    return ops.take_along_axis(x, ops.expand_dims(index, -1), axis=1)


def _sample(x, coordinates, sizes, order, fill_mode, fill_value):
    """Interpolation of ``x`` (batch, prod(sizes), channels) at ``coordinates``.

    ``coordinates`` holds one float (batch or 1, m) tensor per dimension in ``sizes``; the
    result is (batch, m, channels).
    """
    dtype = _dtype(x)
    fill = ops.cast(fill_value, dtype)
    result = None
    for corner in itertools.product(*(_corners(c, order) for c in coordinates)):
        flat, valid, weight = 0, None, None
        for (index, w), size in zip(corner, sizes):
            index, inside = _map_index(index, size, fill_mode)
            flat = flat * size + index
            valid = inside if valid is None else valid & inside
            if w is not None:
                weight = w if weight is None else weight * w
        value = _gather(x, flat)
        if fill_mode == "constant":
            value = ops.where(ops.expand_dims(valid, -1), value, fill)
        if weight is not None:
            value = value * ops.cast(ops.expand_dims(weight, -1), dtype)
        result = value if result is None else result + value
    return result


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    inputs = ops.convert_to_tensor(inputs)
    if not isinstance(coordinates, (list, tuple)):  # one stacked tensor
        coordinates = ops.unstack(ops.convert_to_tensor(coordinates))
    coordinates = [ops.convert_to_tensor(c) for c in coordinates]
    if len(coordinates) != len(inputs.shape):
        raise ShapeError(
            "`coordinates` must have one entry per dimension of `inputs`. Received: "
            f"{len(coordinates)} coordinate arrays for inputs of rank {len(inputs.shape)}"
        )
    check_choice(fill_mode, FILL_MODES, "fill_mode")
    check_choice(order, (0, 1), "order")
    dtype = _dtype(inputs) if _dtype(inputs) in _FLOATS else "float32"
    flat = [ops.reshape(c if _dtype(c) in _FLOATS else ops.cast(c, dtype), (1, -1))
            for c in coordinates]
    out = _sample(ops.reshape(ops.cast(inputs, dtype), (1, -1, 1)), flat, tuple(inputs.shape),
                  order, fill_mode, fill_value)
    return _finish(ops.reshape(out, ops.shape(coordinates[0])), _dtype(inputs))


def _warp(x, ys, xs, order, fill_mode, fill_value):
    """NHWC ``x`` sampled at the (batch or 1, H, W) coordinates ``ys``, ``xs``."""
    _, h, w, c = x.shape
    coordinates = [ops.reshape(ys, (-1, h * w)), ops.reshape(xs, (-1, h * w))]
    out = _sample(ops.reshape(x, (-1, h * w, c)), coordinates, (h, w), order, fill_mode,
                  fill_value)
    return ops.reshape(out, (-1, h, w, c))


def _projective_grid(transform, height, width, dtype):
    """Input (y, x) coordinates, each (batch, H, W), of the output pixels of the transforms."""
    t = ops.cast(transform, dtype)
    t = t[None] if len(t.shape) == 1 else t
    # reshape, not [:, i, None, None]: Grappler can drop the new axes of a stacked transform
    a0, a1, a2, b0, b1, b2, c0, c1 = (ops.reshape(t[:, i], (-1, 1, 1)) for i in range(8))
    y = ops.reshape(ops.arange(height, dtype=dtype), (-1, 1))
    x = ops.arange(width, dtype=dtype)
    k = c0 * x + c1 * y + 1.0
    return (b0 * x + b1 * y + b2) / k, (a0 * x + a1 * y + a2) / k


def _transform(images, transform, interpolation, fill_mode, fill_value, data_format):
    """``images`` warped by the (8,) or (batch, 8) projective ``transform``."""
    x, batched = _to_nhwc(images, data_format)
    dtype = _compute_dtype(x)
    ys, xs = _projective_grid(transform, x.shape[1], x.shape[2], dtype)
    out = _warp(ops.cast(x, dtype), ys, xs, INTERPOLATION_ORDER[interpolation], fill_mode,
                fill_value)
    return _from_nhwc(_finish(out, _dtype(x)), batched, data_format)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    check_choice(interpolation, INTERPOLATION_ORDER, "interpolation")
    check_choice(fill_mode, FILL_MODES, "fill_mode")
    images, transform = ops.convert_to_tensor(images), ops.convert_to_tensor(transform)
    check_rank(images)
    if len(transform.shape) not in (1, 2) or transform.shape[-1] != 8:
        raise ShapeError(f"`transform` must have shape (8,) or (batch, 8). "
                         f"Received: transform.shape={tuple(transform.shape)}")
    return _transform(images, transform, interpolation, fill_mode, fill_value, data_format)


def check_points(start_points, end_points):
    for name, p in (("start_points", start_points), ("end_points", end_points)):
        if len(p.shape) not in (2, 3) or tuple(p.shape[-2:]) != (4, 2):
            raise ShapeError(f"`{name}` must have shape (4, 2) or (batch, 4, 2). "
                             f"Received: {name}.shape={tuple(p.shape)}")
    if tuple(start_points.shape) != tuple(end_points.shape):
        raise ShapeError("`start_points` and `end_points` must have the same shape. Received: "
                         f"{tuple(start_points.shape)} and {tuple(end_points.shape)}")


def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    check_choice(interpolation, INTERPOLATION_ORDER, "interpolation")
    images = image_tensor(images)
    points = [ops.convert_to_tensor(start_points), ops.convert_to_tensor(end_points)]
    check_points(*points)
    dtype = _compute_dtype(images)
    a, b = homography_system(ops, *(ops.reshape(ops.cast(p, dtype), (-1, 4, 2)) for p in points))
    transform = ops.solve(a, ops.expand_dims(b, -1))[..., 0]
    return _transform(images, transform, interpolation, "constant", fill_value, data_format)


# ---------------------------------------------------------------- filters

def gaussian_kernel1d(size, sigma):
    """Normalised 1D Gaussian of ``size`` taps (float64 numpy)."""
    x = np.arange(int(size), dtype=np.float64) - (int(size) - 1) / 2.0
    k = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return k / k.sum()


def blur_args(kernel_size, sigma):
    ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    sg = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)
    if len(ks) != 2 or len(sg) != 2:
        raise ArgumentError(f"`kernel_size` and `sigma` must be pairs. Received: "
                           f"kernel_size={kernel_size!r}, sigma={sigma!r}")
    return tuple(int(k) for k in ks), tuple(float(np.asarray(s)) for s in sg)


def gaussian_kernel2d(kernel_size, sigma):
    """(kh, kw) float64 kernel: ``kernel_size``/``sigma`` are (x, y) pairs as in Keras."""
    kx = gaussian_kernel1d(kernel_size[0], sigma[0])
    ky = gaussian_kernel1d(kernel_size[1], sigma[1])
    return np.outer(ky, kx)


def _correlate(x, kernel, pads=((0, 0), (0, 0)), mode="constant"):
    """Per-channel 2D correlation of NHWC ``x``, padded by ``pads`` in ``mode``, with the
    numpy (kh, kw) ``kernel``."""
    if any(p for pair in pads for p in pair):
        x = ops.pad(x, [(0, 0), *pads, (0, 0)], mode=mode)
    kernel = np.tile(kernel[:, :, None, None], (1, 1, x.shape[-1], 1))
    return ops.depthwise_conv(x, ops.cast(kernel, _dtype(x)), 1, "valid", "channels_last")


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    images = image_tensor(images)
    kernel_size, sigma = blur_args(kernel_size, sigma)
    # a convolution: the correlation with the flipped kernel
    kernel = gaussian_kernel2d(kernel_size, sigma)[::-1, ::-1]
    x, batched = _to_nhwc(images, data_format)
    pads = tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel.shape)
    out = _correlate(ops.cast(x, _compute_dtype(x)), kernel, pads)
    return _from_nhwc(ops.cast(out, _dtype(images)), batched, data_format)


def elastic_noise(seed, shape):
    """Standard-normal displacement noise (dy, dx), each ``shape``, from a numpy RNG.

    Drawn with numpy for every backend, so an int ``seed`` gives the same warp everywhere.
    """
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise ArgumentError(f"`seed` must be an int or None. Received: seed={seed!r}")
    rng = np.random.default_rng(seed)
    dx = rng.normal(size=shape)
    dy = rng.normal(size=shape)
    return dy, dx


def elastic_args(interpolation, fill_mode, alpha, sigma):
    check_choice(interpolation, INTERPOLATION_ORDER, "interpolation")
    check_choice(fill_mode, FILL_MODES, "fill_mode")
    sigma = float(np.asarray(sigma))
    size = int(6 * sigma) | 1
    return float(np.asarray(alpha)), sigma, size


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    images = image_tensor(images)
    alpha, sigma, size = elastic_args(interpolation, fill_mode, alpha, sigma)
    x, batched = _to_nhwc(images, data_format)
    b, h, w, _ = x.shape
    dtype = _compute_dtype(x)
    dy, dx = (gaussian_blur(ops.cast((d * sigma)[..., None], dtype), (size, size),
                            (sigma, sigma), "channels_last")[..., 0]
              for d in elastic_noise(seed, (b, h, w)))
    ys = ops.reshape(ops.arange(h, dtype=dtype), (-1, 1)) + alpha * dy
    xs = ops.arange(w, dtype=dtype) + alpha * dx
    out = _warp(ops.cast(x, dtype), ys, xs, INTERPOLATION_ORDER[interpolation], fill_mode,
                fill_value)
    return _from_nhwc(_finish(out, _dtype(x)), batched, data_format)


def sobel_edges(images, data_format=None):
    images = image_tensor(images, (4, 4))
    x, _ = _to_nhwc(images, data_format)
    x = ops.cast(x, _compute_dtype(x))
    # a one-pixel 'symmetric' pad repeats the edge pixel, as scipy.ndimage's default 'reflect'
    edges = [_correlate(x, k, ((1, 1), (1, 1)), "symmetric") for k in (SOBEL_DY, SOBEL_DX)]
    out = ops.cast(ops.stack(edges, axis=-1), _dtype(images))
    if standardize_data_format(data_format) == "channels_first":
        out = ops.transpose(out, (0, 3, 1, 2, 4))
    return out


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    image1, image2 = ops.convert_to_tensor(image1), ops.convert_to_tensor(image2)
    check_rank(image1, name="image1")
    check_rank(image2, name="image2")
    dtype = _compute_dtype(image1)
    x, batched = _to_nhwc(ops.cast(image1, dtype), data_format)
    y, _ = _to_nhwc(ops.cast(image2, dtype), data_format)
    k = gaussian_kernel1d(filter_size, filter_sigma)
    kernel = np.outer(k, k)
    mu1, mu2 = _correlate(x, kernel), _correlate(y, kernel)
    s11 = _correlate(x * x, kernel) - mu1 * mu1
    s22 = _correlate(y * y, kernel) - mu2 * mu2
    s12 = _correlate(x * y, kernel) - mu1 * mu2
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    num = (2.0 * mu1 * mu2 + c1) * (2.0 * s12 + c2)
    den = (mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2)
    out = ops.mean(num / den, axis=(1, 2, 3))
    return ops.cast(out if batched else out[0], _dtype(image1))
