"""Pooling layers: windowed max/average pooling and global pooling over 1-3 spatial dims."""

from kbridge import ops
from kbridge.layers.convolution import normalize_data_format, normalize_padding, normalize_tuple
from kbridge.layers.layer import InputSpec, Layer

__all__ = [
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "MaxPool1D", "MaxPool2D", "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
    "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
]


class _Pooling(Layer):
    rank = None
    pool_mode = None
    _config_attrs = ("pool_size", "padding", "strides", "data_format")

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size")
        strides = pool_size if strides is None else strides
        self.strides = normalize_tuple(strides, self.rank, "strides")
        self.padding = normalize_padding(padding)
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        pool = ops.max_pool if self.pool_mode == "max" else ops.average_pool
        return pool(inputs, pool_size=self.pool_size, strides=self.strides,
                    padding=self.padding, data_format=self.data_format)


class _Pooling2D(_Pooling):
    """Pools images; ``pool_size`` defaults to ``(2, 2)``."""

    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _Pooling3D(_Pooling):
    """Pools volumes; ``pool_size`` defaults to ``(2, 2, 2)``."""

    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps, moved by ``strides`` (default: ``pool_size``).

    Example:
        >>> kbridge.layers.MaxPooling1D(2)(np.ones((1, 5, 3))).shape
        (1, 2, 3)
    """

    rank, pool_mode = 1, "max"


class MaxPooling2D(_Pooling2D):
    """Max over ``pool_size`` windows of an image; 'same' padding keeps ``ceil(size / stride)``.

    Example:
        >>> kbridge.layers.MaxPooling2D(2, padding="same")(np.ones((1, 5, 5, 3))).shape
        (1, 3, 3, 3)
    """

    pool_mode = "max"


class MaxPooling3D(_Pooling3D):
    """Max over ``pool_size`` windows of a volume.

    Example:
        >>> kbridge.layers.MaxPooling3D()(np.ones((1, 4, 4, 4, 2))).shape
        (1, 2, 2, 2, 2)
    """

    pool_mode = "max"


class AveragePooling1D(_Pooling):
    """Mean over windows of steps; with 'same' padding only real elements are averaged.

    Example:
        >>> kbridge.layers.AveragePooling1D(2)(np.ones((1, 5, 3))).shape
        (1, 2, 3)
    """

    rank, pool_mode = 1, "average"


class AveragePooling2D(_Pooling2D):
    """Mean over ``pool_size`` windows of an image.

    Example:
        >>> kbridge.layers.AveragePooling2D()(np.ones((1, 4, 4, 3))).shape
        (1, 2, 2, 3)
    """

    pool_mode = "average"


class AveragePooling3D(_Pooling3D):
    """Mean over ``pool_size`` windows of a volume.

    Example:
        >>> kbridge.layers.AveragePooling3D()(np.ones((1, 4, 4, 4, 2))).shape
        (1, 2, 2, 2, 2)
    """

    pool_mode = "average"


class _GlobalPooling(Layer):
    rank = None
    _config_attrs = ("data_format", "keepdims")

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _spatial_axes(self):
        start = 1 if self.data_format == "channels_last" else 2
        return tuple(range(start, start + self.rank))


class _GlobalMax(_GlobalPooling):
    def call(self, inputs):
        return ops.max(inputs, axis=self._spatial_axes(), keepdims=self.keepdims)


class _GlobalAverage(_GlobalPooling):
    def call(self, inputs):
        return ops.mean(inputs, axis=self._spatial_axes(), keepdims=self.keepdims)


class GlobalMaxPooling1D(_GlobalMax):
    """Max over the steps axis: ``(batch, steps, features) -> (batch, features)``.

    Example:
        >>> kbridge.layers.GlobalMaxPooling1D()(np.ones((2, 5, 3))).shape
        (2, 3)
    """

    rank = 1


class GlobalMaxPooling2D(_GlobalMax):
    """Max over height and width: ``(batch, h, w, channels) -> (batch, channels)``.

    Example:
        >>> kbridge.layers.GlobalMaxPooling2D(keepdims=True)(np.ones((2, 4, 4, 3))).shape
        (2, 1, 1, 3)
    """

    rank = 2


class GlobalMaxPooling3D(_GlobalMax):
    """Max over the three spatial axes of a volume.

    Example:
        >>> kbridge.layers.GlobalMaxPooling3D()(np.ones((2, 3, 3, 3, 4))).shape
        (2, 4)
    """

    rank = 3


class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over the steps axis; masked steps (``mask`` False) are left out of the mean.

    Example:
        >>> kbridge.layers.GlobalAveragePooling1D()(np.ones((2, 5, 3))).shape
        (2, 3)
    """

    rank = 1

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(data_format=data_format, keepdims=keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        steps_axis = 1 if self.data_format == "channels_last" else 2
        if mask is None:
            return ops.mean(inputs, axis=steps_axis, keepdims=self.keepdims)
        mask = ops.expand_dims(ops.cast(mask, "bool"),
                               2 if self.data_format == "channels_last" else 1)
        inputs = ops.where(mask, inputs, ops.zeros_like(inputs))
        count = ops.sum(ops.cast(mask, ops.dtype(inputs)), axis=steps_axis, keepdims=self.keepdims)
        return ops.divide(ops.sum(inputs, axis=steps_axis, keepdims=self.keepdims), count)

    def compute_mask(self, inputs, previous_mask):
        return None


class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over height and width: ``(batch, h, w, channels) -> (batch, channels)``.

    Example:
        >>> kbridge.layers.GlobalAveragePooling2D()(np.ones((2, 4, 4, 3))).shape
        (2, 3)
    """

    rank = 2


class GlobalAveragePooling3D(_GlobalAverage):
    """Mean over the three spatial axes of a volume.

    Example:
        >>> kbridge.layers.GlobalAveragePooling3D()(np.ones((2, 3, 3, 3, 4))).shape
        (2, 4)
    """

    rank = 3


# Keras 3's aliases.
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = (GlobalMaxPooling1D, GlobalMaxPooling2D,
                                                     GlobalMaxPooling3D)
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D,
                                                     GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)
