"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, cropping, padding, upsampling."""

import math

from kbridge import ops
from kbridge.backend.common.config import standardize_data_format
from kbridge.errors import KbridgeError, ShapeError
from kbridge.layers.layer import InputSpec, Layer

__all__ = [
    "Cropping1D", "Cropping2D", "Cropping3D", "Flatten", "Permute", "RepeatVector", "Reshape",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D",
]


def _int_tuple(value, n, name):
    """``value`` as a tuple of ``n`` ints (an int is repeated)."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n or not all(isinstance(v, int) for v in value):
        raise KbridgeError(f"`{name}` must be an int or a tuple of {n} ints. "
                           f"Received: {name}={value!r}")
    return value


def _pairs(value, n, name):
    """``value`` as ``n`` (before, after) pairs: an int, ``n`` ints, or ``n`` pairs."""
    if isinstance(value, int):
        return ((value, value),) * n
    value = tuple(value)
    if len(value) != n:
        raise KbridgeError(f"`{name}` must be an int, a tuple of {n} ints or of {n} pairs of "
                           f"ints. Received: {name}={value!r}")
    out = []
    for v in value:
        if isinstance(v, int):
            out.append((v, v))
        else:
            pair = tuple(v)
            if len(pair) != 2 or not all(isinstance(p, int) for p in pair):
                raise KbridgeError(f"`{name}` entries must be ints or pairs of ints. "
                                   f"Received: {name}={value!r}")
            out.append(pair)
    return tuple(out)


def _spatial_axes(rank, data_format, n):
    return list(range(2, 2 + n)) if data_format == "channels_first" else list(range(1, 1 + n))


class Flatten(Layer):
    """Flattens all but the batch axis (channels moved last first, for channels_first).

    Example:
        >>> kbridge.layers.Flatten()(np.ones((2, 3, 4), "float32")).shape
        (2, 12)
    """

    _config_attrs = ("data_format",)

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        shape = tuple(inputs.shape)
        rank = len(shape)
        if self.data_format == "channels_first" and rank > 2:
            inputs = ops.transpose(inputs, [0] + list(range(2, rank)) + [1])
        rest = shape[1:]
        if all(d is not None for d in rest):
            return ops.reshape(inputs, (-1, int(math.prod(rest))))
        return ops.reshape(inputs, (shape[0], -1))


class Reshape(Layer):
    """Reshapes the non-batch dims to ``target_shape`` (one entry may be -1).

    Example:
        >>> kbridge.layers.Reshape((3, -1))(np.ones((2, 12), "float32")).shape
        (2, 3, 4)
    """

    _config_attrs = ("target_shape",)

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)
        if sum(d == -1 for d in self.target_shape) > 1:
            raise KbridgeError("`target_shape` may contain at most one -1. "
                               f"Received: target_shape={self.target_shape}")

    def _resolved(self, input_shape):
        target = list(self.target_shape)
        if -1 in target:
            rest = input_shape[1:]
            if all(d is not None for d in rest):
                known = math.prod(d for d in target if d != -1)
                total = math.prod(rest)
                if known == 0 or total % known:
                    raise ShapeError(f"Cannot reshape input of shape {tuple(input_shape)} to "
                                     f"target_shape={self.target_shape}.")
                target[target.index(-1)] = total // known
        return tuple(target)

    def call(self, inputs):
        target = self._resolved(tuple(inputs.shape))
        if -1 in target:
            return ops.reshape(inputs, (inputs.shape[0],) + target)
        return ops.reshape(inputs, (-1,) + target)


class Permute(Layer):
    """Permutes the non-batch axes; ``dims`` counts from 1. Example: ``Permute((2, 1))``."""

    _config_attrs = ("dims",)

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise KbridgeError("`dims` must be a permutation of 1..n (the batch axis is not "
                               f"included). Received: dims={self.dims}")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)


class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``.

    Example:
        >>> kbridge.layers.RepeatVector(3)(np.ones((2, 4), "float32")).shape
        (2, 3, 4)
    """

    _config_attrs = ("n",)

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int):
            raise KbridgeError(f"`n` must be an int. Received: n={n!r}")
        self.n = n
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return ops.repeat(ops.expand_dims(inputs, 1), self.n, axis=1)


