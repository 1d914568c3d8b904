"""Image files and arrays: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img`` and
``smart_resize`` (Keras 3's ``keras.utils`` / ``keras.preprocessing.image`` helpers).

Files are read and written with Pillow, imported when first needed.
"""

import io
import pathlib
import warnings

import numpy as np

from kbridge.errors import ArgumentError, KbridgeError

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img", "smart_resize"]

# Pillow resampling filters by the names ``load_img(interpolation=...)`` accepts.
PIL_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def _pil():
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - pillow is a dependency of this feature
        raise KbridgeError("Reading and writing images needs Pillow: pip install pillow") from err
    return Image


def _data_format(data_format):
    from kbridge import backend

    return backend.standardize_data_format(data_format)


def _floatx(dtype):
    if dtype is not None:
        return dtype
    from kbridge import backend

    return backend.floatx()


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A rank-3 array to a PIL image (RGBA, RGB, or L / I for one channel).

    With ``scale=True`` values are shifted and stretched to ``[0, 255]`` first.

    Example:
        >>> img = kbridge.utils.array_to_img(np.random.rand(8, 8, 3))
        >>> img.size  # (width, height)
        (8, 8)
    """
    data_format = _data_format(data_format)
    image = _pil()
    x = np.asarray(x, dtype=_floatx(dtype))
    if x.ndim != 3:
        raise ArgumentError(f"Expected an image array of rank 3 (one image). Received shape "
                            f"{x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        peak = np.max(x)
        if peak != 0:
            x /= peak
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:  # more than 8 bits: a 32-bit integer image
            return image.fromarray(x[:, :, 0].astype("int32"), "I")
        return image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ArgumentError(f"An image array must have 1, 3 or 4 channels. Received {channels} "
                        f"(shape {x.shape}, data_format={data_format!r})")


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image (or array-like) to a rank-3 numpy array of ``dtype`` (floatx by default).

    Example:
        >>> kbridge.utils.img_to_array(img).shape  # (height, width, channels)
    """
    data_format = _data_format(data_format)
    x = np.asarray(img, dtype=_floatx(dtype))
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if data_format == "channels_first" else x
    if x.ndim == 2:
        return x[None] if data_format == "channels_first" else x[:, :, None]
    raise ArgumentError(f"Expected an image of rank 2 or 3. Received shape {x.shape}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Writes an image array to ``path`` (the format comes from the suffix unless given).

    Example:
        >>> kbridge.utils.save_img("out.png", np.random.rand(8, 8, 3))
    """
    data_format = _data_format(data_format)
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("JPEG cannot store an alpha channel; saving the image as RGB.",
                      stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def _open_image(path):
    image = _pil()
    if isinstance(path, io.BytesIO):
        return image.open(path)
    if isinstance(path, (pathlib.Path, bytes, str)):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as f:  # read it all so the file is closed at once
            return image.open(io.BytesIO(f.read()))
    raise ArgumentError(f"`path` must be a path (str, bytes, pathlib.Path) or io.BytesIO. "
                        f"Received: {type(path).__name__}")


def _convert_mode(img, color_mode):
    if color_mode == "grayscale":
        return img if img.mode in ("L", "I;16", "I") else img.convert("L")
    if color_mode == "rgba":
        return img if img.mode == "RGBA" else img.convert("RGBA")
    if color_mode == "rgb":
        return img if img.mode == "RGB" else img.convert("RGB")
    raise ArgumentError(f"`color_mode` must be 'grayscale', 'rgb' or 'rgba'. Received: "
                        f"color_mode={color_mode!r}")


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """Loads an image file as a PIL image, optionally resized with Pillow.

    Args:
        path: a file path or an ``io.BytesIO``.
        color_mode: "grayscale", "rgb" or "rgba".
        target_size: ``(height, width)``, or None for the file's size.
        interpolation: Pillow filter: "nearest", "bilinear", "bicubic", "hamming", "box",
            "lanczos".
        keep_aspect_ratio: resize the largest centred crop with the target aspect ratio.

    Example:
        >>> img = kbridge.utils.load_img("cat.png", target_size=(64, 64))
        >>> x = kbridge.utils.img_to_array(img)  # (64, 64, 3) float32
    """
    img = _convert_mode(_open_image(path), color_mode)
    if target_size is None:
        return img
    size = (target_size[1], target_size[0])  # Pillow sizes are (width, height)
    if img.size == size:
        return img
    if interpolation not in PIL_INTERPOLATIONS:
        raise ArgumentError(f"`interpolation` must be one of {PIL_INTERPOLATIONS}. Received: "
                            f"interpolation={interpolation!r}")
    resample = getattr(_pil().Resampling, interpolation.upper())
    if not keep_aspect_ratio:
        return img.resize(size, resample)
    width, height = img.size
    crop_h = min(height, (width * size[1]) // size[0])
    crop_w = min(width, (height * size[0]) // size[1])
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return img.resize(size, resample, box=[left, top, left + crop_w, top + crop_h])


def _aspect_crop(height, width, size):
    """The largest centred (top, left, crop_height, crop_width) with ``size``'s aspect ratio."""
    target_h, target_w = size
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last", **kwargs):
    """Resizes images to ``size`` without distorting them: the largest centred crop with the
    target aspect ratio is taken, then resized.

    ``x`` is one image (rank 3) or a batch (rank 4); a numpy array gives a numpy array, a
    backend tensor a tensor of its backend.

    Example:
        >>> kbridge.preprocessing.image.smart_resize(np.zeros((30, 60, 3)), (20, 20)).shape
        (20, 20, 3)
    """
    from kbridge import backend, ops

    if kwargs:
        raise ArgumentError(f"smart_resize() got unexpected keyword arguments: {list(kwargs)}")
    if len(size) != 2:
        raise ArgumentError(f"`size` must be (height, width). Received: size={size}")
    if len(x.shape) not in (3, 4):
        raise ArgumentError("Expected an image (height, width, channels) or a batch of them. "
                            f"Received shape {tuple(x.shape)}")
    rows, cols = (-3, -2) if data_format == "channels_last" else (-2, -1)
    top, left, crop_h, crop_w = _aspect_crop(int(x.shape[rows]), int(x.shape[cols]), size)
    index = [slice(None)] * len(x.shape)
    index[rows] = slice(top, top + crop_h)
    index[cols] = slice(left, left + crop_w)
    cropped = x[tuple(index)]
    if isinstance(x, np.ndarray):
        with backend.use("numpy"):
            out = ops.image.resize(cropped, size=size, interpolation=interpolation,
                                   data_format=data_format)
        return np.asarray(out)
    return ops.image.resize(cropped, size=size, interpolation=interpolation,
                            data_format=data_format)
