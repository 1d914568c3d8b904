"""Convolution layers: Conv1D/2D/3D, their transposes, depthwise and separable convolutions.

Kernel layouts are Keras 3's, so weights move between the two unchanged:

* ``ConvND``: ``(*kernel_size, in_channels // groups, filters)``
* ``ConvNDTranspose``: ``(*kernel_size, filters, in_channels)``
* ``DepthwiseConvND``: ``(*kernel_size, in_channels, depth_multiplier)``
* ``SeparableConvND``: depthwise ``(*kernel_size, in_channels, depth_multiplier)`` and pointwise
  ``(*(1,) * rank, in_channels * depth_multiplier, filters)``
"""

from kbridge import ops
from kbridge.backend.common import config as backend_config
from kbridge.errors import ArgumentError
from kbridge.layers.layer import InputSpec, Layer
from kbridge.saving import registry

__all__ = [
    "Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D",
    "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "SeparableConvolution1D", "SeparableConvolution2D",
]


# The shared ValueError-compatible argument error, under this module's historical name.
LayerArgumentError = ArgumentError


# --- argument helpers (shared with pooling) ------------------------------------------

def normalize_tuple(value, n, name, allow_zero=False):
    """``value`` (an int or a sequence of ``n`` ints) as a tuple of ``n`` ints."""
    if isinstance(value, int):
        result = (value,) * n
    else:
        try:
            result = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise LayerArgumentError(f"`{name}` must be an int or a tuple of {n} ints. "
                               f"Received: {name}={value!r}") from None
        if len(result) != n:
            raise LayerArgumentError(f"`{name}` must be an int or a tuple of {n} ints. "
                               f"Received: {name}={value!r}")
    low = 0 if allow_zero else 1
    if any(v < low for v in result):
        raise LayerArgumentError(f"`{name}` values must be >= {low}. Received: {name}={value!r}")
    return result


def normalize_padding(padding, allow_causal=False):
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    value = padding.lower() if isinstance(padding, str) else padding
    if value not in allowed:
        names = " or ".join(repr(a) for a in allowed)
        raise LayerArgumentError(f"`padding` must be {names}. Received: padding={padding!r}")
    return value


def normalize_data_format(data_format):
    value = data_format or backend_config.image_data_format()
    value = value.lower()
    if value not in ("channels_last", "channels_first"):
        raise LayerArgumentError("`data_format` must be 'channels_last' or 'channels_first'. "
                           f"Received: data_format={data_format!r}")
    return value


# Used only until kbridge.activations lands: the names layers most often use, mapped to ops.
_FALLBACK_ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "softmax", "elu", "selu", "gelu",
                         "silu", "swish", "softplus", "softsign", "leaky_relu", "hard_sigmoid",
                         "log_softmax", "mish", "exponential")


def _activations():
    """The ``kbridge.activations`` module, or None before it lands."""
    try:
        from kbridge import activations
    except ImportError:
        return None
    return activations


def get_activation(identifier):
    """The activation callable for a name, a callable or None ("linear")."""
    activations = _activations()
    if activations is not None:
        return activations.get(identifier)
    if identifier is None or identifier == "linear":
        return _linear
    if callable(identifier):
        return identifier
    if identifier == "exponential":
        return ops.exp
    if identifier == "mish":
        return lambda x: x * ops.tanh(ops.softplus(x))
    if identifier in _FALLBACK_ACTIVATIONS:
        return getattr(ops, identifier)
    raise LayerArgumentError(f"Unknown activation: {identifier!r}")


def serialize_activation(fn):
    activations = _activations()
    if activations is not None:
        return activations.serialize(fn)
    if fn is _linear:
        return "linear"
    name = getattr(fn, "__name__", None)
    return name if name else registry.serialize(fn)


def _linear(x):
    return x


def _bias_shape(rank, channels, data_format):
    if data_format == "channels_last":
        return (1,) * (rank + 1) + (channels,)
    return (1, channels) + (1,) * rank


def _channels(input_shape, data_format):
    channels = input_shape[-1] if data_format == "channels_last" else input_shape[1]
    if channels is None:
        raise LayerArgumentError("The channel dimension of the input must be known. "
                           f"Received: input_shape={tuple(input_shape)}")
    return int(channels)


def _positive_int(value, name):
    """``value`` as an int, which must be positive."""
    result = int(value)
    if result <= 0:
        raise LayerArgumentError(f"`{name}` must be a positive int. Received: {name}={value}")
    return result


