"""TensorFlow backend: image ops. Resampling weights and argument checks come from the numpy
backend, so every backend resamples with the same weights."""

import numpy as np
import tensorflow as tf

from kbridge.backend.common.config import standardize_data_format
from kbridge.backend.common.dtypes import floatx
from kbridge.backend.numpy import image as ref
from kbridge.backend.tensorflow.core import convert_to_tensor, to_tf_dtype
from kbridge.backend.tensorflow.core import shape as dynamic_shape
from kbridge.errors import ShapeError


def _is_float(x):
    return x.dtype.is_floating


def _compute_dtype(x):
    if x.dtype in (tf.float32, tf.float64):
        return x.dtype
    return tf.float32


def _finish(out, x):
    if not _is_float(x):
        out = tf.round(out)
    return tf.cast(out, x.dtype)


def _moveaxis(x, source, destination):
    rank = len(x.shape)
    perm = [d for d in range(rank) if d != source % rank]
    perm.insert(destination % rank, source % rank)
    return tf.transpose(x, perm)


def _to_nhwc(images, data_format):
    batched = len(images.shape) == 4
    x = images if batched else images[None]
    if standardize_data_format(data_format) == "channels_first":
        x = tf.transpose(x, (0, 2, 3, 1))
    return x, batched


def _from_nhwc(x, batched, data_format):
    if standardize_data_format(data_format) == "channels_first":
        x = tf.transpose(x, (0, 3, 1, 2))
    return x if batched else x[0]


def _slice(x, axis, start, size):
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(start, start + size)
    return x[tuple(index)]


# ---------------------------------------------------------------- resampling

def _resample_axis(x, axis, w):
    out = tf.tensordot(x, tf.constant(w, x.dtype), axes=[[axis], [0]])
    return _moveaxis(out, -1, axis)


def _int_range(images):
    return tf.cast(tf.reduce_min(images), tf.float32), tf.cast(tf.reduce_max(images), tf.float32)


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    images = convert_to_tensor(images)
    h_axis, w_axis, crop_box, pad_box = ref.resize_plan(
        tuple(images.shape), size, interpolation, antialias, crop_to_aspect_ratio,
        pad_to_aspect_ratio, fill_mode, data_format)
    if crop_box is not None:
        top, left, ch, cw = crop_box
        images = _slice(_slice(images, h_axis, top, ch), w_axis, left, cw)
    elif pad_box is not None:
        top, left = pad_box[:2]
        pads = [[0, 0]] * len(images.shape)
        pads[h_axis], pads[w_axis] = [top, top], [left, left]
        images = tf.pad(images, pads, constant_values=tf.cast(fill_value, images.dtype))
    out = images
    if interpolation == "nearest":
        for axis, n in ((h_axis, int(size[0])), (w_axis, int(size[1]))):
            if out.shape[axis] != n:
                out = tf.gather(out, ref.nearest_indices(out.shape[axis], n), axis=axis)
        return out
    is_int = not _is_float(images)
    if is_int:
        out = tf.cast(out, tf.float32)
    for axis, n in ((h_axis, int(size[0])), (w_axis, int(size[1]))):
        if out.shape[axis] != n:
            out = _resample_axis(out, axis, ref.resample_weights(out.shape[axis], n,
                                                                 interpolation, antialias))
    if is_int:
        lo, hi = _int_range(images)
        out = tf.cast(tf.clip_by_value(tf.round(out), lo, hi), images.dtype)
    return out


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    ref.check_choice(method, ref.SCALE_AND_TRANSLATE_METHODS, "method")
    images = convert_to_tensor(images)
    scale = np.asarray(convert_to_tensor(scale), np.float64).reshape(-1)
    translation = np.asarray(convert_to_tensor(translation), np.float64).reshape(-1)
    kernel = ref.SCALE_AND_TRANSLATE_METHODS[method]
    is_int = not _is_float(images)
    out = tf.cast(images, tf.float32) if is_int else images
    for i, d in enumerate(spatial_dims):
        d = d % len(images.shape)
        w = ref.resample_weights(images.shape[d], output_shape[d], kernel, antialias,
                                 scale[i], translation[i])
        out = _resample_axis(out, d, w)
    if is_int:
        lo, hi = _int_range(images)
        out = tf.cast(tf.clip_by_value(tf.round(out), lo, hi), images.dtype)
    return out


