"""Audio preprocessing: ``MelSpectrogram`` and ``STFTSpectrogram`` (Keras 3 numerics).

``MelSpectrogram`` is ``kbridge.ops.stft`` -> magnitude ** ``mag_exp`` -> an HTK mel filter
bank -> optional decibels. ``STFTSpectrogram`` computes the STFT as a strided 1D convolution
with cosine/sine kernels (the ``kbridge.initializers.STFT`` weights, trainable as in Keras).
"""

import math

import numpy as np

from kbridge import initializers, ops
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import ArgumentError
from kbridge.layers.convolution import normalize_data_format
from kbridge.layers.layer import InputSpec, Layer
from kbridge.layers.preprocessing import _check_choice

__all__ = ["MelSpectrogram", "STFTSpectrogram"]

# The HTK mel scale: mel(f) = 1127 * ln(1 + f / 700).
_MEL_BREAK_HZ = 700.0
_MEL_HIGH_Q = 1127.0


def _hertz_to_mel(hz):
    return _MEL_HIGH_Q * np.log(1.0 + hz / _MEL_BREAK_HZ)


def linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate,
                                lower_edge_hertz, upper_edge_hertz, dtype="float32"):
    """``(num_spectrogram_bins, num_mel_bins)`` triangular filters with peak 1 (numpy), from
    linear frequency bins over ``[0, sampling_rate / 2]``; the DC bin gets no weight."""
    f = np.float32 if dtype == "float32" else np.float64
    linear = np.linspace(f(0.0), f(sampling_rate) / f(2.0), num_spectrogram_bins,
                         dtype=f)[1:]
    bins_mel = _hertz_to_mel(linear)[:, None]
    edges = np.linspace(_hertz_to_mel(f(lower_edge_hertz)), _hertz_to_mel(f(upper_edge_hertz)),
                        num_mel_bins + 2, dtype=f)
    lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    lower_slopes = (bins_mel - lower) / (center - lower)
    upper_slopes = (upper - bins_mel) / (upper - center)
    weights = np.maximum(f(0.0), np.minimum(lower_slopes, upper_slopes)).astype(f)
    return np.pad(weights, [[1, 0], [0, 0]])


