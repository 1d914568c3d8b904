"""Normalisation layers: batch, layer, group, unit (L2) and RMS normalisation."""

from kbridge import backend, initializers, ops
from kbridge.backend.common import config as backend_config
from kbridge.layers.convolution import LayerArgumentError
from kbridge.layers.layer import InputSpec, Layer
from kbridge.saving import registry

__all__ = [
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "RMSNormalization",
]


class _AffineNorm(Layer):
    """Shared gamma/beta arguments of the normalisations with a learned scale and offset."""

    def __init__(self, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.center = bool(center)
        self.scale = bool(scale)
        self._set_weight_args("beta", beta_initializer, beta_regularizer, beta_constraint)
        self._set_weight_args("gamma", gamma_initializer, gamma_regularizer, gamma_constraint)
        self.supports_masking = True

    def _add_affine(self, name, shape):
        """The ``gamma`` or ``beta`` weight, kept in its own dtype (no autocast)."""
        return self._add_weight_from(name, name, shape, autocast=False)

    def get_config(self):
        config = super().get_config()
        config.update({
            "center": self.center,
            "scale": self.scale,
            **self._weight_config("beta", "gamma"),
        })
        return config


def _int_or_int_list(axis):
    """``axis`` as an int, or a list of ints when given a list or tuple."""
    if isinstance(axis, (list, tuple)):
        return [int(a) for a in axis]
    if isinstance(axis, int):
        return axis
    raise LayerArgumentError(f"`axis` must be an int or a list of ints. Received: axis={axis!r}")


def _check_axis(axis, ndim):
    for a in (axis if isinstance(axis, (list, tuple)) else [axis]):
        if not -ndim <= a < ndim:
            raise LayerArgumentError(f"Axis {a} is out of bounds for an input of rank {ndim}. "
                               f"Received: axis={axis}")


class BatchNormalization(_AffineNorm):
    """Normalise with batch statistics when training, with moving averages otherwise.

    The moving mean/variance move towards the batch statistics (``new = old * momentum +
    batch * (1 - momentum)``) only in calls with ``training=True`` on a trainable layer.
    Weights, in order: gamma, beta, moving_mean, moving_variance.

    Example:
        >>> bn = kbridge.layers.BatchNormalization()
        >>> y = bn(np.random.rand(8, 4).astype("float32"), training=True)
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, **kwargs):
        super().__init__(center=center, scale=scale, beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                         gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                         gamma_constraint=gamma_constraint, **kwargs)
        if renorm:
            raise LayerArgumentError("BatchNormalization(renorm=True) is not supported by kbridge. "
                               "Received: renorm=True")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        # Cross-replica statistics need a distribution strategy; on one device they equal the
        # local statistics, so the flag is kept for configs and otherwise ignored.
        self.synchronized = bool(synchronized)
        self.renorm = False
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = renorm_momentum

    def build(self, input_shape):
        _check_axis(self.axis, len(input_shape))
        shape = (input_shape[self.axis],)
        self.gamma = self._add_affine("gamma", shape) if self.scale else None
        self.beta = self._add_affine("beta", shape) if self.center else None
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape,
                                           initializer=self.moving_mean_initializer,
                                           trainable=False, autocast=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=shape,
                                               initializer=self.moving_variance_initializer,
                                               trainable=False, autocast=False)
        self.input_spec = InputSpec(ndim=len(input_shape),
                                    axes={self.axis: input_shape[self.axis]})
        axis = self.axis % len(input_shape)
        self._reduction_axes = [a for a in range(len(input_shape)) if a != axis]
        self.built = True

    def call(self, inputs, training=None, mask=None):
        if mask is not None and len(mask.shape) != len(inputs.shape) - 1:
            raise LayerArgumentError("The mask must have one dimension less than the inputs. "
                               f"Received: mask.shape={tuple(mask.shape)}, "
                               f"inputs.shape={tuple(inputs.shape)}")
        input_dtype = ops.dtype(inputs)
        # Statistics in at least float32, as Keras does, so float16 inputs stay accurate.
        compute_dtype = backend.result_type(input_dtype, "float32")
        x = ops.cast(inputs, compute_dtype)
        gamma = None if self.gamma is None else ops.cast(self.gamma, compute_dtype)
        beta = None if self.beta is None else ops.cast(self.beta, compute_dtype)
        if training and self.trainable:
            mean, variance = self._moments(x, mask)
            m = self.momentum
            moving_mean = ops.cast(self.moving_mean, compute_dtype)
            moving_variance = ops.cast(self.moving_variance, compute_dtype)
            self.moving_mean.assign(ops.add(ops.multiply(moving_mean, m),
                                            ops.multiply(mean, 1.0 - m)))
            self.moving_variance.assign(ops.add(ops.multiply(moving_variance, m),
                                                ops.multiply(variance, 1.0 - m)))
        else:
            mean = ops.cast(self.moving_mean, compute_dtype)
            variance = ops.cast(self.moving_variance, compute_dtype)
        outputs = ops.batch_normalization(x, mean, variance, axis=self.axis, offset=beta,
                                          scale=gamma, epsilon=self.epsilon)
        return ops.cast(outputs, self.compute_dtype)

    def _moments(self, x, mask):
        if mask is None:
            return ops.moments(x, axes=self._reduction_axes)
        # Masked positions neither count towards the mean nor the variance.
        weights = ops.broadcast_to(ops.expand_dims(ops.cast(mask, "bool"), -1), ops.shape(x))
        zeros = ops.zeros_like(x)
        count = ops.add(ops.sum(ops.cast(weights, ops.dtype(x)), self._reduction_axes,
                                keepdims=True), backend_config.epsilon())
        mean = ops.divide(ops.sum(ops.where(weights, x, zeros), self._reduction_axes,
                                  keepdims=True), count)
        diff = ops.where(weights, ops.subtract(x, mean), zeros)
        variance = ops.divide(ops.sum(ops.square(diff), self._reduction_axes, keepdims=True),
                              count)
        channels = (ops.shape(x)[self.axis],)
        return ops.reshape(mean, channels), ops.reshape(variance, channels)

    def get_config(self):
        config = super().get_config()
        config.update({
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "moving_mean_initializer": registry.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": registry.serialize(self.moving_variance_initializer),
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        })
        return config


class LayerNormalization(_AffineNorm):
    """Normalise each example over ``axis`` (the features), then scale by gamma, add beta.

    ``rms_scaling=True`` is Keras's deprecated variant (divide by the standard deviation,
    no centring); use :class:`RMSNormalization` for true RMS normalisation.

    Example:
        >>> kbridge.layers.LayerNormalization()(np.random.rand(2, 5).astype("float32")).shape
        (2, 5)
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 rms_scaling=False, **kwargs):
        super().__init__(center=center, scale=scale, beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                         gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                         gamma_constraint=gamma_constraint, **kwargs)
        self.axis = _int_or_int_list(axis)
        self.epsilon = float(epsilon)
        self.rms_scaling = bool(rms_scaling)

    def build(self, input_shape):
        _check_axis(self.axis, len(input_shape))
        # As in Keras, the axis becomes a sorted list once built (and so in the config).
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        shape = tuple(input_shape[a] for a in self.axis)
        self.gamma = (self._add_affine("gamma", shape) if self.scale or self.rms_scaling
                      else None)
        self.beta = (self._add_affine("beta", shape) if self.center and not self.rms_scaling
                     else None)
        self.built = True

    def call(self, inputs):
        outputs = ops.layer_normalization(inputs, self.gamma, self.beta, self.axis,
                                          self.epsilon, rms_scaling=self.rms_scaling)
        return ops.cast(outputs, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon,
                       "rms_scaling": self.rms_scaling})
        return config


