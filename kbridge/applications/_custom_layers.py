"""The custom layers of the applications (Keras registers them under the same names).

``ConvNeXt`` uses :class:`LayerScale` and :class:`StochasticDepth`; ``InceptionResNetV2`` uses
:class:`CustomScaleLayer`. Their modules import them privately, so each application module's
public names stay Keras's.
"""

from kbridge.layers.layer import Layer as _Layer
from kbridge.saving import registry as _registry


@_registry.register_kbridge_serializable(package="kbridge.applications")
class CustomScaleLayer(_Layer):
    """``inputs[0] + inputs[1] * scale``: the scaled residual sum of the Inception-ResNet blocks.

    Example:
        >>> CustomScaleLayer(0.1)([x, residual])
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@_registry.register_kbridge_serializable(package="kbridge.applications")
class StochasticDepth(_Layer):
    """Drops the whole residual branch per sample with probability ``drop_path_rate`` in training.

    Example:
        >>> StochasticDepth(0.1)(x, training=True)
    """

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = drop_path_rate

    def call(self, x, training=None):
        if not training or not self.drop_path_rate:
            return x
        from kbridge import ops, random

        keep = 1.0 - self.drop_path_rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        mask = ops.floor(keep + random.uniform(shape, 0, 1, dtype=x.dtype))
        return x / keep * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}


@_registry.register_kbridge_serializable(package="kbridge.applications")
class LayerScale(_Layer):
    """Multiplies the channels by a learned vector ``gamma`` (initialised to ``init_values``).

    Example:
        >>> LayerScale(1e-6, projection_dim=96)(x)
    """

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, input_shape):
        from kbridge.initializers import Constant

        self.gamma = self.add_weight(shape=(self.projection_dim,),
                                     initializer=Constant(self.init_values), trainable=True,
                                     name="gamma")
        self.built = True

    def call(self, x):
        return x * self.gamma

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values,
                "projection_dim": self.projection_dim}
