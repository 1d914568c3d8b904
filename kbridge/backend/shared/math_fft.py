"""The FFT ops, the same over ``numpy.fft``, ``jax.numpy.fft`` and ``torch.fft`` (same names,
same positional arguments, same default axes).

Bindings: ``fft_module`` (one of those three). The includer defines ``_as_float(x)`` and
``_to_complex(pair)`` (``(complex tensor, real dtype)``).
"""

from kbridge.backend.common.shared import bound

fft_module = bound("fft_module")


def _split(z, dtype):
    return ops.cast(z.real, dtype), ops.cast(z.imag, dtype)


def _irfft(z, n):
    return fft_module.irfft(z, n)


def fft(x):
    z, dtype = _to_complex(x)
    return _split(fft_module.fft(z), dtype)


def fft2(x):
    z, dtype = _to_complex(x)
    return _split(fft_module.fft2(z), dtype)


def ifft2(x):
    z, dtype = _to_complex(x)
    return _split(fft_module.ifft2(z), dtype)


def rfft(x, fft_length=None):
    x = _as_float(x)
    return _split(fft_module.rfft(x, fft_length), x.dtype)


def irfft(x, fft_length=None):
    z, dtype = _to_complex(x)
    return ops.cast(_irfft(z, fft_length), dtype)
