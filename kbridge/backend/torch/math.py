"""torch backend: math ops (special functions, segment reductions, FFTs, STFT)."""

import numpy as np
import torch

from kbridge.backend.common.dtypes import floatx
from kbridge.backend.numpy.math import (
    check_stft_args, complex_pair, overlap_add_count, stft_window)
from kbridge.backend.torch.core import convert_to_tensor, to_torch_dtype
from kbridge.errors import ArgumentError, ShapeError


def _as_float(x):
    x = convert_to_tensor(x)
    if x.is_floating_point() or x.is_complex():
        return x
    return x.to(to_torch_dtype(floatx()))


def erf(x):
    return torch.special.erf(_as_float(x))


def erfc(x):
    return torch.special.erfc(_as_float(x))


def erfinv(x):
    return torch.special.erfinv(_as_float(x))


def rsqrt(x):
    return torch.rsqrt(_as_float(x))


def _dims(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def logsumexp(x, axis=None, keepdims=False):
    x = _as_float(x)
    return torch.logsumexp(x, dim=_dims(axis, x.ndim), keepdim=keepdims)


def top_k(x, k, sorted=True):
    values, indices = torch.topk(convert_to_tensor(x), k, dim=-1, largest=True, sorted=True)
    return values, indices.to(torch.int32)


def in_top_k(targets, predictions, k):
    predictions = convert_to_tensor(predictions)
    targets = convert_to_tensor(targets).long()
    target_values = torch.take_along_dim(predictions, targets[:, None], dim=-1)[:, 0]
    kth = torch.topk(predictions, k, dim=-1).values[:, k - 1]
    return torch.logical_and(target_values >= kth, torch.isfinite(target_values))


def _fill_value(dtype, kind):
    if kind == "sum":
        return 0
    if kind == "prod":
        return 1
    if dtype == torch.bool:
        return kind == "amin"
    info = torch.finfo(dtype) if dtype.is_floating_point else torch.iinfo(dtype)
    if dtype.is_floating_point:
        return float("-inf") if kind == "amax" else float("inf")
    return info.min if kind == "amax" else info.max


def _segment(kind, data, segment_ids, num_segments):
    data = convert_to_tensor(data)
    segment_ids = convert_to_tensor(segment_ids).long()
    if num_segments is None:
        num_segments = int(segment_ids.max()) + 1 if segment_ids.numel() else 0
    keep = (segment_ids >= 0) & (segment_ids < num_segments)
    if not bool(keep.all()):
        data, segment_ids = data[keep], segment_ids[keep]
    out = torch.full((int(num_segments),) + tuple(data.shape[1:]), _fill_value(data.dtype, kind),
                     dtype=data.dtype, device=data.device)
    index = segment_ids.reshape((-1,) + (1,) * (data.ndim - 1)).expand_as(data)
    return out.scatter_reduce(0, index, data, reduce=kind, include_self=True)


def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    return _segment("sum", data, segment_ids, num_segments)


def segment_max(data, segment_ids, num_segments=None, sorted=False):
    return _segment("amax", data, segment_ids, num_segments)


def segment_min(data, segment_ids, num_segments=None, sorted=False):
    return _segment("amin", data, segment_ids, num_segments)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    return _segment("prod", data, segment_ids, num_segments)


def extract_sequences(x, sequence_length, sequence_stride):
    x = convert_to_tensor(x)
    if x.shape[-1] < sequence_length:
        return x.new_zeros(tuple(x.shape[:-1]) + (0, sequence_length))
    return x.unfold(-1, sequence_length, sequence_stride)


def cdist(x, y):
    x, y = _as_float(x), _as_float(y)
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1]:
        raise ShapeError(
            "`cdist` expects inputs of rank >= 2 with the same last dimension. "
            f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    dtype = torch.promote_types(x.dtype, y.dtype)
    diff = x[..., :, None, :].to(dtype) - y[..., None, :, :].to(dtype)
    return torch.sqrt(torch.sum(diff * diff, dim=-1))


def logdet(x):
    return torch.linalg.slogdet(_as_float(x))[1]


def _to_complex(x):
    real, imag = complex_pair(x)
    real, imag = convert_to_tensor(real), convert_to_tensor(imag)
    dtype = real.dtype
    compute = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    return torch.complex(real.to(compute), imag.to(compute)), dtype


def _split(z, dtype):
    return z.real.to(dtype), z.imag.to(dtype)


def fft(x):
    z, dtype = _to_complex(x)
    return _split(torch.fft.fft(z, dim=-1), dtype)


def fft2(x):
    z, dtype = _to_complex(x)
    return _split(torch.fft.fft2(z, dim=(-2, -1)), dtype)


def ifft2(x):
    z, dtype = _to_complex(x)
    return _split(torch.fft.ifft2(z, dim=(-2, -1)), dtype)


def rfft(x, fft_length=None):
    x = _as_float(x)
    return _split(torch.fft.rfft(x, n=fft_length, dim=-1), x.dtype)


def irfft(x, fft_length=None):
    z, dtype = _to_complex(x)
    return torch.fft.irfft(z, n=fft_length, dim=-1).to(dtype)


def view_as_complex(x):
    x = _as_float(x)
    if tuple(x.shape[-1:]) != (2,):
        raise ShapeError(f"`view_as_complex` expects a last dimension of size 2. "
                         f"Received: x.shape={tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    return torch.complex(x[..., 0], x[..., 1])


def view_as_real(x):
    x = convert_to_tensor(x)
    if not x.is_complex():
        raise ArgumentError(f"`view_as_real` expects a complex tensor. Received dtype {x.dtype}")
    return torch.stack([x.real, x.imag], dim=-1)


def _reflect_pad(x, pad):
    n = x.shape[-1]
    index = np.concatenate([np.arange(pad, 0, -1), np.arange(n), np.arange(n - 2, n - 2 - pad, -1)])
    return x[..., torch.from_numpy(index).to(x.device)]


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    check_stft_args(sequence_length, fft_length)
    x = _as_float(x)
    dtype = x.dtype
    if center:
        x = _reflect_pad(x, fft_length // 2)
    frames = extract_sequences(x, fft_length, sequence_stride)
    win = stft_window(window, sequence_length, fft_length, dtype)
    if win is not None:
        frames = frames * torch.as_tensor(win, dtype=dtype, device=x.device)
    return _split(torch.fft.rfft(frames, n=fft_length, dim=-1), dtype)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    check_stft_args(sequence_length, fft_length)
    z, dtype = _to_complex(x)
    frames = torch.fft.irfft(z, n=fft_length, dim=-1)
    win = stft_window(window, sequence_length, fft_length, dtype)
    if win is not None:
        frames = frames * torch.as_tensor(win, dtype=frames.dtype, device=frames.device)
    num_frames = frames.shape[-2]
    total = fft_length + sequence_stride * (num_frames - 1)
    index = (np.arange(num_frames)[:, None] * sequence_stride + np.arange(fft_length)[None, :])
    index = torch.from_numpy(index.reshape(-1)).to(frames.device)
    out = frames.new_zeros(tuple(frames.shape[:-2]) + (total,))
    out = out.index_add(-1, index, frames.reshape(tuple(frames.shape[:-2]) + (-1,)))
    norm = overlap_add_count(num_frames, fft_length, sequence_stride, win)
    if win is None:
        norm = norm * (sequence_stride / fft_length)
    out = out / torch.as_tensor(norm, dtype=out.dtype, device=out.device)
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    elif center:
        end = total - fft_length // 2
    else:
        end = total
    return out[..., start:end].to(dtype)
