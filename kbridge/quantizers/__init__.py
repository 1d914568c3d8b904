"""``kbridge.quantizers``: Keras 3's quantization helpers (abs-max int8/int4, int4 packing,
float8 scaling) in ``kbridge.ops`` terms, so they run on every backend.

The convention is Keras's: a *scale* multiplies the float value into the integer range,
``q = round(x * scale)``, and ``x ≈ q / scale``.

Example:
    >>> q, scale = kbridge.quantizers.abs_max_quantize(np.array([[0.5, -1.0]]), axis=-1)
    >>> q            # int8 [[64, -127]]
    >>> q / scale    # ≈ [[0.504, -1.0]]
"""

import math

import numpy as np

from kbridge import ops
from kbridge.errors import ArgumentError

__all__ = ["AbsMaxQuantizer", "Float8QuantizationConfig", "Int4QuantizationConfig",
           "Int8QuantizationConfig", "QuantizationConfig", "Quantizer", "abs_max_quantize",
           "abs_max_quantize_streamed",
           "compute_float8_amax_history", "compute_float8_scale", "deserialize", "get",
           "pack_int4", "quantize_and_dequantize", "serialize", "unpack_int4"]

EPSILON = 1e-7  # Keras's backend.epsilon()
QUANTIZATION_MODES = ("int8", "int4", "float8")


def _check_mode(mode, allowed=QUANTIZATION_MODES):
    if mode not in allowed:
        raise ArgumentError(f"Quantization mode must be one of {list(allowed)}. "
                            f"Received: mode={mode!r}")
    return mode


def abs_max_quantize(inputs, axis, value_range=(-127, 127), dtype="int8", epsilon=EPSILON,
                     to_numpy=False):
    """``(quantized, scale)``: ``scale = value_range[1] / (max|inputs| over axis + eps)``
    (kept dims), ``quantized = clip(round(inputs * scale))`` cast to ``dtype``.

    With ``to_numpy`` the work is done in numpy (host memory) and numpy arrays come back.

    Example:
        >>> q, s = abs_max_quantize(np.array([[1.0, -2.0], [4.0, 0.5]]), axis=0)
        >>> s.shape
        (1, 2)
    """
    if to_numpy:
        x = np.asarray(ops.convert_to_numpy(inputs) if not isinstance(inputs, np.ndarray)
                       else inputs)
        x32 = x.astype(np.float32) if x.dtype.kind != "f" else x
        scale = np.divide(np.float32(value_range[1]),
                          _abs_max_in_blocks(x32, axis) + np.float32(epsilon))
        q = _scale_round_clip_in_blocks(x32, scale, value_range, dtype)
        return q, scale.astype(x32.dtype)
    x = ops.convert_to_tensor(inputs)
    scale = ops.divide(value_range[1], ops.add(ops.max(ops.abs(x), axis=axis, keepdims=True),
                                               epsilon))
    scale = ops.cast(scale, ops.dtype(x))
    q = ops.clip(ops.round(ops.multiply(x, scale)), value_range[0], value_range[1])
    return ops.cast(q, dtype), scale


# Host-side quantization works through the first axis in blocks of about this many
# elements, so quantizing a weight costs a few MiB of temporaries, not several copies of it
# (a load that quantizes while it streams then holds little more than the int8 weights).
_BLOCK = 1 << 20