class _ConvBase(Layer):
    """Shared arguments, weights and bias/activation handling of every convolution."""

    rank = None
    _allow_causal = False
    # The subclass's own constructor arguments and weight prefixes, as get_config lists them.
    _config_args = ()
    _weight_prefixes = ()

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, bias_initializer="zeros",
                 bias_regularizer=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        n = self.rank
        self.kernel_size = normalize_tuple(kernel_size, n, "kernel_size")
        self.strides = normalize_tuple(strides, n, "strides")
        self.dilation_rate = normalize_tuple(dilation_rate, n, "dilation_rate")
        self.padding = normalize_padding(padding, allow_causal=self._allow_causal)
        self.data_format = normalize_data_format(data_format)
        self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self._set_weight_args("bias", bias_initializer, bias_regularizer, bias_constraint)
        self.input_spec = InputSpec(min_ndim=n + 2)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise LayerArgumentError("`strides > 1` is not supported together with `dilation_rate > 1`. "
                               f"Received: strides={self.strides}, "
                               f"dilation_rate={self.dilation_rate}")

    def _add_bias(self, channels):
        self.bias = self._add_weight_from("bias", "bias", (channels,)) if self.use_bias else None

    def _convolve(self, inputs, **conv_args):
        """The convolution op on ``inputs`` (``conv_args``: strides, padding, data_format and
        dilation_rate)."""
        raise NotImplementedError

    def call(self, inputs):
        outputs = self._convolve(inputs, strides=self.strides, padding=self.padding,
                                 data_format=self.data_format, dilation_rate=self.dilation_rate)
        return self._finish(outputs)

    def _finish(self, outputs):
        if self.bias is not None:
            bias = ops.reshape(self.bias, _bias_shape(self.rank, self.bias.shape[0],
                                                      self.data_format))
            outputs = ops.add(outputs, bias)
        return self.activation(outputs)

    def _set_input_spec(self, input_shape):
        axis = -1 if self.data_format == "channels_last" else 1
        self.input_spec = InputSpec(min_ndim=self.rank + 2,
                                    axes={axis: _channels(input_shape, self.data_format)})

    def get_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": serialize_activation(self.activation),
            "use_bias": self.use_bias,
            **self._weight_config("bias"),
            "activity_regularizer": registry.serialize(self.activity_regularizer),
            **{name: getattr(self, name) for name in self._config_args},
            **self._weight_config(*self._weight_prefixes),
        })
        return config


