"""math ops: special functions, segment reductions, top-k, FFTs and the STFT."""

from kbridge.backend.common.dispatch import op_decorator
from kbridge.backend.common.keras_tensor import KerasTensor

op = op_decorator("math")


def _segment_spec(data, segment_ids, num_segments=None, sorted=False):
    # Without num_segments the length depends on the values of segment_ids.
    first = None if num_segments is None else int(num_segments)
    return KerasTensor((first,) + tuple(data.shape[1:]), data.dtype)


@op(spec=_segment_spec)
def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    """Sum of the rows of ``data`` that share a segment id; ids < 0 are dropped.

    Example:
        >>> kbridge.ops.segment_sum(np.array([1., 2., 3.]), np.array([0, 0, 1]))  # [3., 3.]
    """


@op(spec=_segment_spec)
def segment_max(data, segment_ids, num_segments=None, sorted=False):
    """Maximum of the rows of ``data`` per segment id (empty segments: the dtype's lowest)."""


@op(spec=_segment_spec)
def segment_min(data, segment_ids, num_segments=None, sorted=False):
    """Minimum of the rows of ``data`` per segment id (empty segments: the dtype's highest)."""


@op(spec=_segment_spec)
def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    """Product of the rows of ``data`` per segment id (empty segments: 1)."""


@op
def top_k(x, k, sorted=True):
    """The ``k`` largest entries along the last axis and their int32 indices, largest first."""


@op
def in_top_k(targets, predictions, k):
    """Whether each ``targets[i]`` is among the ``k`` largest of ``predictions[i]`` (bool)."""


@op
def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow."""


@op
def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of ``sequence_length`` samples every ``sequence_stride`` along the last axis.

    Example:
        >>> kbridge.ops.extract_sequences(np.arange(6.), 3, 2).shape   # (2, 3)
    """


@op
def fft(x):
    """FFT along the last axis of ``x = (real, imag)``; returns ``(real, imag)``."""


@op
def fft2(x):
    """2D FFT over the last two axes of ``x = (real, imag)``; returns ``(real, imag)``."""


@op
def ifft2(x):
    """Inverse 2D FFT over the last two axes of ``x = (real, imag)``; returns ``(real, imag)``."""


@op
def rfft(x, fft_length=None):
    """FFT of the real signal ``x`` along its last axis; returns the ``(real, imag)`` half
    spectrum with ``fft_length // 2 + 1`` bins."""


@op
def irfft(x, fft_length=None):
    """Real signal of length ``fft_length`` whose half spectrum is ``x = (real, imag)``."""


@op
def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Short-time Fourier transform along the last axis; returns ``(real, imag)`` of shape
    ``(..., frames, fft_length // 2 + 1)``.

    ``window`` is 'hann', 'hamming' (periodic), a tensor of ``sequence_length`` or None;
    ``center`` reflect-pads ``fft_length // 2`` samples on both sides first.

    Example:
        >>> re, im = kbridge.ops.stft(np.zeros((2, 100), "float32"), 16, 8, 32)
    """


@op
def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    """Inverse of :func:`stft`: overlap-adds the windowed frames of ``x = (real, imag)``."""


@op
def rsqrt(x):
    """Element-wise ``1 / sqrt(x)``."""


@op
def erf(x):
    """Element-wise error function."""


@op
def erfc(x):
    """Element-wise complementary error function ``1 - erf(x)``."""


@op
def erfinv(x):
    """Element-wise inverse error function (NaN outside [-1, 1])."""


@op
def logdet(x):
    """``log(det(x))`` of (a batch of) positive-definite matrices, via a stable slogdet."""


@op
def cdist(x, y):
    """Euclidean distances between the rows of ``x`` (..., m, d) and ``y`` (..., n, d)."""


@op
def view_as_complex(x):
    """A complex tensor from ``x`` whose last axis (size 2) holds real and imaginary parts."""


@op
def view_as_real(x):
    """A real tensor with a trailing axis of size 2 (real, imag) from the complex ``x``."""