# ---------------------------------------------------------------- colour

def rgb_to_grayscale(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    axis = ref.channel_axis(data_format)
    if images.shape[axis] not in (1, 3):
        raise ShapeError(f"`images` must have 1 or 3 channels. "
                         f"Received: images.shape={tuple(images.shape)}")
    if images.shape[axis] == 1:
        return tf.identity(images)
    compute = images if _is_float(images) else tf.cast(images, to_tf_dtype(floatx()))
    gray = tf.tensordot(compute, tf.constant(ref.GRAY_WEIGHTS, compute.dtype),
                        axes=[[axis % len(images.shape)], [0]])
    return tf.cast(tf.expand_dims(gray, axis), images.dtype)


def rgb_to_hsv(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    ref.check_float(images)
    axis = ref.channel_axis(data_format)
    eps = np.finfo(np.float32 if images.dtype.size < 4 else images.dtype.as_numpy_dtype).eps
    images = tf.where(tf.abs(images) < eps, tf.zeros_like(images), images)
    r, g, b = tf.unstack(images, axis=axis)
    value = tf.maximum(tf.maximum(r, g), b)
    spread = value - tf.minimum(tf.minimum(r, g), b)
    one, zero = tf.ones_like(value), tf.zeros_like(value)
    saturation = tf.where(value > 0, spread / tf.where(value > 0, value, one), zero)
    norm = 1.0 / (6.0 * tf.where(spread > 0, spread, one))
    hue = tf.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = tf.where(value == r, norm * (g - b), hue)
    hue = tf.where(spread > 0, hue, zero) + tf.cast(hue < 0.0, hue.dtype)
    return tf.stack([hue, saturation, value], axis=axis)


def hsv_to_rgb(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    ref.check_float(images)
    axis = ref.channel_axis(data_format)
    h, s, v = tf.unstack(images, axis=axis)
    dh = tf.math.floormod(h, 1.0) * 6.0
    dr = tf.clip_by_value(tf.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = tf.clip_by_value(2.0 - tf.abs(dh - 2.0), 0.0, 1.0)
    db = tf.clip_by_value(2.0 - tf.abs(dh - 4.0), 0.0, 1.0)
    one_minus_s = 1.0 - s
    rgb = [v * (one_minus_s + s * d) for d in (dr, dg, db)]
    return tf.stack(rgb, axis=axis)


# ---------------------------------------------------------------- padding, cropping, patches

def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    rank = len(images.shape)
    h_axis, w_axis = ref.hw_axes(rank, data_format)
    top, bottom, left, right = ref.pad_amounts(images.shape[h_axis], images.shape[w_axis],
                                               top_padding, left_padding, bottom_padding,
                                               right_padding, target_height, target_width)
    pads = [[0, 0]] * rank
    pads[h_axis], pads[w_axis] = [top, bottom], [left, right]
    return tf.pad(images, pads)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    h_axis, w_axis = ref.hw_axes(len(images.shape), data_format)
    top, h, left, w = ref.crop_box(images.shape[h_axis], images.shape[w_axis], top_cropping,
                                   left_cropping, bottom_cropping, right_cropping, target_height,
                                   target_width)
    return _slice(_slice(images, h_axis, top, h), w_axis, left, w)


def _patches(x, size, strides, dilation_rate, padding, data_format, n):
    channels_last = standardize_data_format(data_format) == "channels_last"
    if not channels_last:
        x = _moveaxis(x, 1, -1)
    if padding == "same":
        pads = [[0, 0]] + [list(ref.same_padding(x.shape[1 + i], size[i], strides[i],
                                                 dilation_rate[i])) for i in range(n)] + [[0, 0]]
        x = tf.pad(x, pads)
    # Gather each spatial axis into (out, tap): index = out * stride + tap * dilation.
    for i in range(n):
        length = x.shape[1 + 2 * i]
        eff = (size[i] - 1) * dilation_rate[i] + 1
        out = (length - eff) // strides[i] + 1
        index = (np.arange(out)[:, None] * strides[i] + np.arange(size[i])[None] * dilation_rate[i])
        x = tf.gather(x, index, axis=1 + 2 * i)
    # x: (B, o1, k1, ..., on, kn, C) -> (B, o1..on, k1..kn, C)
    perm = [0] + [1 + 2 * i for i in range(n)] + [2 + 2 * i for i in range(n)] + [1 + 2 * n]
    x = tf.transpose(x, perm)
    out = tf.reshape(x, list(dynamic_shape(x)[: 1 + n]) + [-1])  # batch may be None in a tf.function
    return out if channels_last else _moveaxis(out, -1, 1)


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    images = convert_to_tensor(images)
    if not isinstance(size, int) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    ref.check_rank(images)
    size, strides, dilation_rate, padding = ref.patch_args(size, strides, dilation_rate, padding, 2)
    batched = images if len(images.shape) == 4 else images[None]
    out = _patches(batched, size, strides, dilation_rate, padding, data_format, 2)
    return out if len(images.shape) == 4 else out[0]


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    volumes = convert_to_tensor(volumes)
    ref.check_rank(volumes, (4, 5), "volumes")
    size, strides, dilation_rate, padding = ref.patch_args(size, strides, dilation_rate, padding, 3)
    batched = volumes if len(volumes.shape) == 5 else volumes[None]
    out = _patches(batched, size, strides, dilation_rate, padding, data_format, 3)
    return out if len(volumes.shape) == 5 else out[0]


# ---------------------------------------------------------------- interpolation at coordinates

def _map_index(index, size, fill_mode):
    valid = (index >= 0) & (index < size)
    if fill_mode == "wrap":
        index = tf.math.floormod(index, size)
    elif fill_mode == "mirror":
        if size > 1:
            period = 2 * size - 2
            index = tf.math.floormod(index, period)
            index = tf.where(index >= size, period - index, index)
        else:
            index = tf.zeros_like(index)
    elif fill_mode == "reflect":
        index = tf.math.floormod(index, 2 * size)
        index = tf.where(index >= size, 2 * size - 1 - index, index)
    else:
        index = tf.clip_by_value(index, 0, size - 1)
    return index, valid


def _corners(c, order):
    if order == 0:
        return [(tf.cast(tf.sign(c) * tf.floor(tf.abs(c) + 0.5), tf.int32), None)]
    lower = tf.floor(c)
    frac = c - lower
    lower = tf.cast(lower, tf.int32)
    return [(lower, 1.0 - frac), (lower + 1, frac)]


def _sample(inputs, corners, fill_mode, fill_value):
    result = 0.0
    for combo in ref._product(corners):
        indices, mask, weight = [], None, None
        for (index, w), size in zip(combo, inputs.shape):
            if isinstance(w, str):  # an exact integer index (batch)
                indices.append(index)
                continue
            index, valid = _map_index(index, size, fill_mode)
            indices.append(index)
            mask = valid if mask is None else mask & valid
            if w is not None:
                weight = w if weight is None else weight * w
        # Dynamic shapes: inside a tf.function the batch size may be unknown.
        shape = tf.shape(indices[0])
        for i in indices[1:]:
            shape = tf.broadcast_dynamic_shape(shape, tf.shape(i))
        stacked = tf.stack([tf.broadcast_to(i, shape) for i in indices], axis=-1)
        value = tf.gather_nd(inputs, stacked)
        extra = len(inputs.shape) - len(indices)
        padded = tf.concat([shape, tf.ones([extra], tf.int32)], 0)
        if fill_mode == "constant" and mask is not None:
            mask = tf.reshape(tf.broadcast_to(mask, shape), padded)
            value = tf.where(mask, value, tf.cast(fill_value, inputs.dtype))
        if weight is not None:
            weight = tf.reshape(tf.broadcast_to(weight, shape), padded)
            value = value * tf.cast(weight, inputs.dtype)
        result = result + value
    return result


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    inputs = convert_to_tensor(inputs)
    if tf.is_tensor(coordinates):  # one stacked tensor (in a graph it cannot be iterated)
        coordinates = tf.unstack(coordinates)
    coordinates = [convert_to_tensor(c) for c in coordinates]
    if len(coordinates) != len(inputs.shape):
        raise ShapeError(
            "`coordinates` must have one entry per dimension of `inputs`. Received: "
            f"{len(coordinates)} coordinate arrays for inputs of rank {len(inputs.shape)}"
        )
    ref.check_choice(fill_mode, ref.FILL_MODES, "fill_mode")
    ref.check_choice(order, (0, 1), "order")
    compute = inputs if _is_float(inputs) else tf.cast(inputs, tf.float32)
    corners = [_corners(c if _is_float(c) else tf.cast(c, compute.dtype), order)
               for c in coordinates]
    return _finish(_sample(compute, corners, fill_mode, fill_value), inputs)


def _warp(x, ys, xs, order, fill_mode, fill_value):
    bi = tf.reshape(tf.range(tf.shape(x)[0], dtype=tf.int32), (-1, 1, 1))
    corners = [[(bi, "exact")], _corners(ys, order), _corners(xs, order)]
    return _sample(x, corners, fill_mode, fill_value)


def _projective_grid(transform, height, width, dtype):
    t = transform[None] if len(transform.shape) == 1 else transform
    t = tf.cast(t, dtype)
    # reshape, not [:, i, None, None]: Grappler can drop the new axes of a stacked transform
    a0, a1, a2, b0, b1, b2, c0, c1 = (tf.reshape(t[:, i], (-1, 1, 1)) for i in range(8))
    y, x = tf.meshgrid(tf.range(height, dtype=dtype), tf.range(width, dtype=dtype), indexing="ij")
    k = c0 * x + c1 * y + 1.0
    return (b0 * x + b1 * y + b2) / k, (a0 * x + a1 * y + a2) / k


def _grid_warp(x, transform, order, fill_mode, fill_value):
    dtype = _compute_dtype(x)
    ys, xs = _projective_grid(transform, x.shape[1], x.shape[2], dtype)
    shape = [dynamic_shape(x)[0]] + list(ys.shape[1:])  # the batch may be None in a tf.function
    return _warp(tf.cast(x, dtype), tf.broadcast_to(ys, shape), tf.broadcast_to(xs, shape),
                 order, fill_mode, fill_value)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    ref.check_choice(interpolation, ref.INTERPOLATION_ORDER, "interpolation")
    ref.check_choice(fill_mode, ref.FILL_MODES, "fill_mode")
    images, transform = convert_to_tensor(images), convert_to_tensor(transform)
    ref.check_rank(images)
    if len(transform.shape) not in (1, 2) or transform.shape[-1] != 8:
        raise ShapeError(f"`transform` must have shape (8,) or (batch, 8). "
                         f"Received: transform.shape={tuple(transform.shape)}")
    x, batched = _to_nhwc(images, data_format)
    out = _grid_warp(x, transform, ref.INTERPOLATION_ORDER[interpolation], fill_mode, fill_value)
    return _from_nhwc(_finish(out, x), batched, data_format)


def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    ref.check_choice(interpolation, ref.INTERPOLATION_ORDER, "interpolation")
    images = convert_to_tensor(images)
    ref.check_rank(images)
    start_points, end_points = convert_to_tensor(start_points), convert_to_tensor(end_points)
    ref.check_points(start_points, end_points)
    x, batched = _to_nhwc(images, data_format)
    dtype = _compute_dtype(x)
    sp = tf.reshape(tf.cast(start_points, dtype), (-1, 4, 2))
    ep = tf.reshape(tf.cast(end_points, dtype), (-1, 4, 2))
    a, b = ref.homography_matrix(sp, ep, xp=tf)
    transform = tf.linalg.solve(a, b[..., None])[..., 0]
    out = _grid_warp(x, transform, ref.INTERPOLATION_ORDER[interpolation], "constant", fill_value)
    return _from_nhwc(_finish(out, x), batched, data_format)


# ---------------------------------------------------------------- filters

def _correlate(x, kernel, pads, mode="CONSTANT"):
    """Per-channel 2D correlation of NHWC ``x`` with the numpy (kh, kw) ``kernel``."""
    c = x.shape[-1]
    if any(p for pair in pads for p in pair):
        x = tf.pad(x, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]], mode=mode)
    k = tf.constant(np.tile(kernel[:, :, None, None], (1, 1, c, 1)), x.dtype)
    return tf.nn.depthwise_conv2d(x, k, strides=[1, 1, 1, 1], padding="VALID")


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    kernel_size, sigma = ref.blur_args(kernel_size, sigma)
    kernel = ref.gaussian_kernel2d(kernel_size, sigma)[::-1, ::-1]
    x, batched = _to_nhwc(images, data_format)
    kh, kw = kernel.shape
    pads = (((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2))
    out = _correlate(tf.cast(x, _compute_dtype(x)), kernel, pads)
    return _from_nhwc(tf.cast(out, images.dtype), batched, data_format)


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    alpha, sigma, size = ref.elastic_args(interpolation, fill_mode, alpha, sigma)
    x, batched = _to_nhwc(images, data_format)
    b, h, w, _ = x.shape
    dy, dx = ref.elastic_noise(seed, (b, h, w))
    dtype = _compute_dtype(x)
    as_t = lambda a: tf.constant(a[..., None], dtype)  # noqa: E731
    dy = gaussian_blur(as_t(dy * sigma), (size, size), (sigma, sigma), "channels_last")[..., 0]
    dx = gaussian_blur(as_t(dx * sigma), (size, size), (sigma, sigma), "channels_last")[..., 0]
    gy, gx = tf.meshgrid(tf.range(h, dtype=dtype), tf.range(w, dtype=dtype), indexing="ij")
    out = _warp(tf.cast(x, dtype), gy + alpha * dy, gx + alpha * dx,
                ref.INTERPOLATION_ORDER[interpolation], fill_mode, fill_value)
    return _from_nhwc(_finish(out, x), batched, data_format)


def sobel_edges(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images, (4, 4))
    x, _ = _to_nhwc(images, data_format)
    x = tf.cast(x, _compute_dtype(x))
    pads = ((1, 1), (1, 1))
    dy = _correlate(x, ref.SOBEL_DY, pads, mode="SYMMETRIC")
    dx = _correlate(x, ref.SOBEL_DX, pads, mode="SYMMETRIC")
    out = tf.cast(tf.stack([dy, dx], axis=-1), images.dtype)
    if standardize_data_format(data_format) == "channels_first":
        out = tf.transpose(out, (0, 3, 1, 2, 4))
    return out


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    image1, image2 = convert_to_tensor(image1), convert_to_tensor(image2)
    ref.check_rank(image1, name="image1")
    ref.check_rank(image2, name="image2")
    dtype = _compute_dtype(image1)
    x, batched = _to_nhwc(tf.cast(image1, dtype), data_format)
    y, _ = _to_nhwc(tf.cast(image2, dtype), data_format)
    k = ref.gaussian_kernel1d(filter_size, filter_sigma)
    kernel = np.outer(k, k)
    valid = ((0, 0), (0, 0))
    mu1, mu2 = _correlate(x, kernel, valid), _correlate(y, kernel, valid)
    s11 = _correlate(x * x, kernel, valid) - mu1 * mu1
    s22 = _correlate(y * y, kernel, valid) - mu2 * mu2
    s12 = _correlate(x * y, kernel, valid) - mu1 * mu2
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    num = (2.0 * mu1 * mu2 + c1) * (2.0 * s12 + c2)
    den = (mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2)
    out = tf.reduce_mean(num / den, axis=(1, 2, 3))
    return tf.cast(out if batched else out[0], image1.dtype)
