"""Regularisation layers: dropout variants, noise, activity regularisation.

Random layers draw from a ``kbridge.random.SeedGenerator`` made in ``__init__`` and are
active only when called with ``training=True``; at inference they return their input.
"""

import math

from kbridge import ops, regularizers
from kbridge.backend.common.config import standardize_data_format
from kbridge.errors import KbridgeError
from kbridge.layers.layer import InputSpec, Layer

__all__ = [
    "ActivityRegularization", "AlphaDropout", "Dropout", "GaussianDropout", "GaussianNoise",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
]


def _random():
    from kbridge import random

    return random


def _seed_generator(seed):
    """A ``kbridge.random.SeedGenerator``, or None while kbridge.random lacks it."""
    cls = getattr(_random(), "SeedGenerator", None)
    return cls(seed) if cls is not None else None


def _need_random(layer, name):
    fn = getattr(_random(), name, None)
    if fn is None or layer.seed_generator is None:
        raise KbridgeError(f"{type(layer).__name__} in training mode needs "
                           f"kbridge.random.SeedGenerator and kbridge.random.{name}, which this "
                           "build does not have yet.")
    return fn


def _init_random(layer, seed, active):
    """Sets ``layer.seed`` and, while ``active``, its seed generator; masks pass through."""
    layer.seed = seed
    layer.seed_generator = _seed_generator(seed) if active else None
    layer.supports_masking = True


def _check_rate(rate, upper_inclusive=True):
    if not isinstance(rate, (int, float)) or rate < 0 or rate > 1 or \
            (not upper_inclusive and rate == 1):
        bound = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise KbridgeError(f"`rate` must be a number in {bound}. Received: rate={rate!r}")
    return rate


class _RateDropout(Layer):
    """``rate``, ``noise_shape`` and ``seed`` of Dropout and AlphaDropout."""

    _config_attrs = ("rate", "seed", "noise_shape")

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        _init_random(self, seed, rate > 0)

    def _noise_shape(self, inputs):
        if self.noise_shape is None:
            return None
        shape = ops.shape(inputs)
        return tuple(shape[i] if d is None else d for i, d in enumerate(self.noise_shape))


class Dropout(_RateDropout):
    """Zeroes inputs with probability ``rate`` in training, scaling the rest by ``1/(1-rate)``.

    ``noise_shape`` (``None`` entries take the input's size) shares one draw across axes.

    Example:
        >>> kbridge.layers.Dropout(0.5, seed=0)(np.ones((2, 4), "float32"), training=True)
    """

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.rate == 1:
            return ops.zeros_like(inputs)
        dropout = _need_random(self, "dropout")
        return dropout(inputs, self.rate, noise_shape=self._noise_shape(inputs),
                       seed=self.seed_generator)


class _SpatialDropout(Dropout):
    _rank = 1
    _config_attrs = ("rate", "seed", "data_format")

    def __init__(self, rate, seed=None, data_format=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _noise_shape(self, inputs):
        shape = ops.shape(inputs)
        ones = (1,) * self._rank
        if self.data_format == "channels_first":
            return (shape[0], shape[1]) + ones
        return (shape[0],) + ones + (shape[-1],)


class SpatialDropout1D(_SpatialDropout):
    """Drops whole feature channels of ``(batch, steps, channels)`` inputs in training.

    Example:
        >>> kbridge.layers.SpatialDropout1D(0.2)(x, training=True)
    """

    _config_attrs = ("rate", "seed")

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, data_format="channels_last", **kwargs)


class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of images in training. Example: ``SpatialDropout2D(0.2)``."""

    _rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature volumes in training. Example: ``SpatialDropout3D(0.2)``."""

    _rank = 3


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of ``stddev`` in training.

    Example:
        >>> kbridge.layers.GaussianNoise(0.1, seed=0)(x, training=True)
    """

    _config_attrs = ("stddev", "seed")

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if stddev < 0:
            raise KbridgeError(f"`stddev` must be non-negative. Received: stddev={stddev}")
        self.stddev = stddev
        _init_random(self, seed, stddev > 0)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        normal = _need_random(self, "normal")
        noise = normal(ops.shape(inputs), mean=0.0, stddev=self.stddev,
                       dtype=ops.dtype(inputs), seed=self.seed_generator)
        return ops.add(inputs, noise)


class GaussianDropout(Layer):
    """Multiplies inputs by Gaussian noise of mean 1, std ``sqrt(rate / (1 - rate))``, in training.

    Example:
        >>> kbridge.layers.GaussianDropout(0.2, seed=0)(x, training=True)
    """

    _config_attrs = ("rate", "seed")

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(rate)
        _init_random(self, seed, rate > 0)

    def call(self, inputs, training=False):
        if not training or not 0 < self.rate < 1:
            return inputs
        normal = _need_random(self, "normal")
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = normal(ops.shape(inputs), mean=1.0, stddev=stddev, dtype=ops.dtype(inputs),
                       seed=self.seed_generator)
        return ops.multiply(inputs, noise)


class ActivityRegularization(Layer):
    """Passes its input through and adds ``l1 * sum|x| + l2 * sum x^2`` (per sample) to losses.

    Example:
        >>> layer = kbridge.layers.ActivityRegularization(l2=1e-3); y = layer(x); layer.losses
    """

    _config_attrs = ("l1", "l2")

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = l1
        self.l2 = l2
        self.supports_masking = True

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)  # rebuilt from l1/l2
        return config


# SELU's fixed point: dropped units are set to its negative saturation value.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(_RateDropout):
    """Dropout for SELU networks: keeps the inputs' mean and variance in training.

    Dropped units are set to ``-alpha * scale`` of SELU, then an affine correction restores
    the statistics.

    Example:
        >>> kbridge.layers.AlphaDropout(0.1, seed=0)(x, training=True)
    """

    def call(self, inputs, training=False):
        if not training or not 0 < self.rate < 1:
            return inputs
        uniform = _need_random(self, "uniform")
        shape = self._noise_shape(inputs) or ops.shape(inputs)
        dtype = ops.dtype(inputs)
        kept = ops.cast(ops.greater_equal(uniform(shape, dtype=dtype, seed=self.seed_generator),
                                          self.rate), dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1.0 - self.rate) * (1.0 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        x = ops.add(ops.multiply(inputs, kept), ops.multiply(alpha_p, ops.subtract(1.0, kept)))
        return ops.add(ops.multiply(a, x), b)
