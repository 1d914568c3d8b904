"""``kbridge.initializers``: weight initialisers, identical on every backend for a given seed.

Values are drawn with numpy's generator and then handed to the backend, so a seeded
initializer gives bit-identical weights on numpy, jax, torch and tensorflow. Unseeded
initializers draw from a process-wide generator (seeded by ``kbridge.utils.set_random_seed``).
"""

import math

import numpy as np

from kbridge.backend.common.dtypes import numpy_dtype, standardize_dtype
from kbridge.errors import ArgumentError, KbridgeError
from kbridge.saving import registry

_global_rng = np.random.default_rng()


def set_global_seed(seed):
    """Reseed the generator used by unseeded initializers."""
    global _global_rng
    _global_rng = np.random.default_rng(seed)


class Initializer(registry.Registered):
    """Base class: ``initializer(shape, dtype=None) -> numpy array``."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def clone(self):
        return self.__class__.from_config(self.get_config())


def _cast(values, dtype):
    return np.asarray(values).astype(numpy_dtype(standardize_dtype(dtype)))


class RandomInitializer(Initializer):
    _config_attrs = ("seed",)

    def __init__(self, seed=None):
        if seed is not None and not isinstance(seed, int):
            raise KbridgeError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def rng(self):
        return self._rng if self._rng is not None else _global_rng


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, numpy_dtype(standardize_dtype(dtype)))


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, numpy_dtype(standardize_dtype(dtype)))


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return _cast(np.broadcast_to(np.asarray(self.value), shape), dtype)

    def get_config(self):
        value = self.value
        return {"value": value.tolist() if isinstance(value, np.ndarray) else value}


class Identity(Initializer):
    _config_attrs = ("gain",)

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise KbridgeError(f"Identity initializer needs a 2D shape. Received: shape={shape}")
        return _cast(self.gain * np.eye(*shape), dtype)


class _Normal(RandomInitializer):
    """Base of the normal initializers: ``mean``, ``stddev`` and ``seed``."""

    _config_attrs = ("mean", "stddev", "seed")

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev


class RandomNormal(_Normal):
    def __call__(self, shape, dtype=None):
        return _cast(self.rng().normal(self.mean, self.stddev, size=shape), dtype)


class RandomUniform(RandomInitializer):
    _config_attrs = ("minval", "maxval", "seed")

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        return _cast(self.rng().uniform(self.minval, self.maxval, size=shape), dtype)


def _truncated_normal(rng, mean, stddev, shape):
    """Normal samples redrawn until within two standard deviations of the mean."""
    out = rng.normal(size=shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.normal(size=int(bad.sum()))
        bad = np.abs(out) > 2
    return mean + stddev * out


class TruncatedNormal(_Normal):
    def __call__(self, shape, dtype=None):
        return _cast(_truncated_normal(self.rng(), self.mean, self.stddev, shape), dtype)


def compute_fans(shape, input_axes=None, output_axes=None):
    """(fan_in, fan_out) of a kernel shape, with the receptive field folded in (Keras rule);
    with ``input_axes`` and ``output_axes``, the products of those axes' sizes."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (int(math.prod(shape[a] for a in input_axes)),
                int(math.prod(shape[a] for a in output_axes)))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(RandomInitializer):
    """Samples scaled to ``scale / fan`` variance (the family of Glorot/He/LeCun)."""

    _config_attrs = ("scale", "mode", "distribution", "seed", "input_axes", "output_axes")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        super().__init__(seed)
        if scale <= 0:
            raise KbridgeError(f"`scale` must be positive. Received: scale={scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise KbridgeError("`mode` must be 'fan_in', 'fan_out' or 'fan_avg'. "
                               f"Received: mode={mode!r}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise KbridgeError("`distribution` must be 'truncated_normal', "
                               "'untruncated_normal' or 'uniform'. "
                               f"Received: distribution={distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        # The axes that count as inputs / outputs for the fans (both needed; e.g. for an
        # EinsumDense kernel), instead of the Dense/Conv layout rule.
        self.input_axes, self.output_axes = input_axes, output_axes

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        scale = self.scale / max(1.0, fan)
        rng = self.rng()
        if self.distribution == "truncated_normal":
            # 0.8796... is the stddev of a standard normal truncated to (-2, 2).
            values = _truncated_normal(rng, 0.0, math.sqrt(scale) / 0.87962566103423978, shape)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(scale), size=shape)
        else:
            limit = math.sqrt(3.0 * scale)
            values = rng.uniform(-limit, limit, size=shape)
        return _cast(values, dtype)


