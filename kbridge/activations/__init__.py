"""``kbridge.activations``: Keras 3 activation functions, built on :mod:`kbridge.ops`.

Every function takes a tensor (any backend, numpy, or a KerasTensor) and returns one of the
same backend. ``get`` turns a name, a config or a callable into a function; ``serialize``
gives the name back, so layer configs store activations as plain strings.

Example:
    >>> kbridge.activations.get("relu")(np.array([-1.0, 2.0]))
    array([0., 2.])
"""

from kbridge import ops
from kbridge.errors import KbridgeError
from kbridge.saving import registry


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit with optional leak, ceiling and threshold.

    ``x`` where ``threshold <= x`` (clipped at ``max_value``), else
    ``negative_slope * (x - threshold)``.

    Example:
        >>> relu(np.array([-2.0, 1.0, 8.0]), max_value=6.0)   # [0, 1, 6]
    """
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return ops.leaky_relu(x, negative_slope=negative_slope)
    leak = None
    if negative_slope != 0.0:
        # The part below the threshold, as a positive amount; subtracted at the end.
        leak = ops.relu(ops.subtract(threshold, x)) if threshold != 0.0 else ops.relu(ops.negative(x))
    clip_max = max_value is not None
    if threshold != 0.0:
        # Keep x where it exceeds the threshold, zero elsewhere (not shifted).
        x = ops.multiply(x, ops.cast(ops.greater(x, threshold), ops.dtype(x)))
    elif max_value == 6:
        x = ops.relu6(x)
        clip_max = False
    else:
        x = ops.relu(x)
    if clip_max:
        x = ops.clip(x, 0.0, max_value)
    if leak is not None:
        x = ops.subtract(x, ops.multiply(negative_slope, leak))
    return x


def relu6(x):
    """``min(max(x, 0), 6)``. Example: ``relu6(np.array([7.0]))`` -> ``[6.]``."""
    return ops.relu6(x)


def leaky_relu(x, negative_slope=0.2):
    """``x`` if positive, else ``negative_slope * x``. Example: ``leaky_relu(x, 0.1)``."""
    return ops.leaky_relu(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` if positive, else ``alpha * (exp(x) - 1)``."""
    return ops.elu(x, alpha=alpha)


def selu(x):
    """Scaled ELU with the self-normalising constants. Example: ``selu(x)``."""
    return ops.selu(x)


def celu(x, alpha=1.0):
    """Continuously differentiable ELU. Example: ``celu(x, alpha=0.5)``."""
    return ops.celu(x, alpha=alpha)


def gelu(x, approximate=False):
    """Gaussian error linear unit; exact by default (``approximate=True`` uses tanh)."""
    return ops.gelu(x, approximate=approximate)


def silu(x):
    """``x * sigmoid(x)`` (also named swish). Example: ``silu(x)``."""
    return ops.silu(x)


swish = silu


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``. Example: ``sigmoid(x)``."""
    return ops.sigmoid(x)


def hard_sigmoid(x):
    """Piecewise-linear sigmoid ``relu6(x + 3) / 6``. Example: ``hard_sigmoid(x)``."""
    return ops.hard_sigmoid(x)


def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also named hard_swish). Example: ``hard_silu(x)``."""
    return ops.hard_silu(x)


hard_swish = hard_silu


def hard_tanh(x):
    """``clip(x, -1, 1)``. Example: ``hard_tanh(x)``."""
    return ops.hard_tanh(x)


def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0. Example: ``hard_shrink(x, 0.5)``."""
    return ops.hard_shrink(x, threshold=threshold)


def soft_shrink(x, threshold=0.5):
    """``x`` moved ``threshold`` towards zero, 0 inside ``[-threshold, threshold]``."""
    return ops.soft_shrink(x, threshold=threshold)


def tanh_shrink(x):
    """``x - tanh(x)``. Example: ``tanh_shrink(x)``."""
    return ops.tanh_shrink(x)


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``."""
    return ops.threshold(x, threshold, default_value)