class _Conv(_ConvBase):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.filters = _positive_int(filters, "filters")
        self.groups = int(groups)
        if self.groups <= 0 or self.filters % self.groups:
            raise LayerArgumentError("`groups` must be a positive divisor of `filters`. "
                               f"Received: groups={groups}, filters={filters}")
        self._set_weight_args("kernel", kernel_initializer, kernel_regularizer, kernel_constraint)

    def build(self, input_shape):
        channels = _channels(input_shape, self.data_format)
        if channels % self.groups:
            raise LayerArgumentError("The number of input channels must be divisible by `groups`. "
                               f"Received: groups={self.groups}, input_shape={tuple(input_shape)}")
        self._set_input_spec(input_shape)
        self.kernel = self._add_weight_from(
            "kernel", "kernel", self.kernel_size + (channels // self.groups, self.filters))
        self._add_bias(self.filters)
        self.built = True

    def _convolve(self, inputs, padding, **conv_args):
        if padding == "causal":
            # Left-pad the time axis so output[t] sees only inputs[:t + 1].
            left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
            pads = [[0, 0], [left, 0], [0, 0]]
            if self.data_format == "channels_first":
                pads = [[0, 0], [0, 0], [left, 0]]
            inputs = ops.pad(inputs, pads)
            padding = "valid"
        return ops.conv(inputs, self.kernel, padding=padding, **conv_args)

    _config_args = ("filters", "groups")
    _weight_prefixes = ("kernel",)


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``; ``padding`` may also be 'causal'.

    Example:
        >>> kbridge.layers.Conv1D(8, 3, padding="causal")(np.ones((2, 10, 4))).shape
        (2, 10, 8)
    """

    rank = 1
    _allow_causal = True


class Conv2D(_Conv):
    """2-D convolution over images ``(batch, height, width, channels)``.

    Example:
        >>> kbridge.layers.Conv2D(16, 3, strides=2, padding="same")(np.ones((1, 9, 9, 3))).shape
        (1, 5, 5, 16)
    """

    rank = 2


class Conv3D(_Conv):
    """3-D convolution over volumes ``(batch, depth, height, width, channels)``.

    Example:
        >>> kbridge.layers.Conv3D(4, 2)(np.ones((1, 5, 5, 5, 2))).shape
        (1, 4, 4, 4, 4)
    """

    rank = 3


class _ConvTranspose(_ConvBase):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.filters = _positive_int(filters, "filters")
        if output_padding is not None:
            output_padding = normalize_tuple(output_padding, self.rank, "output_padding",
                                             allow_zero=True)
            for p, s in zip(output_padding, self.strides):
                if p >= s:
                    raise LayerArgumentError("Each `output_padding` value must be smaller than the "
                                       f"matching stride. Received: output_padding="
                                       f"{output_padding}, strides={self.strides}")
        self.output_padding = output_padding
        self._set_weight_args("kernel", kernel_initializer, kernel_regularizer, kernel_constraint)

    def build(self, input_shape):
        channels = _channels(input_shape, self.data_format)
        self._set_input_spec(input_shape)
        self.kernel = self._add_weight_from("kernel", "kernel",
                                            self.kernel_size + (self.filters, channels))
        self._add_bias(self.filters)
        self.built = True

    def _convolve(self, inputs, **conv_args):
        return ops.conv_transpose(inputs, self.kernel, output_padding=self.output_padding,
                                  **conv_args)

    _config_args = ("filters", "output_padding")
    _weight_prefixes = ("kernel",)


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution (learned upsampling of sequences).

    Example:
        >>> kbridge.layers.Conv1DTranspose(4, 3, strides=2)(np.ones((1, 5, 2))).shape
        (1, 11, 4)
    """

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution (learned upsampling of images).

    Example:
        >>> kbridge.layers.Conv2DTranspose(8, 3, 2, padding="same")(np.ones((1, 4, 4, 3))).shape
        (1, 8, 8, 8)
    """

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution (learned upsampling of volumes).

    Example:
        >>> kbridge.layers.Conv3DTranspose(2, 2, 2)(np.ones((1, 3, 3, 3, 1))).shape
        (1, 6, 6, 6, 2)
    """

    rank = 3


class _DepthwiseConv(_ConvBase):
    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier")
        self._set_weight_args("depthwise", depthwise_initializer, depthwise_regularizer,
                              depthwise_constraint)

    def build(self, input_shape):
        channels = _channels(input_shape, self.data_format)
        self._set_input_spec(input_shape)
        self.kernel = self._add_weight_from("depthwise", "kernel",
                                            self.kernel_size + (channels, self.depth_multiplier))
        self._add_bias(channels * self.depth_multiplier)
        self.built = True

    def _convolve(self, inputs, **conv_args):
        return ops.depthwise_conv(inputs, self.kernel, **conv_args)

    _config_args = ("depth_multiplier",)
    _weight_prefixes = ("depthwise",)


class DepthwiseConv1D(_DepthwiseConv):
    """1-D depthwise convolution: each channel filtered on its own, ``depth_multiplier`` times.

    Example:
        >>> kbridge.layers.DepthwiseConv1D(3, depth_multiplier=2)(np.ones((1, 8, 4))).shape
        (1, 6, 8)
    """

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """2-D depthwise convolution: each channel filtered on its own, ``depth_multiplier`` times.

    Example:
        >>> kbridge.layers.DepthwiseConv2D(3, padding="same")(np.ones((1, 8, 8, 4))).shape
        (1, 8, 8, 4)
    """

    rank = 2


class _SeparableConv(_ConvBase):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, bias_regularizer, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.filters = _positive_int(filters, "filters")
        self.depth_multiplier = _positive_int(depth_multiplier, "depth_multiplier")
        self._set_weight_args("depthwise", depthwise_initializer, depthwise_regularizer,
                              depthwise_constraint)
        self._set_weight_args("pointwise", pointwise_initializer, pointwise_regularizer,
                              pointwise_constraint)

    def build(self, input_shape):
        channels = _channels(input_shape, self.data_format)
        self._set_input_spec(input_shape)
        self.depthwise_kernel = self._add_weight_from(
            "depthwise", "depthwise_kernel",
            self.kernel_size + (channels, self.depth_multiplier))
        self.pointwise_kernel = self._add_weight_from(
            "pointwise", "pointwise_kernel",
            (1,) * self.rank + (channels * self.depth_multiplier, self.filters))
        self._add_bias(self.filters)
        self.built = True

    def _convolve(self, inputs, **conv_args):
        return ops.separable_conv(inputs, self.depthwise_kernel, self.pointwise_kernel,
                                  **conv_args)

    _config_args = ("filters", "depth_multiplier")
    _weight_prefixes = ("depthwise", "pointwise")


class SeparableConv1D(_SeparableConv):
    """1-D depthwise-separable convolution: a depthwise pass, then a 1x1 pointwise mix.

    Example:
        >>> kbridge.layers.SeparableConv1D(8, 3)(np.ones((1, 10, 4))).shape
        (1, 8, 8)
    """

    rank = 1


class SeparableConv2D(_SeparableConv):
    """2-D depthwise-separable convolution: a depthwise pass, then a 1x1 pointwise mix.

    Example:
        >>> kbridge.layers.SeparableConv2D(8, 3, padding="same")(np.ones((1, 6, 6, 4))).shape
        (1, 6, 6, 8)
    """

    rank = 2


# Keras 3's aliases.
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose = Conv1DTranspose, Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