class MelSpectrogram(Layer):
    """Mel-scaled power spectrogram of raw audio ``(batch, samples)`` (or ``(samples,)``):
    output ``(batch, num_mel_bins, frames)``, in decibels when ``power_to_db``.

    Example:
        >>> mel = kbridge.layers.MelSpectrogram(fft_length=256, sequence_stride=128,
        ...                                     num_mel_bins=40)
        >>> mel(np.random.rand(2, 16000).astype("float32")).shape
        (2, 40, 126)
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None,
                 window="hann", sampling_rate=16000, num_mel_bins=128, min_freq=20.0,
                 max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10,
                 ref_power=1.0, **kwargs):
        self.fft_length = fft_length
        self.sequence_stride = sequence_stride
        self.sequence_length = sequence_length or fft_length
        if self.fft_length < self.sequence_length:
            raise ArgumentError("`fft_length` must be >= `sequence_length`. Received: "
                                f"sequence_length={self.sequence_length}, "
                                f"fft_length={self.fft_length}")
        if window not in ("hann", "hamming", None) and not hasattr(window, "shape"):
            raise ArgumentError("`window` must be 'hann', 'hamming', None or an array of "
                                f"`sequence_length` values. Received: window={window!r}")
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = power_to_db
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power
        super().__init__(**kwargs)

    def call(self, inputs):
        # stft runs in float32/float64 on every backend
        dtype = self.compute_dtype if self.compute_dtype in ("float32", "float64") \
            else "float32"
        x = ops.cast(inputs, dtype)
        real, imag = ops.stft(x, sequence_length=self.sequence_length,
                              sequence_stride=self.sequence_stride,
                              fft_length=self.fft_length, window=self.window, center=True)
        spec = ops.power(ops.sqrt(ops.square(real) + ops.square(imag)), self.mag_exp)
        matrix = linear_to_mel_weight_matrix(self.num_mel_bins, self.fft_length // 2 + 1,
                                             self.sampling_rate, self.min_freq,
                                             self.max_freq, dtype)
        out = ops.tensordot(spec, ops.convert_to_tensor(matrix), axes=1)
        if self.power_to_db:
            out = self._decibels(out)
        return ops.cast(ops.swapaxes(out, -1, -2), self.compute_dtype)

    def linear_to_mel_weight_matrix(self, num_mel_bins=20, num_spectrogram_bins=129,
                                    sampling_rate=8000, lower_edge_hertz=125.0,
                                    upper_edge_hertz=3800.0, dtype="float32"):
        """The ``(num_spectrogram_bins, num_mel_bins)`` HTK mel filter bank (a tensor)."""
        return ops.convert_to_tensor(linear_to_mel_weight_matrix(
            num_mel_bins, num_spectrogram_bins, sampling_rate, lower_edge_hertz,
            upper_edge_hertz, dtype))

    def _decibels(self, power):
        log_spec = 10.0 * ops.log10(ops.maximum(power, self.min_power))
        ref = max(abs(float(self.ref_power)), self.min_power)
        log_spec = log_spec - 10.0 * math.log10(ref)
        # as Keras: the floor is top_db below the largest value of the whole batch
        return ops.maximum(log_spec, ops.max(log_spec) - self.top_db)

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)

        def frames(n):
            return None if n is None else (n + self.sequence_stride + 1) // self.sequence_stride

        if len(shape) == 1:
            return KerasTensor((self.num_mel_bins, frames(shape[0])), self.compute_dtype)
        return KerasTensor((shape[0], self.num_mel_bins, frames(shape[1])), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return self.compute_output_spec(KerasTensor(tuple(input_shape), "float32")).shape

    def get_config(self):
        window = self.window
        if hasattr(window, "shape"):
            window = np.asarray(ops.convert_to_numpy(window)).tolist()
        return {**super().get_config(), "fft_length": self.fft_length,
                "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": window,
                "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins,
                "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db,
                "mag_exp": self.mag_exp, "min_power": self.min_power,
                "ref_power": self.ref_power}


_STFT_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


class STFTSpectrogram(Layer):
    """STFT of multi-channel signals ``(batch, time, channels)`` as a strided convolution.

    ``mode``: "log" (default), "magnitude", "psd", "real", "imag", "angle" or "stft" (real and
    imaginary parts side by side). Output ``(batch, frames, channels * freqs)``, or
    ``(batch, frames, freqs, channels)`` with ``expand_dims=True`` (channels_last).

    Example:
        >>> stft = kbridge.layers.STFTSpectrogram(frame_length=64, frame_step=32)
        >>> stft(np.random.rand(2, 512, 1).astype("float32")).shape
        (2, 15, 33)
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None,
                 window="hann", periodic=False, scaling="density", padding="valid",
                 expand_dims=False, data_format=None, **kwargs):
        if frame_step is not None and not 1 <= frame_step <= frame_length:
            raise ArgumentError("`frame_step` must be a positive int no greater than "
                                f"`frame_length`. Received: frame_step={frame_step}, "
                                f"frame_length={frame_length}")
        if fft_length is not None and fft_length < frame_length:
            raise ArgumentError("`fft_length` must be >= `frame_length`. Received: "
                                f"fft_length={fft_length}, frame_length={frame_length}")
        _check_choice(mode, _STFT_MODES, "mode")
        _check_choice(scaling, (None, "density", "spectrum"), "scaling")
        _check_choice(padding, ("valid", "same"), "padding")
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = frame_length
        self.frame_step = frame_step
        self._frame_step = frame_step or frame_length // 2
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window = window
        self.periodic = periodic
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = expand_dims
        self.data_format = normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        for side in ("real", "imag"):
            if self.mode != ("imag" if side == "real" else "real"):
                setattr(self, f"{side}_kernel", self.add_weight(
                    name=f"{side}_kernel", shape=shape,
                    initializer=initializers.STFT(side, self.window, self.scaling,
                                                  self.periodic)))
        self.built = True

    def _conv(self, inputs, kernel):
        """(batch, time, channels) -> (batch, channels, freqs, frames), one channel at a
        time through the same (frame_length, 1, freqs) kernel."""
        shape = ops.shape(inputs)
        if self.data_format == "channels_last":
            time, channels = shape[1], shape[2]
            x = ops.reshape(ops.transpose(inputs, (0, 2, 1)), (-1, time, 1))
        else:
            channels, time = shape[1], shape[2]
            x = ops.reshape(inputs, (-1, 1, time))
        out = ops.conv(x, ops.cast(kernel, ops.dtype(x)), strides=self._frame_step,
                       padding=self.padding, data_format=self.data_format)
        if self.data_format == "channels_last":
            out = ops.transpose(out, (0, 2, 1))
        out_shape = ops.shape(out)
        return ops.reshape(out, (-1, channels, out_shape[1], out_shape[2]))

    def _arrange(self, x):
        """(batch, channels, freqs, frames) -> the layer's output layout."""
        shape = ops.shape(x)
        channels, freqs, frames = shape[1], shape[2], shape[3]
        if self.data_format == "channels_last":
            if self.expand_dims:
                return ops.transpose(x, (0, 3, 2, 1))
            return ops.transpose(ops.reshape(x, (-1, channels * freqs, frames)), (0, 2, 1))
        if self.expand_dims:
            return ops.transpose(x, (0, 1, 3, 2))
        return ops.reshape(x, (-1, channels * freqs, frames))

    def call(self, inputs):
        from kbridge import backend

        dtype = ops.dtype(inputs)
        if dtype not in ("float16", "float32", "float64"):
            raise ArgumentError("STFTSpectrogram takes float16, float32 or float64 input. "
                                f"Received: dtype={dtype}")
        real = self._conv(inputs, self.real_kernel) if self.mode != "imag" else None
        imag = self._conv(inputs, self.imag_kernel) if self.mode != "real" else None
        if self.mode == "real":
            return self._arrange(real)
        if self.mode == "imag":
            return self._arrange(imag)
        if self.mode == "angle":
            return self._arrange(ops.arctan2(imag, real))
        if self.mode == "stft":
            return self._arrange(ops.concatenate([real, imag], axis=2))
        power = ops.square(real) + ops.square(imag)
        if self.mode == "psd":
            # one-sided PSD: every bin but DC and Nyquist counts twice
            return self._arrange(power + ops.pad(power[:, :, 1:-1, :],
                                                 [[0, 0], [0, 0], [1, 1], [0, 0]]))
        eps = backend.epsilon()
        magnitude = self._arrange(ops.sqrt(ops.maximum(power, eps)))
        if self.mode == "magnitude":
            return magnitude
        return ops.log(ops.maximum(magnitude, eps))

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        if self.data_format == "channels_last":
            batch, time, channels = shape
        else:
            batch, channels, time = shape
        freqs = self._fft_length // 2 + 1
        if self.mode == "stft":
            freqs *= 2
        if time is None:
            frames = None
        elif self.padding == "same":
            frames = (time + self._frame_step - 1) // self._frame_step
        else:
            frames = (time - self.frame_length) // self._frame_step + 1
        if self.expand_dims:
            out = ((batch, frames, freqs, channels) if self.data_format == "channels_last"
                   else (batch, channels, frames, freqs))
        else:
            width = None if channels is None else channels * freqs
            out = ((batch, frames, width) if self.data_format == "channels_last"
                   else (batch, width, frames))
        return KerasTensor(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return self.compute_output_spec(KerasTensor(tuple(input_shape), "float32")).shape

    def get_config(self):
        window = self.window
        if window is not None and not isinstance(window, str):
            window = np.asarray(ops.convert_to_numpy(window)).tolist()
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length,
                "window": window, "periodic": self.periodic, "scaling": self.scaling,
                "padding": self.padding, "data_format": self.data_format,
                "expand_dims": self.expand_dims}
