"""image ops (``kbridge.ops.image``): resampling, warps, colour spaces, filters, patches.

Images are ``(height, width, channels)`` or batched ``(batch, height, width, channels)`` for
``data_format="channels_last"`` (the default from ``kbridge.config``), channels before height
and width for "channels_first".
"""

from kbridge.backend.common.dispatch import op_decorator
from kbridge.backend.common.keras_tensor import KerasTensor

op = op_decorator("image")


def _same_as_images_spec(images, *args, **kwargs):
    # The homography solve fails on placeholder (all-ones) points; the shape never changes.
    return KerasTensor(images.shape, images.dtype)


@op
def rgb_to_grayscale(images, data_format=None):
    """Luma (0.2989 R + 0.5870 G + 0.1140 B) with a single channel; same dtype as ``images``."""


@op
def rgb_to_hsv(images, data_format=None):
    """RGB in [0, 1] to HSV (hue in [0, 1)); float images only."""


@op
def hsv_to_rgb(images, data_format=None):
    """HSV (hue in [0, 1)) to RGB; float images only."""


@op
def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resize to ``size = (height, width)`` with half-pixel centres.

    ``interpolation``: 'bilinear', 'nearest', 'bicubic' (Keys, a=-0.5), 'lanczos3', 'lanczos5'.
    ``antialias`` widens the kernel when downsampling. ``crop_to_aspect_ratio`` first takes the
    largest centred crop with the target aspect ratio; ``pad_to_aspect_ratio`` instead pads
    both sides with ``fill_value``.

    Example:
        >>> kbridge.ops.image.resize(np.zeros((2, 32, 48, 3)), (16, 16)).shape  # (2, 16, 16, 3)
    """


@op
def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Warp by projective transforms ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (shape (8,) or
    (batch, 8)) mapping each output pixel (x, y) to the input point
    ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``, ``k = c0 x + c1 y + 1``.

    ``fill_mode`` ('constant', 'nearest', 'wrap', 'mirror', 'reflect') handles points outside.
    """


@op(spec=_same_as_images_spec)
def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    """Warp so the four ``start_points`` (x, y) land on the four ``end_points``."""


@op
def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """Sample ``inputs`` at ``coordinates`` (one array per input dimension) with nearest
    (``order=0``) or linear (``order=1``) interpolation, as ``scipy.ndimage.map_coordinates``.

    Example:
        >>> kbridge.ops.image.map_coordinates(np.arange(4.), [np.array([0.5, 2.25])], 1)
        # [0.5, 2.25]
    """


@op
def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    """Zero-pad the height and width; give exactly two of (top, bottom, target_height) and two
    of (left, right, target_width)."""


@op
def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    """Crop the height and width; give exactly two of (top, bottom, target_height) and two of
    (left, right, target_width)."""


@op
def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    """Patches of ``size`` (int or (h, w); a 3-tuple means volumes) flattened into the channel
    axis: output channels ``h * w * channels``. ``strides`` defaults to ``size``.

    Example:
        >>> kbridge.ops.image.extract_patches(np.zeros((1, 8, 8, 3)), 4).shape  # (1, 2, 2, 48)
    """


@op
def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    """3D version of :func:`extract_patches` for ``(batch, depth, height, width, channels)``."""


@op
def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Blur with a Gaussian kernel, zero padding keeps the size. ``kernel_size`` and ``sigma``
    are (x, y) pairs."""


@op
def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    """Random elastic deformation: Gaussian-smoothed (``sigma``) noise displacements scaled by
    ``alpha``. The noise comes from numpy's generator seeded by the int ``seed``, so a seed
    gives the same warp on every backend."""


@op
def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    """Resample ``spatial_dims`` to ``output_shape``: output ``i`` reads input point
    ``(i + 0.5 - translation) / scale - 0.5``, with kernel ``method`` ('linear', 'cubic',
    'lanczos3', 'lanczos5', ...), as ``jax.image.scale_and_translate``."""


@op
def sobel_edges(images, data_format=None):
    """Sobel gradients (d/dy, d/dx) of batched images, stacked on a new last axis; the border
    repeats edge pixels."""


@op
def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    """Structural similarity of two images (mean over the valid Gaussian windows and channels),
    one value per image."""
