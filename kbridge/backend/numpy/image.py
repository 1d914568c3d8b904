"""numpy backend: image ops.

The framework-neutral pieces (resampling weight matrices, nearest-neighbour indices, argument
checks, Gaussian kernels) are plain numpy functions without a leading underscore that the other
backends import, so every backend resamples with exactly the same weights.
"""

import functools

import numpy as np

from kbridge.backend.common.config import standardize_data_format
from kbridge.backend.common.dtypes import floatx, numpy_dtype, standardize_dtype
from kbridge.errors import ArgumentError, ShapeError

RESIZE_METHODS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic")
INTERPOLATION_ORDER = {"nearest": 0, "bilinear": 1}
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
SCALE_AND_TRANSLATE_METHODS = {
    "linear": "linear", "bilinear": "linear", "trilinear": "linear", "triangle": "linear",
    "cubic": "cubic", "bicubic": "cubic", "tricubic": "cubic",
    "lanczos3": "lanczos3", "lanczos5": "lanczos5",
}
_FLOATS = ("float16", "bfloat16", "float32", "float64")


# ---------------------------------------------------------------- argument checks

def check_rank(images, ranks=(3, 4), name="images"):
    if len(images.shape) not in ranks:
        raise ShapeError(
            f"Invalid `{name}` rank: expected rank {ranks[0]} (single image) or {ranks[1]} "
            f"(batch of images). Received: {name}.shape={tuple(images.shape)}"
        )


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


def _resample_axis(x, axis, w):
    out = np.tensordot(x, w.astype(x.dtype), axes=([axis], [0]))
    return np.moveaxis(out, -1, axis)


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    images = np.asarray(images)
    h_axis, w_axis, crop_box, pad_box = resize_plan(
        images.shape, size, interpolation, antialias, crop_to_aspect_ratio, pad_to_aspect_ratio,
        fill_mode, data_format)
    if crop_box is not None:
        top, left, ch, cw = crop_box
        index = [slice(None)] * images.ndim
        index[h_axis], index[w_axis] = slice(top, top + ch), slice(left, left + cw)
        images = images[tuple(index)]
    elif pad_box is not None:
        top, left = pad_box[:2]
        pads = [(0, 0)] * images.ndim
        pads[h_axis], pads[w_axis] = (top, top), (left, left)
        images = np.pad(images, pads, constant_values=np.asarray(fill_value, images.dtype))
    out = images
    if interpolation == "nearest":
        for axis, n in ((h_axis, size[0]), (w_axis, size[1])):
            if out.shape[axis] != n:
                out = np.take(out, nearest_indices(out.shape[axis], int(n)), axis=axis)
        return out
    is_int = images.dtype.kind in "iub"
    if is_int:
        out = out.astype(np.float32)
    for axis, n in ((h_axis, size[0]), (w_axis, size[1])):
        if out.shape[axis] != n:
            out = _resample_axis(out, axis, resample_weights(out.shape[axis], int(n),
                                                             interpolation, antialias))
    if is_int:
        out = np.clip(np.round(out), images.min(), images.max()).astype(images.dtype)
    return out


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    check_choice(method, SCALE_AND_TRANSLATE_METHODS, "method")
    kernel = SCALE_AND_TRANSLATE_METHODS[method]
    images = np.asarray(images)
    scale = np.asarray(scale, np.float64).reshape(-1)
    translation = np.asarray(translation, np.float64).reshape(-1)
    is_int = images.dtype.kind in "iub"
    out = images.astype(np.float32) if is_int else images
    for i, d in enumerate(spatial_dims):
        d = d % images.ndim
        w = resample_weights(images.shape[d], output_shape[d], kernel, antialias,
                             scale[i], translation[i])
        out = _resample_axis(out, d, w)
    if is_int:
        out = np.clip(np.round(out), images.min(), images.max()).astype(images.dtype)
    return out


# ---------------------------------------------------------------- colour

GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def rgb_to_grayscale(images, data_format=None):
    images = np.asarray(images)
    check_rank(images)
    axis = channel_axis(data_format)
    if images.shape[axis] not in (1, 3):
        raise ShapeError(f"`images` must have 1 or 3 channels. Received: images.shape={images.shape}")
    if images.shape[axis] == 1:
        return images.copy()
    compute = images if images.dtype.kind == "f" else images.astype(numpy_dtype(floatx()))
    gray = np.tensordot(compute, np.asarray(GRAY_WEIGHTS, compute.dtype), axes=([axis], [0]))
    gray = np.expand_dims(gray, axis)
    return gray.astype(images.dtype)


def rgb_to_hsv(images, data_format=None):
    images = np.asarray(images)
    check_rank(images)
    check_float(images)
    axis = channel_axis(data_format)
    eps = np.finfo(np.float32 if images.dtype.itemsize < 4 else images.dtype).eps
    images = np.where(np.abs(images) < eps, 0.0, images).astype(images.dtype)
    r, g, b = (np.take(images, i, axis=axis) for i in range(3))
    value = np.maximum(np.maximum(r, g), b)
    spread = value - np.minimum(np.minimum(r, g), b)
    saturation = np.where(value > 0, spread / np.where(value > 0, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * np.where(spread > 0, spread, 1.0))
    hue = np.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = np.where(value == r, norm * (g - b), hue)
    hue = np.where(spread > 0, hue, 0.0) + (hue < 0.0)
    return np.stack([hue, saturation, value], axis=axis).astype(images.dtype)


def hsv_to_rgb(images, data_format=None):
    images = np.asarray(images)
    check_rank(images)
    check_float(images)
    axis = channel_axis(data_format)
    h, s, v = (np.take(images, i, axis=axis) for i in range(3))
    dh = np.mod(h, 1.0) * 6.0
    dr = np.clip(np.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = np.clip(2.0 - np.abs(dh - 2.0), 0.0, 1.0)
    db = np.clip(2.0 - np.abs(dh - 4.0), 0.0, 1.0)
    one_minus_s = 1.0 - s
    rgb = [v * (one_minus_s + s * d) for d in (dr, dg, db)]
    return np.stack(rgb, axis=axis).astype(images.dtype)


# ---------------------------------------------------------------- padding and cropping

def pad_amounts(height, width, top, left, bottom, right, target_height, target_width):
    """``(top, bottom, left, right)`` padding from exactly two of each triple."""
    if [top, bottom, target_height].count(None) != 1:
        raise ArgumentError(
            "Specify exactly two of top_padding, bottom_padding, target_height. Received: "
            f"top_padding={top}, bottom_padding={bottom}, target_height={target_height}"
        )
    if [left, right, target_width].count(None) != 1:
        raise ArgumentError(
            "Specify exactly two of left_padding, right_padding, target_width. Received: "
            f"left_padding={left}, right_padding={right}, target_width={target_width}"
        )
    top = target_height - bottom - height if top is None else top
    bottom = target_height - top - height if bottom is None else bottom
    left = target_width - right - width if left is None else left
    right = target_width - left - width if right is None else right
    for name, value in (("top_padding", top), ("bottom_padding", bottom),
                        ("left_padding", left), ("right_padding", right)):
        if value < 0:
            raise ArgumentError(f"`{name}` must be >= 0 (the image is larger than the target). "
                               f"Received: {name}={value}")
    return int(top), int(bottom), int(left), int(right)


def crop_box(height, width, top, left, bottom, right, target_height, target_width):
    """``(top, height, left, width)`` of the kept region from exactly two of each triple."""
    if [top, bottom, target_height].count(None) != 1:
        raise ArgumentError(
            "Specify exactly two of top_cropping, bottom_cropping, target_height. Received: "
            f"top_cropping={top}, bottom_cropping={bottom}, target_height={target_height}"
        )
    if [left, right, target_width].count(None) != 1:
        raise ArgumentError(
            "Specify exactly two of left_cropping, right_cropping, target_width. Received: "
            f"left_cropping={left}, right_cropping={right}, target_width={target_width}"
        )
    top = height - target_height - bottom if top is None else top
    target_height = height - top - bottom if target_height is None else target_height
    left = width - target_width - right if left is None else left
    target_width = width - left - right if target_width is None else target_width
    for name, value in (("top_cropping", top), ("left_cropping", left),
                        ("target_height", target_height), ("target_width", target_width)):
        if value < 0:
            raise ArgumentError(f"`{name}` must be >= 0. Received: {name}={value}")
    if top + target_height > height or left + target_width > width:
        raise ArgumentError(
            f"The crop exceeds the image ({height}x{width}). Received: top_cropping={top}, "
            f"target_height={target_height}, left_cropping={left}, target_width={target_width}"
        )
    return int(top), int(target_height), int(left), int(target_width)


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    images = np.asarray(images)
    check_rank(images)
    h_axis, w_axis = hw_axes(images.ndim, data_format)
    top, bottom, left, right = pad_amounts(images.shape[h_axis], images.shape[w_axis],
                                           top_padding, left_padding, bottom_padding,
                                           right_padding, target_height, target_width)
    pads = [(0, 0)] * images.ndim
    pads[h_axis], pads[w_axis] = (top, bottom), (left, right)
    return np.pad(images, pads)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    images = np.asarray(images)
    check_rank(images)
    h_axis, w_axis = hw_axes(images.ndim, data_format)
    top, h, left, w = crop_box(images.shape[h_axis], images.shape[w_axis], top_cropping,
                               left_cropping, bottom_cropping, right_cropping, target_height,
                               target_width)
    index = [slice(None)] * images.ndim
    index[h_axis], index[w_axis] = slice(top, top + h), slice(left, left + w)
    return images[tuple(index)].copy()


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


def _extract_patches_nd(x, size, strides, dilation_rate, padding, data_format, n):
    """``x`` channels_last/first with ``n`` spatial dims and a batch dim."""
    channels_last = standardize_data_format(data_format) == "channels_last"
    if not channels_last:
        x = np.moveaxis(x, 1, -1)
    spatial = x.shape[1 : 1 + n]
    if padding == "same":
        pads = [(0, 0)] + [same_padding(spatial[i], size[i], strides[i], dilation_rate[i])
                           for i in range(n)] + [(0, 0)]
        x = np.pad(x, pads)
    windows = x
    for i in range(n):
        eff = (size[i] - 1) * dilation_rate[i] + 1
        windows = np.lib.stride_tricks.sliding_window_view(windows, eff, axis=1 + i)
    # windows: (B, o1..on, C, e1..en) -> take strides and dilations
    index = [slice(None)] + [slice(None, None, s) for s in strides] + [slice(None)]
    index += [slice(None, None, d) for d in dilation_rate]
    windows = windows[tuple(index)]
    # -> (B, o1..on, k1..kn, C), flattened to (B, o1..on, k1*..*kn*C)
    perm = list(range(1 + n)) + list(range(2 + n, 2 + 2 * n)) + [1 + n]
    windows = np.transpose(windows, perm)
    out = windows.reshape(windows.shape[: 1 + n] + (-1,))
    return np.ascontiguousarray(out if channels_last else np.moveaxis(out, -1, 1))


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    images = np.asarray(images)
    if not isinstance(size, int) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    check_rank(images)
    size, strides, dilation_rate, padding = patch_args(size, strides, dilation_rate, padding, 2)
    batched = images if images.ndim == 4 else images[None]
    out = _extract_patches_nd(batched, size, strides, dilation_rate, padding, data_format, 2)
    return out if images.ndim == 4 else out[0]


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    volumes = np.asarray(volumes)
    check_rank(volumes, (4, 5), "volumes")
    size, strides, dilation_rate, padding = patch_args(size, strides, dilation_rate, padding, 3)
    batched = volumes if volumes.ndim == 5 else volumes[None]
    out = _extract_patches_nd(batched, size, strides, dilation_rate, padding, data_format, 3)
    return out if volumes.ndim == 5 else out[0]


# ---------------------------------------------------------------- interpolation at coordinates

def _map_index(index, size, fill_mode):
    """Integer ``index`` mapped into [0, size) by ``fill_mode``; also the in-bounds mask."""
    valid = (index >= 0) & (index < size)
    if fill_mode == "wrap":
        index = np.mod(index, size)
    elif fill_mode == "mirror":
        period = 2 * size - 2
        index = np.abs(np.mod(index, period)) if size > 1 else np.zeros_like(index)
        index = np.where(index >= size, period - index, index)
    elif fill_mode == "reflect":
        index = np.mod(index, 2 * size)
        index = np.where(index >= size, 2 * size - 1 - index, index)
    else:  # constant, nearest
        index = np.clip(index, 0, size - 1)
    return index, valid


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    inputs = np.asarray(inputs)
    coordinates = [np.asarray(c) for c in coordinates]
    if len(coordinates) != inputs.ndim:
        raise ShapeError(
            "`coordinates` must have one entry per dimension of `inputs`. Received: "
            f"{len(coordinates)} coordinate arrays for inputs of rank {inputs.ndim}"
        )
    check_choice(fill_mode, FILL_MODES, "fill_mode")
    check_choice(order, (0, 1), "order")
    cdtype = inputs.dtype if inputs.dtype.kind == "f" else np.dtype(np.float32)
    corners = []  # per dim: list of (index, weight)
    for c, size in zip(coordinates, inputs.shape):
        c = c.astype(cdtype if c.dtype.kind != "f" else c.dtype)
        if order == 0:
            # round half away from zero, as jax.scipy.ndimage.map_coordinates
            corners.append([((np.sign(c) * np.floor(np.abs(c) + 0.5)).astype(np.int64), None)])
        else:
            lower = np.floor(c)
            frac = c - lower
            lower = lower.astype(np.int64)
            corners.append([(lower, 1.0 - frac), (lower + 1, frac)])
    result = 0.0
    for combo in _product(corners):
        indices, mask, weight = [], None, None
        for (index, w), size in zip(combo, inputs.shape):
            index, valid = _map_index(index, size, fill_mode)
            indices.append(index)
            mask = valid if mask is None else mask & valid
            if w is not None:
                weight = w if weight is None else weight * w
        value = inputs[tuple(indices)]
        if fill_mode == "constant":
            value = np.where(mask, value, np.asarray(fill_value).astype(inputs.dtype))
        result = result + (value if weight is None else value * weight)
    if inputs.dtype.kind in "iu":
        result = np.round(result)
    return np.asarray(result).astype(inputs.dtype)


def _product(lists):
    if not lists:
        yield ()
        return
    for head in lists[0]:
        for tail in _product(lists[1:]):
            yield (head,) + tail


def _to_nhwc(images, data_format):
    batched = images.ndim == 4
    x = images if batched else images[None]
    if standardize_data_format(data_format) == "channels_first":
        x = np.transpose(x, (0, 2, 3, 1))
    return x, batched


def _from_nhwc(x, batched, data_format):
    if standardize_data_format(data_format) == "channels_first":
        x = np.transpose(x, (0, 3, 1, 2))
    return x if batched else x[0]


def _warp(x, ys, xs, order, fill_mode, fill_value):
    """Sample NHWC ``x`` at per-batch (B, H, W) coordinates ``ys``, ``xs``."""
    b, _, _, c = x.shape
    bi = np.broadcast_to(np.arange(b)[:, None, None, None], ys.shape + (c,)).astype(np.float64)
    ci = np.broadcast_to(np.arange(c), ys.shape + (c,)).astype(np.float64)
    ys = np.broadcast_to(ys[..., None], ys.shape + (c,))
    xs = np.broadcast_to(xs[..., None], xs.shape + (c,))
    return map_coordinates(x, [bi, ys, xs, ci], order, fill_mode, fill_value)


def projective_grid(transform, height, width):
    """Input (y, x) coordinates, each (B, H, W) float64, of the projective transforms."""
    t = np.asarray(transform, np.float64)
    t = t[None] if t.ndim == 1 else t
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, i, None, None] for i in range(8))
    y, x = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64),
                       indexing="ij")
    k = c0 * x + c1 * y + 1.0
    return (b0 * x + b1 * y + b2) / k, (a0 * x + a1 * y + a2) / k


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    check_choice(interpolation, INTERPOLATION_ORDER, "interpolation")
    check_choice(fill_mode, FILL_MODES, "fill_mode")
    images, transform = np.asarray(images), np.asarray(transform)
    check_rank(images)
    if transform.ndim not in (1, 2) or transform.shape[-1] != 8:
        raise ShapeError(f"`transform` must have shape (8,) or (batch, 8). "
                         f"Received: transform.shape={transform.shape}")
    x, batched = _to_nhwc(images, data_format)
    compute = x if x.dtype.kind == "f" and x.dtype.itemsize >= 4 else x.astype(np.float32)
    ys, xs = projective_grid(transform, x.shape[1], x.shape[2])
    ys, xs = np.broadcast_to(ys, (x.shape[0],) + ys.shape[1:]), np.broadcast_to(xs, (x.shape[0],) + xs.shape[1:])
    out = _warp(compute, ys, xs, INTERPOLATION_ORDER[interpolation], fill_mode, fill_value)
    if x.dtype.kind in "iu":
        out = np.round(out)
    return _from_nhwc(out.astype(images.dtype), batched, data_format)


