"""Layer wrappers: the abstract ``Wrapper`` base and ``SpectralNormalization``."""

from kbridge import initializers, ops
from kbridge.backend.common import naming
from kbridge.errors import ArgumentError
from kbridge.layers.layer import InputSpec, Layer, _check_layer
from kbridge.saving import registry

__all__ = ["Wrapper", "SpectralNormalization"]


class Wrapper(Layer):
    """Base class of layers that wrap another layer (``self.layer``) and change how it is
    built or called. Subclasses implement ``call``.

    Example:
        >>> class Twice(kbridge.layers.Wrapper):
        ...     def call(self, x):
        ...         return self.layer(self.layer(x))
    """

    def __init__(self, layer, **kwargs):
        _check_layer(layer)
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None):
        if not self.layer.built:
            with naming.name_scope(self.layer.name):
                self.layer.build(input_shape)
            self.layer.built = True
        self.built = True

    def compute_output_spec(self, *args, **kwargs):
        kwargs.pop("training", None)
        return self.layer.compute_output_spec(*args, **kwargs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "layer": registry.serialize(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = config.pop("layer")
        if not isinstance(layer, Layer):
            layer = registry.deserialize(layer, custom_objects)
        return super().from_config({**config, "layer": layer})


class SpectralNormalization(Wrapper):
    """Divides the wrapped layer's ``kernel`` (or ``embeddings``) by its largest singular
    value, estimated by power iteration (Miyato et al., 2018).

    As in Keras, each ``training=True`` call runs ``power_iterations`` steps from the stored
    vector ``vector_u`` (a non-trainable weight), then writes the updated ``vector_u`` and the
    normalised kernel back into the variables before calling the wrapped layer; inference
    calls use the kernel as stored.

    Example:
        >>> sn = kbridge.layers.SpectralNormalization(kbridge.layers.Dense(8))
        >>> y = sn(np.ones((2, 4), "float32"), training=True)
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if not isinstance(power_iterations, int) or power_iterations <= 0:
            raise ArgumentError("`power_iterations` must be a positive int. "
                                f"Received: power_iterations={power_iterations!r}")
        self.power_iterations = power_iterations

    def build(self, input_shape):
        super().build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        if hasattr(self.layer, "kernel"):
            self.kernel = self.layer.kernel
        elif hasattr(self.layer, "embeddings"):
            self.kernel = self.layer.embeddings
        else:
            raise ArgumentError(f"SpectralNormalization needs a layer with a `kernel` or "
                                f"`embeddings` weight. Received: {type(self.layer).__name__}")
        self.kernel_shape = tuple(self.kernel.shape)
        self.vector_u = self.add_weight(
            shape=(1, self.kernel_shape[-1]), name="vector_u", trainable=False,
            initializer=initializers.TruncatedNormal(stddev=0.02), dtype=self.kernel.dtype)
        self.built = True

    def call(self, inputs, training=False):
        if training:
            kernel = self.kernel.value
            new_u, new_kernel = ops.cond(ops.all(ops.equal(kernel, 0)),
                                         lambda: (self.vector_u.value, kernel),
                                         self.normalized_weights)
            self.vector_u.assign(new_u)
            self.kernel.assign(new_kernel)
        return ops.cast(self.layer(inputs), ops.dtype(inputs))

    def normalized_weights(self):
        """(updated ``vector_u``, kernel divided by its estimated spectral norm)."""
        weights = ops.reshape(self.kernel.value, (-1, self.kernel_shape[-1]))
        u = self.vector_u.value
        for _ in range(self.power_iterations):
            v = ops.normalize(ops.matmul(u, ops.transpose(weights)), axis=None)
            u = ops.normalize(ops.matmul(v, weights), axis=None)
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        sigma = ops.matmul(ops.matmul(v, weights), ops.transpose(u))
        kernel = ops.reshape(ops.divide(self.kernel.value, sigma), self.kernel_shape)
        return ops.cast(u, self.vector_u.dtype), ops.cast(kernel, self.kernel.dtype)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
