"""Random-op helpers shared by every backend: dtype checks and noise shapes.

Bindings: ``native_dtype`` (a dtype name to the framework's dtype).
"""

from kbridge.backend.common.dtypes import floatx, standardize_dtype
from kbridge.backend.common.shared import bound
from kbridge.errors import DTypeError

native_dtype = bound("native_dtype")


def float_dtype(dtype, op):
    """``dtype`` (default floatx) checked to be a float type, as the framework's dtype."""
    name = standardize_dtype(dtype or floatx())
    if not name.startswith(("float", "bfloat")):
        raise DTypeError(f"`{op}` needs a float `dtype`. Received: dtype={name!r}")
    return native_dtype(name)


def output_dtype(dtype):
    """``dtype`` (default floatx) as the framework's dtype."""
    return native_dtype(standardize_dtype(dtype or floatx()))


def concrete_noise_shape(inputs_shape, noise_shape):
    """``noise_shape`` with ``None`` entries replaced by the input's sizes."""
    if noise_shape is None:
        return tuple(inputs_shape)
    return tuple(i if n is None else n for i, n in zip(inputs_shape, noise_shape))


def _shape(shape):
    return tuple(int(d) for d in shape)