def homography_matrix(start_points, end_points, xp=np):
    """(B, 8) projective transforms mapping output (end) points to input (start) points."""
    rows, rhs = [], []
    for i in range(4):
        sx, sy = start_points[:, i, 0], start_points[:, i, 1]
        ex, ey = end_points[:, i, 0], end_points[:, i, 1]
        one, zero = xp.ones_like(ex), xp.zeros_like(ex)
        rows.append(xp.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1))
        rows.append(xp.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1))
        rhs += [sx, sy]
    return xp.stack(rows, axis=1), xp.stack(rhs, axis=-1)


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
    images = np.asarray(images)
    check_rank(images)
    start_points, end_points = np.asarray(start_points), np.asarray(end_points)
    check_points(start_points, end_points)
    sp = np.asarray(start_points, np.float64).reshape(-1, 4, 2)
    ep = np.asarray(end_points, np.float64).reshape(-1, 4, 2)
    a, b = homography_matrix(sp, ep)
    transform = np.linalg.solve(a, b[..., None])[..., 0]
    x, batched = _to_nhwc(images, data_format)
    compute = x if x.dtype.kind == "f" and x.dtype.itemsize >= 4 else x.astype(np.float32)
    ys, xs = projective_grid(transform, x.shape[1], x.shape[2])
    shape = (x.shape[0],) + ys.shape[1:]
    out = _warp(compute, np.broadcast_to(ys, shape), np.broadcast_to(xs, shape),
                INTERPOLATION_ORDER[interpolation], "constant", fill_value)
    if x.dtype.kind in "iu":
        out = np.round(out)
    return _from_nhwc(out.astype(images.dtype), batched, data_format)


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


