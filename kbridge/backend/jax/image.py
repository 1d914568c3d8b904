"""JAX backend: image ops. Resampling weights and argument checks come from the numpy backend,
so every backend resamples with the same weights."""

import jax
import jax.numpy as jnp
import numpy as np

from kbridge.backend.common.config import standardize_data_format
from kbridge.backend.common.dtypes import floatx
from kbridge.backend.jax.core import convert_to_tensor, to_jax_dtype
from kbridge.backend.numpy import image as ref
from kbridge.errors import ShapeError


def _compute_dtype(x):
    """float32 for ints and half floats, else the float dtype of ``x``."""
    if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype.itemsize >= 4:
        return x.dtype
    return jnp.float32


def _finish(out, x):
    if jnp.issubdtype(x.dtype, jnp.integer):
        out = jnp.round(out)
    return out.astype(x.dtype)


def _to_nhwc(images, data_format):
    batched = images.ndim == 4
    x = images if batched else images[None]
    if standardize_data_format(data_format) == "channels_first":
        x = jnp.transpose(x, (0, 2, 3, 1))
    return x, batched


def _from_nhwc(x, batched, data_format):
    if standardize_data_format(data_format) == "channels_first":
        x = jnp.transpose(x, (0, 3, 1, 2))
    return x if batched else x[0]


# ---------------------------------------------------------------- resampling