def _preset(name, scale, mode, distribution):
    class Preset(VarianceScaling):
        _config_attrs = ("seed", "input_axes", "output_axes")

        def __init__(self, seed=None, input_axes=None, output_axes=None):
            super().__init__(scale=scale, mode=mode, distribution=distribution, seed=seed,
                             input_axes=input_axes, output_axes=output_axes)

    Preset.__name__ = Preset.__qualname__ = name
    Preset.__doc__ = f"VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r})."
    registry.register(Preset)
    return Preset


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    _config_attrs = ("gain", "seed")

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise KbridgeError(f"Orthogonal initializer needs at least 2 dims. Received: {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        flat = self.rng().normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return _cast(self.gain * q.reshape(shape), dtype)


class STFT(Initializer):
    """Kernel of a Conv1D that computes one side of a short-time Fourier transform.

    Called with ``shape=(frame_length, 1, fft_length // 2 + 1)``, it returns
    ``cos(-2 pi t f / fft_length)`` (``side="real"``) or the sine (``side="imag"``) for
    every time step ``t`` and frequency bin ``f``, multiplied by the window and divided by
    its L2 norm (``scaling="density"``) or its L1 norm (``scaling="spectrum"``). Values are
    deterministic, identical to Keras's ``STFT`` initializer.

    Args:
        side: ``"real"`` or ``"imag"``.
        window: a ``scipy.signal.windows`` name (``"hann"``, ``"hamming"``, ...), an array of
            ``frame_length`` values, or None for no window.
        scaling: ``"density"``, ``"spectrum"`` or None.
        periodic: use the periodic (DFT-even) version of a named window.

    Example:
        >>> kernel = kbridge.initializers.STFT("imag", "hann")(shape=(64, 1, 33))
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ArgumentError(f"`side` must be 'real' or 'imag'. Received: side={side!r}")
        if isinstance(window, str):
            _window_values(window, 1, False)  # fails now for an unknown window name
        if scaling not in (None, "density", "spectrum"):
            raise ArgumentError("`scaling` must be None, 'density' or 'spectrum'. "
                               f"Received: scaling={scaling!r}")
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape, dtype=None):
        if len(shape) != 3:
            raise ArgumentError("STFT initializer needs a shape (frame_length, channels, "
                               f"fft_length // 2 + 1). Received: shape={tuple(shape)}")
        out_dtype = numpy_dtype(standardize_dtype(dtype))
        # Computed in the requested precision (float32 for narrower types), as Keras does.
        work = out_dtype if out_dtype in (np.float32, np.float64) else np.dtype("float32")
        frame_length, _, bins = shape
        time = np.arange(frame_length, dtype=work).reshape(frame_length, 1, 1)
        freq = np.arange(bins, dtype=work).reshape(1, 1, bins) / work.type((bins - 1) * 2)
        angle = (work.type(-2) * time) * freq * np.arccos(work.type(-1))
        kernel = np.cos(angle) if self.side == "real" else np.sin(angle)
        if self.window is not None:
            win = self.window
            if isinstance(win, str):
                win = _window_values(win, frame_length, self.periodic)
            win = np.asarray(win).astype(work)
            if win.shape != (frame_length,):
                raise ArgumentError(f"`window` must have shape ({frame_length},) (the "
                                   f"frame_length). Received: window shape={win.shape}")
            win = win.reshape(frame_length, 1, 1)
            scale = work.type(1)
            if self.scaling == "density":
                scale = np.sqrt(np.sum(np.square(win)))
            elif self.scaling == "spectrum":
                scale = np.sum(np.abs(win))
            kernel = kernel * win / scale
        # Keras returns (frame_length, 1, bins) whatever the channel count; the kernel is
        # the same for every input channel, so it is repeated to the requested shape.
        return _cast(np.broadcast_to(kernel, tuple(shape)), dtype)

    def get_config(self):
        window = self.window
        if isinstance(window, np.ndarray):
            window = window.tolist()
        return {"side": self.side, "window": window, "periodic": self.periodic,
                "scaling": self.scaling}


def _window_values(name, length, periodic):
    import scipy.signal

    try:
        return scipy.signal.get_window(name, length, fftbins=periodic)
    except ValueError as e:
        raise ArgumentError(f"Unknown `window` {name!r}: expected a scipy.signal.windows name "
                           f"such as 'hann' or 'hamming' ({e}).") from None


# Keras 3's other public names for the same classes.
IdentityInitializer = Identity
OrthogonalInitializer = Orthogonal
STFTInitializer = STFT
constant, identity, ones, zeros, stft = Constant, Identity, Ones, Zeros, STFT
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_normal, glorot_uniform, he_normal, he_uniform = (GlorotNormal, GlorotUniform, HeNormal,
                                                        HeUniform)
lecun_normal, lecun_uniform = LecunNormal, LecunUniform

_ALIASES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "identity": Identity,
    "random_normal": RandomNormal, "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
    "stft": STFT, "IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal,
    "STFTInitializer": STFT, "normal": RandomNormal, "uniform": RandomUniform, "one": Ones,
    "zero": Zeros,
}


def get(identifier):
    """An initializer from a name ("glorot_uniform"), a config dict, an instance or callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or registry.get_registered_object(identifier)
        if cls is None:
            raise ArgumentError(f"Unknown initializer {identifier!r}. Known: {sorted(_ALIASES)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, (np.ndarray, np.generic)):
        return _from_values(np.asarray(identifier))
    if callable(identifier):
        return identifier
    raise KbridgeError(f"Could not interpret initializer: {identifier!r}")


def _from_values(values):
    """An initializer returning ``values`` (cast), for the shape of ``values`` only."""

    def initialize(shape, dtype=None):
        if tuple(shape) != values.shape:
            raise ArgumentError(f"Expected `shape` to be {values.shape} for an array used as "
                               f"initializer. Received: shape={tuple(shape)}")
        return _cast(values, dtype)

    return initialize


def serialize(initializer):
    return registry.serialize(initializer)


def deserialize(config, custom_objects=None):
    """An initializer from :func:`serialize`'s dict; Keras's alias class names
    ("OrthogonalInitializer", "random_normal", ...) resolve too."""
    if isinstance(config, dict) and config.get("class_name") in _ALIASES and not (
            custom_objects and config["class_name"] in custom_objects):
        config = {**config, "class_name": _ALIASES[config["class_name"]].__name__}
        config.pop("registered_name", None)
    # Initializer names win over other registered classes of the same name (the layer
    # `Identity`), as Keras resolves names within the namespace first.
    own = {cls.__name__: cls for cls in (Initializer, *_ALIASES.values())}
    return registry.deserialize(config, custom_objects={**own, **(custom_objects or {})})