class GroupNormalization(_AffineNorm):
    """Normalise each example over groups of channels (``groups=-1``: instance norm).

    Example:
        >>> kbridge.layers.GroupNormalization(groups=2)(np.random.rand(2, 4, 6)).shape
        (2, 4, 6)
    """

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        if not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise LayerArgumentError("`groups` must be a positive int, or -1 for instance "
                               f"normalisation. Received: groups={groups!r}")
        super().__init__(center=center, scale=scale, beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                         gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                         gamma_constraint=gamma_constraint, **kwargs)
        self.autocast = False
        self.groups = groups
        self.axis = int(axis)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        _check_axis(self.axis, len(input_shape))
        dim = input_shape[self.axis]
        if dim is None:
            raise LayerArgumentError(f"Axis {self.axis} of the input must have a known size. "
                               f"Received: input_shape={tuple(input_shape)}")
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups or dim % self.groups:
            raise LayerArgumentError(f"The number of channels ({dim}) must be a multiple of `groups` "
                               f"and at least `groups`. Received: groups={self.groups}")
        self.input_spec = InputSpec(ndim=len(input_shape), axes={self.axis: dim})
        self.gamma = self._add_affine("gamma", (dim,)) if self.scale else None
        self.beta = self._add_affine("beta", (dim,)) if self.center else None
        self.built = True

    def call(self, inputs):
        input_dtype = ops.dtype(inputs)
        x = ops.cast(inputs, backend.result_type(input_dtype, "float32"))
        ndim = len(inputs.shape)
        axis = self.axis % ndim
        shape = ops.shape(inputs)
        dim = inputs.shape[axis]
        # (..., C, ...) -> (..., groups, C // groups, ...): statistics per example and group.
        group_shape = [-1] + [shape[i] for i in range(1, ndim)]
        group_shape[axis:axis + 1] = [self.groups, dim // self.groups]
        grouped = ops.reshape(x, group_shape)
        reduce_axes = [a for a in range(1, ndim + 1) if a != axis]
        mean, variance = ops.moments(grouped, axes=reduce_axes, keepdims=True)
        inv = ops.rsqrt(ops.add(variance, self.epsilon))
        broadcast = [1] * (ndim + 1)
        broadcast[axis:axis + 2] = [self.groups, dim // self.groups]
        if self.gamma is not None:
            inv = ops.multiply(inv, ops.cast(ops.reshape(self.gamma, broadcast), ops.dtype(x)))
        offset = ops.negative(ops.multiply(mean, inv))
        if self.beta is not None:
            offset = ops.add(offset, ops.cast(ops.reshape(self.beta, broadcast), ops.dtype(x)))
        outputs = ops.add(ops.multiply(grouped, inv), offset)
        outputs = ops.reshape(outputs, shape)
        return ops.cast(outputs, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "axis": self.axis, "epsilon": self.epsilon})
        return config


class UnitNormalization(Layer):
    """Scale each example to unit L2 norm over ``axis``.

    Example:
        >>> kbridge.layers.UnitNormalization()(np.array([[3.0, 4.0]]))   # [[0.6, 0.8]]
    """

    _config_attrs = ("axis",)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _int_or_int_list(axis)
        self.supports_masking = True

    def call(self, inputs):
        return ops.normalize(inputs, axis=self.axis, order=2, epsilon=1e-12)


class RMSNormalization(Layer):
    """Divide by the root mean square over ``axis``, then multiply by a learned ``scale``.

    Example:
        >>> kbridge.layers.RMSNormalization()(np.random.rand(2, 8).astype("float32")).shape
        (2, 8)
    """

    _config_attrs = ("axis", "epsilon")

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon

    def build(self, input_shape):
        _check_axis(self.axis, len(input_shape))
        if isinstance(self.axis, (list, tuple)):
            self.axis = sorted(self.axis)
            shape = tuple(input_shape[a] for a in self.axis)
        else:
            shape = (input_shape[self.axis],)
            self.axis = [self.axis]
        self.scale = self.add_weight(name="scale", shape=shape, initializer="ones")
        self.built = True

    def call(self, x):
        return ops.rms_normalization(x, scale=self.scale, axis=self.axis, epsilon=self.epsilon)
