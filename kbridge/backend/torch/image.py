"""torch backend: image ops. Resampling weights and argument checks come from the numpy
backend, so every backend resamples with the same weights."""

import numpy as np
import torch
import torch.nn.functional as F

from kbridge.backend.common.config import standardize_data_format
from kbridge.backend.common.dtypes import floatx
from kbridge.backend.numpy import image as ref
from kbridge.backend.torch.core import convert_to_tensor, to_torch_dtype
from kbridge.errors import ShapeError


def _compute_dtype(x):
    if x.is_floating_point() and x.element_size() >= 4:
        return x.dtype
    return torch.float32


def _finish(out, x):
    if not x.is_floating_point():
        out = torch.round(out)
    return out.to(x.dtype)


def _const(array, like):
    return torch.tensor(np.asarray(array), dtype=like.dtype, device=like.device)


def _to_nhwc(images, data_format):
    batched = images.ndim == 4
    x = images if batched else images[None]
    if standardize_data_format(data_format) == "channels_first":
        x = x.permute(0, 2, 3, 1)
    return x, batched


def _from_nhwc(x, batched, data_format):
    if standardize_data_format(data_format) == "channels_first":
        x = x.permute(0, 3, 1, 2)
    return x if batched else x[0]


def _pad(x, pads, value=0.0, mode="constant"):
    """numpy-style ``pads`` (one (before, after) pair per dim) for ``F.pad``."""
    pads = list(pads)
    while mode != "constant" and pads and pads[0] == (0, 0):
        pads.pop(0)  # non-constant modes accept only the trailing padded dims
    flat = []
    for before, after in reversed(pads):
        flat += [int(before), int(after)]
    if mode == "constant":
        return F.pad(x, flat, value=value)
    return F.pad(x, flat, mode=mode)


# ---------------------------------------------------------------- resampling

def _resample_axis(x, axis, w):
    out = torch.tensordot(x, _const(w, x), dims=([axis], [0]))
    return torch.movedim(out, -1, axis)


def _index_axis(x, axis, index):
    return torch.index_select(x, axis, torch.tensor(index, device=x.device))


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    images = convert_to_tensor(images)
    h_axis, w_axis, crop_box, pad_box = ref.resize_plan(
        tuple(images.shape), size, interpolation, antialias, crop_to_aspect_ratio,
        pad_to_aspect_ratio, fill_mode, data_format)
    if crop_box is not None:
        top, left, ch, cw = crop_box
        images = images.narrow(h_axis, top, ch).narrow(w_axis, left, cw)
    elif pad_box is not None:
        top, left = pad_box[:2]
        pads = [(0, 0)] * images.ndim
        pads[h_axis], pads[w_axis] = (top, top), (left, left)
        images = _pad(images, pads, value=float(fill_value))
    out = images
    if interpolation == "nearest":
        for axis, n in ((h_axis, int(size[0])), (w_axis, int(size[1]))):
            if out.shape[axis] != n:
                out = _index_axis(out, axis, ref.nearest_indices(out.shape[axis], n))
        return out
    is_int = not images.is_floating_point()
    if is_int:
        out = out.to(torch.float32)
    for axis, n in ((h_axis, int(size[0])), (w_axis, int(size[1]))):
        if out.shape[axis] != n:
            out = _resample_axis(out, axis, ref.resample_weights(out.shape[axis], n,
                                                                 interpolation, antialias))
    if is_int:
        lo, hi = images.min().item(), images.max().item()
        out = torch.clamp(torch.round(out), lo, hi).to(images.dtype)
    return out


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    ref.check_choice(method, ref.SCALE_AND_TRANSLATE_METHODS, "method")
    images = convert_to_tensor(images)
    scale = np.asarray(convert_to_tensor(scale).detach().cpu(), np.float64).reshape(-1)
    translation = np.asarray(convert_to_tensor(translation).detach().cpu(), np.float64).reshape(-1)
    kernel = ref.SCALE_AND_TRANSLATE_METHODS[method]
    is_int = not images.is_floating_point()
    out = images.to(torch.float32) if is_int else images
    for i, d in enumerate(spatial_dims):
        d = d % images.ndim
        w = ref.resample_weights(images.shape[d], output_shape[d], kernel, antialias,
                                 scale[i], translation[i])
        out = _resample_axis(out, d, w)
    if is_int:
        lo, hi = images.min().item(), images.max().item()
        out = torch.clamp(torch.round(out), lo, hi).to(images.dtype)
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
        return images.clone()
    compute = images if images.is_floating_point() else images.to(to_torch_dtype(floatx()))
    gray = torch.tensordot(compute, _const(ref.GRAY_WEIGHTS, compute), dims=([axis], [0]))
    return gray.unsqueeze(axis).to(images.dtype)


