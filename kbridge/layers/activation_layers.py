"""Activation layers with parameters: ReLU, LeakyReLU, PReLU, ELU, Softmax."""

from kbridge import activations, ops
from kbridge.errors import KbridgeError
from kbridge.layers.layer import Layer

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]

_FLOAT16_NEG = -3e4


def _non_negative(value, name):
    """``value``, which must be a non-negative number."""
    if value is None or value < 0:
        raise KbridgeError(f"`{name}` must be a non-negative number. Received: {name}={value}")
    return value


class ReLU(Layer):
    """Rectified linear unit with optional ceiling, leak and threshold.

    Example:
        >>> kbridge.layers.ReLU(max_value=6.0)(np.array([-1.0, 3.0, 9.0]))   # [0, 3, 6]
    """

    _config_attrs = ("max_value", "negative_slope", "threshold")

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise KbridgeError(f"`max_value` must be non-negative. Received: max_value={max_value}")
        self.max_value = max_value
        self.negative_slope = _non_negative(negative_slope, "negative_slope")
        self.threshold = _non_negative(threshold, "threshold")
        self.supports_masking = True

    def call(self, inputs):
        return activations.relu(inputs, negative_slope=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold)


class LeakyReLU(Layer):
    """``x`` if positive, else ``negative_slope * x``. Example: ``LeakyReLU(0.3)(x)``."""

    _config_attrs = ("negative_slope",)

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2 name
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(negative_slope, "negative_slope")
        self.supports_masking = True

    def call(self, inputs):
        return ops.leaky_relu(inputs, negative_slope=self.negative_slope)


class PReLU(Layer):
    """Leaky ReLU whose slope ``alpha`` is learnt (one per input element, or shared on axes).

    Example:
        >>> kbridge.layers.PReLU(shared_axes=[1, 2])(np.ones((1, 4, 4, 3), "float32")).shape
        (1, 4, 4, 3)
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self._set_weight_args("alpha", alpha_initializer, alpha_regularizer, alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = list(shared_axes)
        else:
            self.shared_axes = [shared_axes]
        self.supports_masking = True

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            shape[axis - 1] = 1
        self.alpha = self._add_weight_from("alpha", "alpha", shape)
        self.built = True

    def call(self, inputs):
        positive = ops.relu(inputs)
        negative = ops.multiply(ops.negative(self.alpha), ops.relu(ops.negative(inputs)))
        return ops.add(positive, negative)

    def get_config(self):
        config = super().get_config()
        config.update({**self._weight_config("alpha"), "shared_axes": self.shared_axes})
        return config


class ELU(Layer):
    """Exponential linear unit: ``x`` if positive, else ``alpha * (exp(x) - 1)``.

    Example:
        >>> kbridge.layers.ELU(alpha=1.0)(np.array([-1.0, 2.0]))
    """

    _config_attrs = ("alpha",)

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.supports_masking = True

    def call(self, inputs):
        return ops.elu(inputs, alpha=self.alpha)


class Softmax(Layer):
    """Softmax along ``axis``; masked positions (``mask`` False) get probability 0.

    Example:
        >>> kbridge.layers.Softmax()(np.array([[1.0, 2.0, 3.0]]), mask=np.array([[1, 1, 0]], bool))
    """

    _config_attrs = ("axis",)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            if len(mask.shape) > len(inputs.shape):
                raise KbridgeError("Softmax: `mask` must be broadcastable to `inputs`. "
                                   f"Received: inputs.shape={tuple(inputs.shape)}, "
                                   f"mask.shape={tuple(mask.shape)}")
            if ops.dtype(mask) != "bool":
                mask = ops.greater(mask, 0.5)
            # Masked positions get a very negative logit (float16 cannot hold -1e9).
            big = _FLOAT16_NEG if ops.dtype(inputs) == "float16" else -1e9
            inputs = ops.where(mask, inputs, ops.cast(big, ops.dtype(inputs)))
        if isinstance(self.axis, (tuple, list)):
            if len(self.axis) > 1:
                lse = ops.logsumexp(inputs, axis=tuple(self.axis), keepdims=True)
                return ops.exp(ops.subtract(inputs, lse))
            return ops.softmax(inputs, axis=self.axis[0])
        return ops.softmax(inputs, axis=self.axis)