def _resample_axis(x, axis, w):
    out = jnp.tensordot(x, jnp.asarray(w, x.dtype), axes=([axis], [0]))
    return jnp.moveaxis(out, -1, axis)


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    images = convert_to_tensor(images)
    h_axis, w_axis, crop_box, pad_box = ref.resize_plan(
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
        images = jnp.pad(images, pads, constant_values=jnp.asarray(fill_value, images.dtype))
    out = images
    if interpolation == "nearest":
        for axis, n in ((h_axis, int(size[0])), (w_axis, int(size[1]))):
            if out.shape[axis] != n:
                out = jnp.take(out, ref.nearest_indices(out.shape[axis], n), axis=axis)
        return out
    is_int = not jnp.issubdtype(images.dtype, jnp.inexact)
    if is_int:
        out = out.astype(jnp.float32)
    for axis, n in ((h_axis, int(size[0])), (w_axis, int(size[1]))):
        if out.shape[axis] != n:
            out = _resample_axis(out, axis, ref.resample_weights(out.shape[axis], n,
                                                                 interpolation, antialias))
    if is_int:
        out = jnp.clip(jnp.round(out), jnp.min(images), jnp.max(images)).astype(images.dtype)
    return out


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    ref.check_choice(method, ref.SCALE_AND_TRANSLATE_METHODS, "method")
    images = convert_to_tensor(images)
    scale = np.asarray(scale, np.float64).reshape(-1)
    translation = np.asarray(translation, np.float64).reshape(-1)
    kernel = ref.SCALE_AND_TRANSLATE_METHODS[method]
    is_int = not jnp.issubdtype(images.dtype, jnp.inexact)
    out = images.astype(jnp.float32) if is_int else images
    for i, d in enumerate(spatial_dims):
        d = d % images.ndim
        w = ref.resample_weights(images.shape[d], output_shape[d], kernel, antialias,
                                 scale[i], translation[i])
        out = _resample_axis(out, d, w)
    if is_int:
        out = jnp.clip(jnp.round(out), jnp.min(images), jnp.max(images)).astype(images.dtype)
    return out


# ---------------------------------------------------------------- colour

def rgb_to_grayscale(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    axis = ref.channel_axis(data_format)
    if images.shape[axis] not in (1, 3):
        raise ShapeError(f"`images` must have 1 or 3 channels. Received: images.shape={images.shape}")
    if images.shape[axis] == 1:
        return images
    compute = images if jnp.issubdtype(images.dtype, jnp.floating) else images.astype(
        to_jax_dtype(floatx()))
    gray = jnp.tensordot(compute, jnp.asarray(ref.GRAY_WEIGHTS, compute.dtype), axes=([axis], [0]))
    return jnp.expand_dims(gray, axis).astype(images.dtype)


def rgb_to_hsv(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    ref.check_float(images)
    axis = ref.channel_axis(data_format)
    eps = np.finfo(np.float32 if images.dtype.itemsize < 4 else images.dtype).eps
    images = jnp.where(jnp.abs(images) < eps, 0.0, images).astype(images.dtype)
    r, g, b = (jnp.take(images, i, axis=axis) for i in range(3))
    value = jnp.maximum(jnp.maximum(r, g), b)
    spread = value - jnp.minimum(jnp.minimum(r, g), b)
    saturation = jnp.where(value > 0, spread / jnp.where(value > 0, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * jnp.where(spread > 0, spread, 1.0))
    hue = jnp.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = jnp.where(value == r, norm * (g - b), hue)
    hue = jnp.where(spread > 0, hue, 0.0) + (hue < 0.0).astype(hue.dtype)
    return jnp.stack([hue, saturation, value], axis=axis).astype(images.dtype)


def hsv_to_rgb(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    ref.check_float(images)
    axis = ref.channel_axis(data_format)
    h, s, v = (jnp.take(images, i, axis=axis) for i in range(3))
    dh = jnp.mod(h, 1.0) * 6.0
    dr = jnp.clip(jnp.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = jnp.clip(2.0 - jnp.abs(dh - 2.0), 0.0, 1.0)
    db = jnp.clip(2.0 - jnp.abs(dh - 4.0), 0.0, 1.0)
    one_minus_s = 1.0 - s
    rgb = [v * (one_minus_s + s * d) for d in (dr, dg, db)]
    return jnp.stack(rgb, axis=axis).astype(images.dtype)


# ---------------------------------------------------------------- padding, cropping, patches

def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    h_axis, w_axis = ref.hw_axes(images.ndim, data_format)
    top, bottom, left, right = ref.pad_amounts(images.shape[h_axis], images.shape[w_axis],
                                               top_padding, left_padding, bottom_padding,
                                               right_padding, target_height, target_width)
    pads = [(0, 0)] * images.ndim
    pads[h_axis], pads[w_axis] = (top, bottom), (left, right)
    return jnp.pad(images, pads)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    h_axis, w_axis = ref.hw_axes(images.ndim, data_format)
    top, h, left, w = ref.crop_box(images.shape[h_axis], images.shape[w_axis], top_cropping,
                                   left_cropping, bottom_cropping, right_cropping, target_height,
                                   target_width)
    index = [slice(None)] * images.ndim
    index[h_axis], index[w_axis] = slice(top, top + h), slice(left, left + w)
    return images[tuple(index)]


def _patches(x, size, strides, dilation_rate, padding, data_format, n):
    channels_last = standardize_data_format(data_format) == "channels_last"
    spatial = "DHW"[3 - n:]
    spec = ("N" + spatial + "C") if channels_last else ("NC" + spatial)
    # Identity-kernel convolution: output channel (k1..kn, c) copies one input tap.
    patches = jax.lax.conv_general_dilated_patches(
        x, filter_shape=size, window_strides=strides, padding=padding.upper(),
        rhs_dilation=dilation_rate, dimension_numbers=(spec, "OI" + spatial, spec),
        precision=jax.lax.Precision.HIGHEST)
    # jax orders patch channels (c, k1..kn); kbridge (like Keras) orders them (k1..kn, c).
    c = x.shape[-1] if channels_last else x.shape[1]
    k = int(np.prod(size))
    axis = -1 if channels_last else 1
    shape = list(patches.shape)
    shape[axis:axis + 1 if axis != -1 else None] = [c, k]
    patches = patches.reshape(shape)
    if channels_last:
        patches = jnp.swapaxes(patches, -1, -2)
    else:
        patches = jnp.swapaxes(patches, 1, 2)
    shape = list(patches.shape)
    if channels_last:
        return patches.reshape(shape[:-2] + [k * c])
    return patches.reshape(shape[:1] + [k * c] + shape[3:])


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    images = convert_to_tensor(images)
    if not isinstance(size, int) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    ref.check_rank(images)
    size, strides, dilation_rate, padding = ref.patch_args(size, strides, dilation_rate, padding, 2)
    batched = images if images.ndim == 4 else images[None]
    out = _patches(batched, size, strides, dilation_rate, padding, data_format, 2)
    return out if images.ndim == 4 else out[0]


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    volumes = convert_to_tensor(volumes)
    ref.check_rank(volumes, (4, 5), "volumes")
    size, strides, dilation_rate, padding = ref.patch_args(size, strides, dilation_rate, padding, 3)
    batched = volumes if volumes.ndim == 5 else volumes[None]
    out = _patches(batched, size, strides, dilation_rate, padding, data_format, 3)
    return out if volumes.ndim == 5 else out[0]


# ---------------------------------------------------------------- interpolation at coordinates

def _map_index(index, size, fill_mode):
    valid = (index >= 0) & (index < size)
    if fill_mode == "wrap":
        index = jnp.mod(index, size)
    elif fill_mode == "mirror":
        if size > 1:
            period = 2 * size - 2
            index = jnp.mod(index, period)
            index = jnp.where(index >= size, period - index, index)
        else:
            index = jnp.zeros_like(index)
    elif fill_mode == "reflect":
        index = jnp.mod(index, 2 * size)
        index = jnp.where(index >= size, 2 * size - 1 - index, index)
    else:
        index = jnp.clip(index, 0, size - 1)
    return index, valid


def _corners(c, order):
    if order == 0:
        return [((jnp.sign(c) * jnp.floor(jnp.abs(c) + 0.5)).astype(jnp.int32), None)]
    lower = jnp.floor(c)
    frac = c - lower
    lower = lower.astype(jnp.int32)
    return [(lower, 1.0 - frac), (lower + 1, frac)]


def _sample(inputs, corners, fill_mode, fill_value):
    """Sum over corner combinations of weight * inputs[mapped indices]."""
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
        value = inputs[tuple(indices)]
        # trailing dims of ``inputs`` that were not indexed (channels) broadcast on the right
        extra = (slice(None),) * max(i.ndim for i in indices) + (None,) * (
            inputs.ndim - len(indices))
        mask = None if mask is None else mask[extra]
        weight = None if weight is None else weight[extra]
        if fill_mode == "constant" and mask is not None:
            value = jnp.where(mask, value, jnp.asarray(fill_value, inputs.dtype))
        result = result + (value if weight is None else value * weight.astype(inputs.dtype))
    return result


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    inputs = convert_to_tensor(inputs)
    coordinates = [convert_to_tensor(c) for c in coordinates]
    if len(coordinates) != inputs.ndim:
        raise ShapeError(
            "`coordinates` must have one entry per dimension of `inputs`. Received: "
            f"{len(coordinates)} coordinate arrays for inputs of rank {inputs.ndim}"
        )
    ref.check_choice(fill_mode, ref.FILL_MODES, "fill_mode")
    ref.check_choice(order, (0, 1), "order")
    cdtype = inputs.dtype if jnp.issubdtype(inputs.dtype, jnp.floating) else jnp.float32
    corners = [_corners(c if jnp.issubdtype(c.dtype, jnp.floating) else c.astype(cdtype), order)
               for c in coordinates]
    compute = inputs if jnp.issubdtype(inputs.dtype, jnp.floating) else inputs.astype(jnp.float32)
    return _finish(_sample(compute, corners, fill_mode, fill_value), inputs)


def _warp(x, ys, xs, order, fill_mode, fill_value):
    """Sample NHWC ``x`` at (B, H, W) coordinates ``ys``, ``xs`` (all channels at once)."""
    b = x.shape[0]
    bi = jnp.arange(b).reshape(b, 1, 1)
    corners = [[(bi, "exact")], _corners(ys, order), _corners(xs, order)]
    return _sample(x, corners, fill_mode, fill_value)


def _projective_grid(transform, height, width, dtype):
    t = transform[None] if transform.ndim == 1 else transform
    t = t.astype(dtype)
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, i, None, None] for i in range(8))
    y, x = jnp.meshgrid(jnp.arange(height, dtype=dtype), jnp.arange(width, dtype=dtype),
                        indexing="ij")
    k = c0 * x + c1 * y + 1.0
    return (b0 * x + b1 * y + b2) / k, (a0 * x + a1 * y + a2) / k


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    ref.check_choice(interpolation, ref.INTERPOLATION_ORDER, "interpolation")
    ref.check_choice(fill_mode, ref.FILL_MODES, "fill_mode")
    images, transform = convert_to_tensor(images), convert_to_tensor(transform)
    ref.check_rank(images)
    if transform.ndim not in (1, 2) or transform.shape[-1] != 8:
        raise ShapeError(f"`transform` must have shape (8,) or (batch, 8). "
                         f"Received: transform.shape={transform.shape}")
    x, batched = _to_nhwc(images, data_format)
    dtype = _compute_dtype(x)
    ys, xs = _projective_grid(transform, x.shape[1], x.shape[2], dtype)
    shape = (x.shape[0],) + ys.shape[1:]
    out = _warp(x.astype(dtype), jnp.broadcast_to(ys, shape), jnp.broadcast_to(xs, shape),
                ref.INTERPOLATION_ORDER[interpolation], fill_mode, fill_value)
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
    sp = start_points.astype(dtype).reshape(-1, 4, 2)
    ep = end_points.astype(dtype).reshape(-1, 4, 2)
    a, b = ref.homography_matrix(sp, ep, xp=jnp)
    transform = jnp.linalg.solve(a, b[..., None])[..., 0]
    ys, xs = _projective_grid(transform, x.shape[1], x.shape[2], dtype)
    shape = (x.shape[0],) + ys.shape[1:]
    out = _warp(x.astype(dtype), jnp.broadcast_to(ys, shape), jnp.broadcast_to(xs, shape),
                ref.INTERPOLATION_ORDER[interpolation], "constant", fill_value)
    return _from_nhwc(_finish(out, x), batched, data_format)


# ---------------------------------------------------------------- filters

def _correlate(x, kernel, pads, mode="constant"):
    """Per-channel 2D correlation of NHWC ``x`` with the numpy (kh, kw) ``kernel``."""
    c = x.shape[-1]
    if mode != "constant":
        x = jnp.pad(x, [(0, 0), pads[0], pads[1], (0, 0)], mode=mode)
        pads = ((0, 0), (0, 0))
    k = jnp.asarray(np.tile(kernel[:, :, None, None], (1, 1, 1, c)), x.dtype)
    return jax.lax.conv_general_dilated(
        x, k, window_strides=(1, 1), padding=pads, dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=c, precision=jax.lax.Precision.HIGHEST)


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    kernel_size, sigma = ref.blur_args(kernel_size, sigma)
    kernel = ref.gaussian_kernel2d(kernel_size, sigma)[::-1, ::-1]
    x, batched = _to_nhwc(images, data_format)
    kh, kw = kernel.shape
    pads = (((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2))
    out = _correlate(x.astype(_compute_dtype(x)), kernel, pads)
    return _from_nhwc(out.astype(images.dtype), batched, data_format)


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    alpha, sigma, size = ref.elastic_args(interpolation, fill_mode, alpha, sigma)
    x, batched = _to_nhwc(images, data_format)
    b, h, w, _ = x.shape
    dy, dx = ref.elastic_noise(seed, (b, h, w))
    dtype = _compute_dtype(x)
    dy = gaussian_blur(jnp.asarray((dy * sigma)[..., None], dtype), (size, size), (sigma, sigma),
                       "channels_last")[..., 0]
    dx = gaussian_blur(jnp.asarray((dx * sigma)[..., None], dtype), (size, size), (sigma, sigma),
                       "channels_last")[..., 0]
    gy, gx = jnp.meshgrid(jnp.arange(h, dtype=dtype), jnp.arange(w, dtype=dtype), indexing="ij")
    out = _warp(x.astype(dtype), gy + alpha * dy, gx + alpha * dx,
                ref.INTERPOLATION_ORDER[interpolation], fill_mode, fill_value)
    return _from_nhwc(_finish(out, x), batched, data_format)


def sobel_edges(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images, (4, 4))
    x, _ = _to_nhwc(images, data_format)
    x = x.astype(_compute_dtype(x))
    pads = ((1, 1), (1, 1))
    dy = _correlate(x, ref.SOBEL_DY, pads, mode="symmetric")
    dx = _correlate(x, ref.SOBEL_DX, pads, mode="symmetric")
    out = jnp.stack([dy, dx], axis=-1).astype(images.dtype)
    if standardize_data_format(data_format) == "channels_first":
        out = jnp.transpose(out, (0, 3, 1, 2, 4))
    return out


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    image1, image2 = convert_to_tensor(image1), convert_to_tensor(image2)
    ref.check_rank(image1, name="image1")
    ref.check_rank(image2, name="image2")
    dtype = _compute_dtype(image1)
    x, batched = _to_nhwc(image1.astype(dtype), data_format)
    y, _ = _to_nhwc(image2.astype(dtype), data_format)
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
    out = jnp.mean(num / den, axis=(1, 2, 3))
    return (out if batched else out[0]).astype(image1.dtype)