def softmax(x, axis=-1):
    """Normalised exponentials along ``axis`` (an int or a tuple of ints)."""
    return ops.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """Logarithm of :func:`softmax`, computed stably. Example: ``log_softmax(x)``."""
    return ops.log_softmax(x, axis=axis)


def sparsemax(x, axis=-1):
    """Euclidean projection onto the probability simplex along ``axis``."""
    return ops.sparsemax(x, axis=axis)


def softplus(x):
    """``log(1 + exp(x))``. Example: ``softplus(x)``."""
    return ops.softplus(x)


def softsign(x):
    """``x / (1 + |x|)``. Example: ``softsign(x)``."""
    return ops.softsign(x)


def sparse_plus(x):
    """0 below -1, ``x`` above 1, ``(x + 1)^2 / 4`` between. Example: ``sparse_plus(x)``."""
    return ops.sparse_plus(x)


def sparse_sigmoid(x):
    """0 below -1, 1 above 1, ``(x + 1) / 2`` between. Example: ``sparse_sigmoid(x)``."""
    return ops.sparse_sigmoid(x)


def squareplus(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2``. Example: ``squareplus(x, b=4)``."""
    return ops.squareplus(x, b=b)


def tanh(x):
    """Hyperbolic tangent. Example: ``tanh(x)``."""
    return ops.tanh(x)


def exponential(x):
    """``exp(x)``. Example: ``exponential(x)``."""
    return ops.exp(x)


def linear(x):
    """The identity (no activation). Example: ``linear(x) is x``."""
    return x


def mish(x):
    """``x * tanh(softplus(x))``. Example: ``mish(x)``."""
    return ops.multiply(x, ops.tanh(ops.softplus(x)))


def glu(x, axis=-1):
    """Gated linear unit: split ``x`` in two halves along ``axis``, ``a * sigmoid(b)``."""
    return ops.glu(x, axis=axis)


def log_sigmoid(x):
    """``log(sigmoid(x))``, computed stably. Example: ``log_sigmoid(x)``."""
    return ops.log_sigmoid(x)


_BY_NAME = {f.__name__: f for f in (
    relu, relu6, leaky_relu, elu, selu, celu, gelu, silu, sigmoid, hard_sigmoid, hard_silu,
    hard_tanh, hard_shrink, soft_shrink, tanh_shrink, threshold, softmax, log_softmax,
    sparsemax, softplus, softsign, sparse_plus, sparse_sigmoid, squareplus, tanh, exponential,
    linear, mish, glu, log_sigmoid,
)}
for _name, _fn in _BY_NAME.items():
    registry.register(_fn, name=_name)
_ALIASES = {"swish": silu, "hard_swish": hard_silu}
del _name, _fn


def get(identifier):
    """An activation function from a name, a serialised config, a callable, or None (linear).

    Example:
        >>> kbridge.activations.get("swish") is kbridge.activations.silu
        True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier) or _ALIASES.get(identifier)
        if fn is None:
            found = registry.get_registered_object(identifier)
            if found is not None and callable(found):
                return found
            raise KbridgeError(f"Unknown activation {identifier!r}. "
                               f"Known: {sorted(list(_BY_NAME) + list(_ALIASES))}")
        return fn
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise KbridgeError(f"Could not interpret activation: expected a name, a config dict or a "
                       f"callable. Received: {identifier!r}")


def serialize(activation):
    """The name of a built-in activation (``"relu"``); a config for layer-like activations."""
    if activation is None:
        return "linear"
    for table in (_BY_NAME, _ALIASES):
        name = getattr(activation, "__name__", None)
        if name in table and table[name] is activation:
            return name
    if getattr(activation, "__name__", None) in registry._REGISTRY:
        return activation.__name__
    return registry.serialize(activation)


def deserialize(config, custom_objects=None):
    """Inverse of :func:`serialize` (a name, or a registered object's config)."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            return custom_objects[config]
        return get(config)
    return registry.deserialize(config, custom_objects=custom_objects)


__all__ = sorted(list(_BY_NAME) + list(_ALIASES) + ["get", "serialize", "deserialize"])
