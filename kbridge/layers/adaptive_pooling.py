"""Adaptive pooling: pool any spatial size down to a fixed ``output_size``.

Output position ``i`` of an axis of length ``L`` pooled to ``n`` covers the input window
``[floor(i * L / n), ceil((i + 1) * L / n))``, as PyTorch's ``adaptive_avg_pool`` and Keras 3
(``kbridge.ops.adaptive_average_pool`` / ``adaptive_max_pool``).
"""

from kbridge import ops
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import ArgumentError
from kbridge.layers.convolution import normalize_data_format
from kbridge.layers.layer import InputSpec, Layer

__all__ = [
    "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
    "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
]


class _AdaptivePooling(Layer):
    _rank = None
    _op = None
    _config_attrs = ("output_size", "data_format")

    def __init__(self, output_size, data_format=None, **kwargs):
        rank = self._rank
        if isinstance(output_size, int) and not isinstance(output_size, bool):
            size = (output_size,) * rank
        elif isinstance(output_size, (tuple, list)) and len(output_size) == rank and all(
                isinstance(s, int) for s in output_size):
            size = tuple(output_size)
        else:
            raise ArgumentError(f"`output_size` must be an int or a tuple of {rank} ints. "
                                f"Received: output_size={output_size!r}")
        if any(s < 1 for s in size):
            raise ArgumentError("`output_size` values must be >= 1. "
                                f"Received: output_size={output_size!r}")
        super().__init__(**kwargs)
        self.output_size = size
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=rank + 2)

    def call(self, inputs):
        return getattr(ops, self._op)(inputs, output_size=self.output_size,
                                      data_format=self.data_format)

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        if self.data_format == "channels_last":
            out = (shape[0],) + self.output_size + (shape[-1],)
        else:
            out = (shape[0], shape[1]) + self.output_size
        dtype = inputs.dtype if self._op == "adaptive_max_pool" else self.compute_dtype
        return KerasTensor(out, dtype)

    def compute_output_shape(self, input_shape):
        return self.compute_output_spec(KerasTensor(tuple(input_shape), "float32")).shape


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """Averages ``(batch, steps, channels)`` inputs down to ``output_size`` steps.

    Example:
        >>> kbridge.layers.AdaptiveAveragePooling1D(4)(np.ones((2, 10, 3), "float32")).shape
        (2, 4, 3)
    """

    _rank, _op = 1, "adaptive_average_pool"


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """Averages images down to ``output_size`` (an int or ``(height, width)``).

    Example:
        >>> kbridge.layers.AdaptiveAveragePooling2D((2, 3))(np.ones((1, 7, 9, 3), "float32"))
    """

    _rank, _op = 2, "adaptive_average_pool"


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """Averages volumes down to ``output_size`` (an int or ``(depth, height, width)``).

    Example:
        >>> kbridge.layers.AdaptiveAveragePooling3D(2)(np.ones((1, 5, 5, 5, 2), "float32"))
    """

    _rank, _op = 3, "adaptive_average_pool"


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """Max-pools ``(batch, steps, channels)`` inputs down to ``output_size`` steps.

    Example:
        >>> kbridge.layers.AdaptiveMaxPooling1D(4)(np.ones((2, 10, 3), "float32")).shape
        (2, 4, 3)
    """

    _rank, _op = 1, "adaptive_max_pool"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """Max-pools images down to ``output_size`` (an int or ``(height, width)``).

    Example:
        >>> kbridge.layers.AdaptiveMaxPooling2D(2)(np.ones((1, 7, 9, 3), "float32")).shape
        (1, 2, 2, 3)
    """

    _rank, _op = 2, "adaptive_max_pool"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    """Max-pools volumes down to ``output_size`` (an int or ``(depth, height, width)``).

    Example:
        >>> kbridge.layers.AdaptiveMaxPooling3D(2)(np.ones((1, 5, 5, 5, 2), "float32"))
    """

    _rank, _op = 3, "adaptive_max_pool"