class _Cropping(Layer):
    _rank = 1
    _config_attrs = ("cropping", "data_format")

    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._crop_pairs = _pairs(cropping, self._rank, "cropping")
        self.cropping = self._crop_pairs
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def call(self, inputs):
        shape = tuple(inputs.shape)
        axes = _spatial_axes(len(shape), self.data_format, self._rank)
        index = [slice(None)] * len(shape)
        for axis, (before, after) in zip(axes, self._crop_pairs):
            size = shape[axis]
            if size is not None and before + after >= size:
                raise ShapeError(f"{type(self).__name__}: cropping {(before, after)} leaves "
                                 f"nothing of axis {axis} (size {size}).")
            index[axis] = slice(before, (size - after) if size is not None else (-after or None))
        return inputs[tuple(index)]


class Cropping1D(_Cropping):
    """Crops the steps axis of ``(batch, steps, features)``. Example: ``Cropping1D((1, 2))``."""

    _config_attrs = ("cropping",)

    def __init__(self, cropping=(1, 1), **kwargs):
        pair = (cropping,) if isinstance(cropping, int) else (tuple(cropping),)
        super().__init__(pair, data_format="channels_last", **kwargs)
        self.cropping = self._crop_pairs[0]


class Cropping2D(_Cropping):
    """Crops rows and columns of images. Example: ``Cropping2D(((1, 1), (2, 2)))``."""

    _rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Crops the three spatial axes of volumes. Example: ``Cropping3D(1)``."""

    _rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


class _ZeroPadding(Layer):
    _rank = 1

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self._rank, "padding")
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def call(self, inputs):
        rank = len(inputs.shape)
        widths = [(0, 0)] * rank
        for axis, pair in zip(_spatial_axes(rank, self.data_format, self._rank), self.padding):
            widths[axis] = pair
        return ops.pad(inputs, widths)

    def get_config(self):
        config = super().get_config()
        config["padding"] = self.padding[0] if self._rank == 1 else self.padding
        config["data_format"] = self.data_format
        return config


class ZeroPadding1D(_ZeroPadding):
    """Pads the steps axis with zeros. Example: ``ZeroPadding1D((1, 2))``."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__((padding,) if isinstance(padding, int) else (tuple(padding),),
                         data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Pads rows and columns of images with zeros. Example: ``ZeroPadding2D(((1, 0), (2, 2)))``."""

    _rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Pads the three spatial axes of volumes with zeros. Example: ``ZeroPadding3D(1)``."""

    _rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


class UpSampling1D(Layer):
    """Repeats each step ``size`` times. Example: ``UpSampling1D(2)`` maps 3 steps to 6."""

    _config_attrs = ("size",)

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        return ops.repeat(inputs, self.size, axis=1)


_INTERPOLATIONS = ("bicubic", "bilinear", "lanczos3", "lanczos5", "nearest")


class UpSampling2D(Layer):
    """Scales images up by ``size``: repeated pixels ("nearest") or ``ops.image.resize``.

    Example:
        >>> kbridge.layers.UpSampling2D(2)(np.ones((1, 3, 3, 1), "float32")).shape
        (1, 6, 6, 1)
    """

    _config_attrs = ("size", "data_format", "interpolation")

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = _int_tuple(size, 2, "size")
        self.data_format = standardize_data_format(data_format)
        if interpolation not in _INTERPOLATIONS:
            raise KbridgeError(f"`interpolation` must be one of {_INTERPOLATIONS}. "
                               f"Received: interpolation={interpolation!r}")
        self.interpolation = interpolation
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        h_axis, w_axis = _spatial_axes(4, self.data_format, 2)
        if self.interpolation == "nearest":
            x = ops.repeat(inputs, self.size[0], axis=h_axis)
            return ops.repeat(x, self.size[1], axis=w_axis)
        h, w = inputs.shape[h_axis], inputs.shape[w_axis]
        if h is None or w is None:
            raise ShapeError("UpSampling2D with interpolation needs known spatial sizes. "
                             f"Received: shape={tuple(inputs.shape)}")
        return ops.image.resize(inputs, (h * self.size[0], w * self.size[1]),
                                interpolation=self.interpolation, data_format=self.data_format)


class UpSampling3D(Layer):
    """Repeats voxels ``size`` times along each spatial axis. Example: ``UpSampling3D(2)``."""

    _config_attrs = ("size", "data_format")

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.size = _int_tuple(size, 3, "size")
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        x = inputs
        for axis, n in zip(_spatial_axes(5, self.data_format, 3), self.size):
            x = ops.repeat(x, n, axis=axis)
        return x