def _row_blocks(x):
    rows = max(1, _BLOCK // max(1, x[0].size)) if x.ndim else 1
    return [slice(i, i + rows) for i in range(0, x.shape[0] if x.ndim else 1, rows)]


def _abs_max_in_blocks(x, axis):
    """``np.max(np.abs(x), axis, keepdims=True)`` without a full-size ``abs`` temporary."""
    if x.ndim == 0 or x.size == 0:
        return np.max(np.abs(x), axis=axis, keepdims=True)
    axes = {a % x.ndim for a in ((axis,) if np.ndim(axis) == 0 else axis)} if axis is not None \
        else set(range(x.ndim))
    parts = [np.max(np.abs(x[rows]), axis=axis, keepdims=True) for rows in _row_blocks(x)]
    if 0 in axes:  # the blocks' maxima are partial: the largest of them
        return np.maximum.reduce(parts) if len(parts) > 1 else parts[0]
    return np.concatenate(parts, axis=0)


def _scale_round_clip_in_blocks(x, scale, value_range, dtype):
    """``clip(round(x * scale))`` cast to ``dtype``, a block of rows at a time."""
    if x.ndim == 0 or x.size == 0:
        return np.clip(np.round(x * scale), value_range[0], value_range[1]).astype(dtype)
    out = np.empty(np.broadcast_shapes(x.shape, scale.shape), dtype)
    for rows in _row_blocks(x):
        block = x[rows] * (scale if scale.shape[0] == 1 else scale[rows])
        np.round(block, out=block)
        np.clip(block, value_range[0], value_range[1], out=block)
        out[rows] = block
    return out


def abs_max_quantize_streamed(read_flat, source_shape, transposed, shape, axis,
                              value_range=(-127, 127), dtype="int8", epsilon=EPSILON):
    """``abs_max_quantize(w, axis, to_numpy=True)`` of a weight ``w`` that is never read
    whole, but a block of its source at a time: ``(quantized, flat scale)``, or None when the
    layout does not allow it.

    Args:
        read_flat: ``read_flat(start, stop)`` returns elements ``start:stop`` (C order) of the
            source as a float array.
        source_shape: the source's shape; ``w`` is the source reshaped to ``shape``, or, with
            ``transposed``, the transpose of the 2-D source reshaped to ``shape``.
        axis: the axes of ``w`` reduced for the scale: a leading or a trailing group.

    The results are those of the in-memory computation, bit for bit. When every scale is
    complete within a block (a scale per source row), one pass reads the source; otherwise
    (a scale per source column) a first pass finds the maxima and a second one rounds.
    """
    size = math.prod(shape)
    axes = sorted(a % len(shape) for a in ((axis,) if np.ndim(axis) == 0 else axis))
    reduced = math.prod(shape[a] for a in axes)
    if not size or axes not in (list(range(len(axes))),
                                list(range(len(shape) - len(axes), len(shape)))):
        return None
    leading = axes[0] == 0
    if transposed:  # w is the transpose of source (rows, cols), reshaped
        rows, cols = source_shape
        if reduced != (cols if leading else rows):
            return None
        per_row, width = leading, cols  # per source row when w reduces the source's columns
    else:  # w's flat order is the source's: view it as (-1, width)
        per_row = not leading
        width = reduced if per_row else size // reduced
    out = np.empty(shape, dtype)
    out_rows = out.reshape(cols, rows) if transposed else out.reshape(-1, width)
    block = max(1, _BLOCK // width)
    blocks = [(i, min(i + block, size // width)) for i in range(0, size // width, block)]

    def read(i, j):
        return read_flat(i * width, j * width).reshape(j - i, width).astype(np.float32,
                                                                            copy=False)

    def write(i, j, x, scale):
        x *= scale
        np.round(x, out=x)
        np.clip(x, value_range[0], value_range[1], out=x)
        if transposed:
            out_rows[:, i:j] = x.T
        else:
            out_rows[i:j] = x

    high, eps = np.float32(value_range[1]), np.float32(epsilon)
    if per_row:
        scales = []
        for i, j in blocks:
            x = read(i, j)
            scales.append(np.divide(high, np.max(np.abs(x), axis=1, keepdims=True) + eps))
            write(i, j, x, scales[-1])
        return out, np.concatenate(scales).reshape(-1)
    amax = np.zeros((1, width), np.float32)
    for i, j in blocks:
        np.maximum(amax, np.max(np.abs(read(i, j)), axis=0, keepdims=True), out=amax)
    scale = np.divide(high, amax + eps)
    for i, j in blocks:
        write(i, j, read(i, j), scale)
    return out, scale.reshape(-1)


class Quantizer:
    """Base class: ``quantizer(x, axis=None) -> (quantized, scale)``."""

    def __init__(self, output_dtype="int8"):
        self.output_dtype = output_dtype

    def __call__(self, x, axis=None, to_numpy=False):
        raise NotImplementedError(f"{type(self).__name__} does not implement __call__")

    def get_config(self):
        return {"output_dtype": self.output_dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class AbsMaxQuantizer(Quantizer):
    """Symmetric abs-max quantization over ``axis`` (default: the last axis).

    Example:
        >>> q, scale = AbsMaxQuantizer()(np.array([[0.1, -0.2, 0.4]]))
        >>> q            # [[32, -64, 127]]
    """

    def __init__(self, axis=None, value_range=(-127, 127), epsilon=EPSILON, output_dtype="int8"):
        super().__init__(output_dtype)
        self.axis = (axis,) if isinstance(axis, int) else (None if axis is None else tuple(axis))
        self.value_range = tuple(value_range)
        self.epsilon = epsilon
        if output_dtype == "int8" and (value_range[0] < -128 or value_range[1] > 127):
            raise ArgumentError("An int8 quantizer needs value_range within [-128, 127]. "
                                f"Received: value_range={tuple(value_range)}")

    def __call__(self, x, axis=None, to_numpy=False):
        axis = axis if axis is not None else (self.axis if self.axis is not None else -1)
        return abs_max_quantize(x, axis, self.value_range, self.output_dtype, self.epsilon,
                                to_numpy)

    def get_config(self):
        config = {"value_range": list(self.value_range), "epsilon": self.epsilon,
                  "output_dtype": self.output_dtype}
        if self.axis is not None:
            config["axis"] = list(self.axis)
        return config


# --- int4 packing: two signed nibbles per int8 byte (low nibble = even index) ----------------
def pack_int4(arr, axis=0, dtype="int8"):
    """``(packed, packed_shape, orig_len)``: int8 values in [-8, 7] packed two per byte along
    ``axis`` (padded to even length); the low nibble holds the even element, as in Keras.

    Example:
        >>> packed, shape, n = pack_int4(np.array([[-3, 7], [2, -8], [1, 0]], "int8"))
        >>> shape, n
        ((2, 2), 3)
    """
    if dtype not in ("int8", "uint8"):
        raise ArgumentError(f"pack_int4: dtype must be 'int8' or 'uint8'. Received: {dtype!r}")
    a = np.asarray(arr if isinstance(arr, np.ndarray) else ops.convert_to_numpy(arr))
    if a.dtype != np.dtype(dtype):
        raise ArgumentError(f"pack_int4 expects a {dtype} array. Received dtype: {a.dtype}")
    a = np.moveaxis(a, axis, 0)
    n = a.shape[0]
    if n % 2:
        a = np.concatenate([a, np.zeros((1,) + a.shape[1:], a.dtype)], axis=0)
    u = a.astype(np.uint8) & np.uint8(0x0F)
    packed = (u[0::2] | (u[1::2] << np.uint8(4))).view(np.dtype(dtype))
    packed = np.moveaxis(packed, 0, axis)
    return packed, tuple(packed.shape), n


def unpack_int4(packed, orig_len, axis=0, dtype="int8"):
    """Inverse of :func:`pack_int4` in ``kbridge.ops`` terms (any backend): int8 in [-8, 7]
    (or the raw nibbles [0, 15] with ``dtype="uint8"``) of length ``orig_len`` on ``axis``.

    Example:
        >>> unpack_int4(pack_int4(np.array([-3, 7, 2], "int8"))[0], 3)   # [-3, 7, 2]
    """
    x = ops.convert_to_tensor(packed)
    ndim = len(x.shape)
    axis = axis % ndim
    u = ops.bitwise_and(ops.cast(x, "int32"), 255)
    low, high = ops.bitwise_and(u, 15), ops.right_shift(u, 4)
    if dtype == "int8":
        low = ops.where(low > 7, low - 16, low)
        high = ops.where(high > 7, high - 16, high)
    both = ops.stack([low, high], axis=axis + 1)  # (..., n, 2, ...)
    shape = list(x.shape)
    shape[axis] = 2 * shape[axis]
    out = ops.reshape(both, shape)
    if shape[axis] != orig_len:
        index = [slice(None)] * ndim
        index[axis] = slice(0, orig_len)
        out = out[tuple(index)]
    return ops.cast(out, dtype)


# --- float8 -----------------------------------------------------------------------------
_FLOAT8 = {"float8_e4m3fn": (448.0, 3, -6), "float8_e5m2": (57344.0, 2, -14)}


def _float8_info(dtype):
    if dtype not in _FLOAT8:
        raise ArgumentError(f"float8 dtype must be one of {sorted(_FLOAT8)}. Received: {dtype!r}")
    return _FLOAT8[dtype]


def compute_float8_scale(amax, scale, dtype_max, margin=0):
    """The delayed-scaling update of a float8 ``scale`` from the running ``amax``: where
    ``amax`` is positive and finite the new scale is ``amax * 2**margin / dtype_max``,
    elsewhere the old one."""
    new = ops.divide(ops.multiply(amax, 2.0 ** margin), dtype_max)
    ok = ops.logical_and(ops.greater(amax, 0.0), ops.isfinite(amax))
    return ops.where(ok, new, scale)


def compute_float8_amax_history(x, amax_history):
    """``amax_history`` rolled by one with ``max|x|`` written first."""
    amax = ops.cast(ops.max(ops.abs(x)), ops.dtype(amax_history))
    rolled = ops.roll(amax_history, shift=-1)
    return ops.concatenate([ops.reshape(amax, (1,)), rolled[1:]], axis=0)


def _round_to_float8(x, dtype):
    """``x`` rounded to the nearest value of the float8 ``dtype`` (round-half-even), in
    float32: the same numbers a cast to float8 and back gives, on backends without float8."""
    fmax, mantissa_bits, min_exp = _float8_info(dtype)
    x = ops.clip(x, -fmax, fmax)
    magnitude = ops.maximum(ops.abs(x), 2.0 ** min_exp)  # subnormals share the smallest step
    exponent = ops.floor(ops.log2(magnitude))
    step = ops.power(2.0, ops.subtract(exponent, float(mantissa_bits)))
    return ops.multiply(ops.round(ops.divide(x, step)), step)


def quantize_and_dequantize(inputs, scale, quantized_dtype, compute_dtype):
    """``inputs / scale`` clipped and rounded to ``quantized_dtype`` (a float8 dtype), then
    multiplied back by ``scale``, in ``compute_dtype`` (Keras's float8 fake quantization).

    Example:
        >>> quantize_and_dequantize(np.array([1.2], "float32"), 1.0, "float8_e4m3fn", "float32")
        [1.25]
    """
    scale = ops.cast(scale, "float32")
    x = _round_to_float8(ops.divide(ops.cast(inputs, "float32"), scale), quantized_dtype)
    return ops.cast(ops.multiply(x, scale), compute_dtype)


# --- configs ---------------------------------------------------------------------------
class QuantizationConfig:
    """Which quantizers a layer's ``quantize(mode, config=...)`` uses.

    ``activation_quantizer=None`` makes int8 weight-only (inputs stay float).
    """

    mode = None

    def __init__(self, weight_quantizer=None, activation_quantizer=None):
        self.weight_quantizer = weight_quantizer
        self.activation_quantizer = activation_quantizer

    def get_config(self):
        return {"weight_quantizer": serialize(self.weight_quantizer),
                "activation_quantizer": serialize(self.activation_quantizer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("weight_quantizer", "activation_quantizer"):
            if isinstance(config.get(key), dict):
                config[key] = deserialize(config[key])
        return cls(**config)


class Int8QuantizationConfig(QuantizationConfig):
    """int8 weights; inputs abs-max quantized per row too unless
    ``activation_quantizer=None`` (Keras's default quantizes them).

    Example:
        >>> layer.quantize("int8", config=Int8QuantizationConfig(activation_quantizer=None))
    """

    mode = "int8"

    def __init__(self, weight_quantizer=None, activation_quantizer="default"):
        if activation_quantizer == "default":
            activation_quantizer = AbsMaxQuantizer()
        super().__init__(weight_quantizer, activation_quantizer)


class Int4QuantizationConfig(QuantizationConfig):
    """int4 weights, one scale per output channel (``block_size=None`` or -1 only)."""

    mode = "int4"

    def __init__(self, weight_quantizer=None, activation_quantizer=None, block_size=None):
        if block_size not in (None, -1):
            raise ArgumentError("kbridge's int4 quantization is per output channel: "
                                f"block_size must be None or -1. Received: {block_size!r}")
        super().__init__(weight_quantizer, activation_quantizer)
        self.block_size = block_size

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


class Float8QuantizationConfig(QuantizationConfig):
    """float8 (delayed scaling) has no quantizers to choose."""

    mode = "float8"

    def __init__(self):
        super().__init__(None, None)

    def get_config(self):
        return {}


_CLASSES = {c.__name__: c for c in (Quantizer, AbsMaxQuantizer, QuantizationConfig,
                                     Int8QuantizationConfig, Int4QuantizationConfig,
                                     Float8QuantizationConfig)}


def serialize(obj):
    """``{"class_name", "config"}`` of a quantizer or config (None stays None)."""
    if obj is None:
        return None
    return {"module": "keras.quantizers", "class_name": type(obj).__name__,
            "config": obj.get_config()}


def deserialize(config):
    """A quantizer or quantization config from :func:`serialize`'s output."""
    if config is None or isinstance(config, (Quantizer, QuantizationConfig)):
        return config
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES:
        raise ArgumentError(f"Expected a serialized quantizer or quantization config (one of "
                            f"{sorted(_CLASSES)}). Received: {str(config)[:120]}")
    return _CLASSES[config["class_name"]].from_config(config.get("config") or {})


def get(identifier):
    """A quantization config from None, a config, or its serialized form."""
    return deserialize(identifier)