def _correlate_nhwc(x, kernel, pads, mode="constant"):
    """Per-channel 2D correlation of NHWC ``x`` with the (kh, kw) ``kernel``."""
    kh, kw = kernel.shape
    x = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)], mode=mode)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    return np.einsum("bhwcij,ij->bhwc", win, kernel.astype(x.dtype))


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    images = np.asarray(images)
    check_rank(images)
    kernel_size, sigma = blur_args(kernel_size, sigma)
    kernel = gaussian_kernel2d(kernel_size, sigma)
    x, batched = _to_nhwc(images, data_format)
    compute = x if x.dtype.kind == "f" and x.dtype.itemsize >= 4 else x.astype(np.float32)
    kh, kw = kernel.shape
    pads = (((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2))
    # Convolution (flipped kernel); the Gaussian is symmetric, so correlation is the same.
    out = _correlate_nhwc(compute, kernel[::-1, ::-1], pads)
    return _from_nhwc(out.astype(images.dtype), batched, data_format)


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
    images = np.asarray(images)
    check_rank(images)
    alpha, sigma, size = elastic_args(interpolation, fill_mode, alpha, sigma)
    x, batched = _to_nhwc(images, data_format)
    b, h, w, _ = x.shape
    dy, dx = elastic_noise(seed, (b, h, w))
    dtype = x.dtype if x.dtype.kind == "f" and x.dtype.itemsize >= 4 else np.dtype(np.float32)
    dy = gaussian_blur((dy * sigma)[..., None].astype(dtype), (size, size), (sigma, sigma))[..., 0]
    dx = gaussian_blur((dx * sigma)[..., None].astype(dtype), (size, size), (sigma, sigma))[..., 0]
    gy, gx = np.meshgrid(np.arange(h, dtype=dtype), np.arange(w, dtype=dtype), indexing="ij")
    ys, xs = gy + alpha * dy, gx + alpha * dx
    out = _warp(x.astype(dtype), ys, xs, INTERPOLATION_ORDER[interpolation], fill_mode, fill_value)
    if x.dtype.kind in "iu":
        out = np.round(out)
    return _from_nhwc(out.astype(images.dtype), batched, data_format)


SOBEL_DY = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
SOBEL_DX = SOBEL_DY.T


def sobel_edges(images, data_format=None):
    images = np.asarray(images)
    check_rank(images, (4, 4))
    x, _ = _to_nhwc(images, data_format)
    compute = x if x.dtype.kind == "f" and x.dtype.itemsize >= 4 else x.astype(np.float32)
    pads = ((1, 1), (1, 1))
    # 'symmetric' repeats the edge pixel, as scipy.ndimage's default 'reflect' mode.
    dy = _correlate_nhwc(compute, SOBEL_DY, pads, mode="symmetric")
    dx = _correlate_nhwc(compute, SOBEL_DX, pads, mode="symmetric")
    out = np.stack([dy, dx], axis=-1).astype(images.dtype)
    if standardize_data_format(data_format) == "channels_first":
        out = np.transpose(out, (0, 3, 1, 2, 4))
    return out


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    image1, image2 = np.asarray(image1), np.asarray(image2)
    check_rank(image1, name="image1")
    check_rank(image2, name="image2")
    dtype = image1.dtype
    compute = dtype if dtype.kind == "f" and dtype.itemsize >= 4 else np.dtype(np.float32)
    x, batched = _to_nhwc(image1.astype(compute), data_format)
    y, _ = _to_nhwc(image2.astype(compute), data_format)
    k = gaussian_kernel1d(filter_size, filter_sigma)
    kernel = np.outer(k, k)
    valid = ((0, 0), (0, 0))
    mu1, mu2 = _correlate_nhwc(x, kernel, valid), _correlate_nhwc(y, kernel, valid)
    s11 = _correlate_nhwc(x * x, kernel, valid) - mu1 * mu1
    s22 = _correlate_nhwc(y * y, kernel, valid) - mu2 * mu2
    s12 = _correlate_nhwc(x * y, kernel, valid) - mu1 * mu2
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    num = (2.0 * mu1 * mu2 + c1) * (2.0 * s12 + c2)
    den = (mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2)
    out = np.mean(num / den, axis=(1, 2, 3)).astype(compute)
    return (out if batched else out[0]).astype(dtype)