def rgb_to_hsv(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    ref.check_float(images)
    axis = ref.channel_axis(data_format)
    eps = torch.finfo(torch.float32 if images.element_size() < 4 else images.dtype).eps
    images = torch.where(images.abs() < eps, torch.zeros_like(images), images)
    r, g, b = images.unbind(axis)
    value = torch.maximum(torch.maximum(r, g), b)
    spread = value - torch.minimum(torch.minimum(r, g), b)
    one = torch.ones_like(value)
    saturation = torch.where(value > 0, spread / torch.where(value > 0, value, one), 0.0)
    norm = 1.0 / (6.0 * torch.where(spread > 0, spread, one))
    hue = torch.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = torch.where(value == r, norm * (g - b), hue)
    hue = torch.where(spread > 0, hue, 0.0) + (hue < 0.0).to(hue.dtype)
    return torch.stack([hue, saturation, value], dim=axis).to(images.dtype)


def hsv_to_rgb(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    ref.check_float(images)
    axis = ref.channel_axis(data_format)
    h, s, v = images.unbind(axis)
    dh = torch.remainder(h, 1.0) * 6.0
    dr = torch.clamp(torch.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = torch.clamp(2.0 - torch.abs(dh - 2.0), 0.0, 1.0)
    db = torch.clamp(2.0 - torch.abs(dh - 4.0), 0.0, 1.0)
    one_minus_s = 1.0 - s
    rgb = [v * (one_minus_s + s * d) for d in (dr, dg, db)]
    return torch.stack(rgb, dim=axis).to(images.dtype)


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
    return _pad(images, pads)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    h_axis, w_axis = ref.hw_axes(images.ndim, data_format)
    top, h, left, w = ref.crop_box(images.shape[h_axis], images.shape[w_axis], top_cropping,
                                   left_cropping, bottom_cropping, right_cropping, target_height,
                                   target_width)
    return images.narrow(h_axis, top, h).narrow(w_axis, left, w)


def _patches(x, size, strides, dilation_rate, padding, data_format, n):
    channels_last = standardize_data_format(data_format) == "channels_last"
    if not channels_last:
        x = torch.movedim(x, 1, -1)
    if padding == "same":
        pads = [(0, 0)] + [ref.same_padding(x.shape[1 + i], size[i], strides[i], dilation_rate[i])
                           for i in range(n)] + [(0, 0)]
        x = _pad(x, pads)
    for i in range(n):
        eff = (size[i] - 1) * dilation_rate[i] + 1
        x = x.unfold(1 + i, eff, strides[i])  # appends the window dim
    # x: (B, o1..on, C, e1..en): keep every dilation-th tap, then order taps before channels
    index = (slice(None),) * (2 + n) + tuple(slice(None, None, d) for d in dilation_rate)
    x = x[index]
    perm = list(range(1 + n)) + list(range(2 + n, 2 + 2 * n)) + [1 + n]
    x = x.permute(perm)
    out = x.reshape(tuple(x.shape[: 1 + n]) + (-1,))
    return out if channels_last else torch.movedim(out, -1, 1)


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
        index = torch.remainder(index, size)
    elif fill_mode == "mirror":
        if size > 1:
            period = 2 * size - 2
            index = torch.remainder(index, period)
            index = torch.where(index >= size, period - index, index)
        else:
            index = torch.zeros_like(index)
    elif fill_mode == "reflect":
        index = torch.remainder(index, 2 * size)
        index = torch.where(index >= size, 2 * size - 1 - index, index)
    else:
        index = torch.clamp(index, 0, size - 1)
    return index, valid


def _corners(c, order):
    if order == 0:
        return [((torch.sign(c) * torch.floor(torch.abs(c) + 0.5)).long(), None)]
    lower = torch.floor(c)
    frac = c - lower
    lower = lower.long()
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
        value = inputs[tuple(indices)]
        extra = (slice(None),) * max(i.ndim for i in indices) + (None,) * (
            inputs.ndim - len(indices))
        if fill_mode == "constant" and mask is not None:
            fill = torch.as_tensor(fill_value, dtype=inputs.dtype, device=inputs.device)
            value = torch.where(mask[extra], value, fill)
        result = result + (value if weight is None else value * weight[extra].to(inputs.dtype))
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
    compute = inputs if inputs.is_floating_point() else inputs.to(torch.float32)
    corners = [_corners(c if c.is_floating_point() else c.to(compute.dtype), order)
               for c in coordinates]
    return _finish(_sample(compute, corners, fill_mode, fill_value), inputs)


def _warp(x, ys, xs, order, fill_mode, fill_value):
    b = x.shape[0]
    bi = torch.arange(b, device=x.device).reshape(b, 1, 1)
    corners = [[(bi, "exact")], _corners(ys, order), _corners(xs, order)]
    return _sample(x, corners, fill_mode, fill_value)


def _projective_grid(transform, height, width, dtype):
    t = transform[None] if transform.ndim == 1 else transform
    t = t.to(dtype)
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, i, None, None] for i in range(8))
    y, x = torch.meshgrid(torch.arange(height, dtype=dtype, device=t.device),
                          torch.arange(width, dtype=dtype, device=t.device), indexing="ij")
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
                         f"Received: transform.shape={tuple(transform.shape)}")
    x, batched = _to_nhwc(images, data_format)
    dtype = _compute_dtype(x)
    ys, xs = _projective_grid(transform, x.shape[1], x.shape[2], dtype)
    shape = (x.shape[0],) + tuple(ys.shape[1:])
    out = _warp(x.to(dtype), ys.expand(shape), xs.expand(shape),
                ref.INTERPOLATION_ORDER[interpolation], fill_mode, fill_value)
    return _from_nhwc(_finish(out, x), batched, data_format)


