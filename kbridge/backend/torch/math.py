"""torch backend: math ops (special functions, segment reductions, FFTs, STFT)."""

import numpy as np
import torch

from kbridge.backend.common.dtypes import floatx
from kbridge.backend.common.shared import include
from kbridge.backend.torch.core import convert_to_tensor, to_torch_dtype


def _as_float(x):
    """``x`` as a float (or complex) tensor: ints and bools become floatx."""
    x = convert_to_tensor(x)
    if x.is_floating_point() or x.is_complex():
        return x
    return x.to(to_torch_dtype(floatx()))


include("math", globals())
include("math_fft", globals(), fft_module=torch.fft)


erf, erfc, erfinv, rsqrt = map(_on_float, (torch.special.erf, torch.special.erfc,
                                            torch.special.erfinv, torch.rsqrt))


def logsumexp(x, axis=None, keepdims=False):
    x = _as_float(x)
    if axis is None:
        axis = tuple(range(x.ndim))
    return torch.logsumexp(x, dim=tuple(axis) if isinstance(axis, list) else axis,
                           keepdim=keepdims)


def top_k(x, k, sorted=True):
    values, indices = torch.topk(convert_to_tensor(x), k, dim=-1, largest=True, sorted=True)
    return values, indices.to(torch.int32)


_REDUCE = {"sum": "sum", "max": "amax", "min": "amin", "prod": "prod"}


def _fill(kind, dtype):
    """The identity of reduction ``kind`` in ``dtype`` (an empty segment's value)."""
    if kind in ("sum", "prod"):
        return int(kind == "prod")
    if dtype == torch.bool:
        return kind == "min"
    if dtype.is_floating_point:
        return float("-inf") if kind == "max" else float("inf")
    return torch.iinfo(dtype).min if kind == "max" else torch.iinfo(dtype).max


def _segment(kind, data, segment_ids, num_segments, sorted):
    data = convert_to_tensor(data)
    segment_ids = convert_to_tensor(segment_ids).long()
    if num_segments is None:
        num_segments = int(segment_ids.max()) + 1 if segment_ids.numel() else 0
    keep = (segment_ids >= 0) & (segment_ids < num_segments)
    if not bool(keep.all()):
        data, segment_ids = data[keep], segment_ids[keep]
    out = torch.full((int(num_segments),) + tuple(data.shape[1:]), _fill(kind, data.dtype),
                     dtype=data.dtype, device=data.device)
    index = segment_ids.reshape((-1,) + (1,) * (data.ndim - 1)).expand_as(data)
    return out.scatter_reduce(0, index, data, reduce=_REDUCE[kind], include_self=True)


def extract_sequences(x, sequence_length, sequence_stride):
    x = convert_to_tensor(x)
    if x.shape[-1] < sequence_length:
        return x.new_zeros(tuple(x.shape[:-1]) + (0, sequence_length))
    return x.unfold(-1, sequence_length, sequence_stride)


def _to_complex(x):
    real, imag = complex_pair(x)
    real, imag = convert_to_tensor(real), convert_to_tensor(imag)
    dtype = real.dtype
    compute = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    return torch.complex(real.to(compute), imag.to(compute)), dtype


def view_as_complex(x):
    x = _as_float(x)
    check_last_dim_2(x)
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    return torch.complex(x[..., 0], x[..., 1])


def _overlap_add(frames, stride):
    num_frames, n = frames.shape[-2:]
    index = np.arange(num_frames)[:, None] * stride + np.arange(n)[None, :]
    index = torch.from_numpy(index.reshape(-1)).to(frames.device)
    out = frames.new_zeros(tuple(frames.shape[:-2]) + (n + stride * (num_frames - 1),))
    return out.index_add(-1, index, frames.reshape(tuple(frames.shape[:-2]) + (-1,)))