class _Namespace:
    stack = staticmethod(lambda xs, axis: torch.stack(xs, dim=axis))
    ones_like = staticmethod(torch.ones_like)
    zeros_like = staticmethod(torch.zeros_like)


def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    ref.check_choice(interpolation, ref.INTERPOLATION_ORDER, "interpolation")
    images = convert_to_tensor(images)
    ref.check_rank(images)
    start_points, end_points = convert_to_tensor(start_points), convert_to_tensor(end_points)
    ref.check_points(start_points, end_points)
    x, batched = _to_nhwc(images, data_format)
    dtype = _compute_dtype(x)
    sp = start_points.to(dtype).reshape(-1, 4, 2)
    ep = end_points.to(dtype).reshape(-1, 4, 2)
    a, b = ref.homography_matrix(sp, ep, xp=_Namespace)
    transform = torch.linalg.solve(a, b[..., None])[..., 0]
    ys, xs = _projective_grid(transform, x.shape[1], x.shape[2], dtype)
    shape = (x.shape[0],) + tuple(ys.shape[1:])
    out = _warp(x.to(dtype), ys.expand(shape), xs.expand(shape),
                ref.INTERPOLATION_ORDER[interpolation], "constant", fill_value)
    return _from_nhwc(_finish(out, x), batched, data_format)


# ---------------------------------------------------------------- filters

def _correlate(x, kernel, pads, mode="constant"):
    """Per-channel 2D correlation of NHWC ``x`` with the numpy (kh, kw) ``kernel``."""
    c = x.shape[-1]
    x = x.permute(0, 3, 1, 2)
    if any(p for pair in pads for p in pair):
        x = _pad(x, [(0, 0), (0, 0), pads[0], pads[1]], mode=mode)
    k = _const(np.ascontiguousarray(np.tile(kernel[None, None], (c, 1, 1, 1))), x)
    return F.conv2d(x, k, groups=c).permute(0, 2, 3, 1)


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    kernel_size, sigma = ref.blur_args(kernel_size, sigma)
    kernel = ref.gaussian_kernel2d(kernel_size, sigma)[::-1, ::-1]
    x, batched = _to_nhwc(images, data_format)
    kh, kw = kernel.shape
    pads = (((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2))
    out = _correlate(x.to(_compute_dtype(x)), kernel, pads)
    return _from_nhwc(out.to(images.dtype), batched, data_format)


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images)
    alpha, sigma, size = ref.elastic_args(interpolation, fill_mode, alpha, sigma)
    x, batched = _to_nhwc(images, data_format)
    b, h, w, _ = x.shape
    dy, dx = ref.elastic_noise(seed, (b, h, w))
    dtype = _compute_dtype(x)
    as_t = lambda a: torch.as_tensor(a[..., None], dtype=dtype, device=x.device)  # noqa: E731
    dy = gaussian_blur(as_t(dy * sigma), (size, size), (sigma, sigma), "channels_last")[..., 0]
    dx = gaussian_blur(as_t(dx * sigma), (size, size), (sigma, sigma), "channels_last")[..., 0]
    gy, gx = torch.meshgrid(torch.arange(h, dtype=dtype, device=x.device),
                            torch.arange(w, dtype=dtype, device=x.device), indexing="ij")
    out = _warp(x.to(dtype), gy + alpha * dy, gx + alpha * dx,
                ref.INTERPOLATION_ORDER[interpolation], fill_mode, fill_value)
    return _from_nhwc(_finish(out, x), batched, data_format)


def sobel_edges(images, data_format=None):
    images = convert_to_tensor(images)
    ref.check_rank(images, (4, 4))
    x, _ = _to_nhwc(images, data_format)
    x = x.to(_compute_dtype(x))
    pads = ((1, 1), (1, 1))
    # a one-pixel symmetric pad repeats the edge pixel, i.e. 'replicate'
    dy = _correlate(x, ref.SOBEL_DY, pads, mode="replicate")
    dx = _correlate(x, ref.SOBEL_DX, pads, mode="replicate")
    out = torch.stack([dy, dx], dim=-1).to(images.dtype)
    if standardize_data_format(data_format) == "channels_first":
        out = out.permute(0, 3, 1, 2, 4)
    return out


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    image1, image2 = convert_to_tensor(image1), convert_to_tensor(image2)
    ref.check_rank(image1, name="image1")
    ref.check_rank(image2, name="image2")
    dtype = _compute_dtype(image1)
    x, batched = _to_nhwc(image1.to(dtype), data_format)
    y, _ = _to_nhwc(image2.to(dtype), data_format)
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
    out = torch.mean(num / den, dim=(1, 2, 3))
    return (out if batched else out[0]).to(image1.dtype)
