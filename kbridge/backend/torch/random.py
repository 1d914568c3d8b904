"""torch backend: random ops on a ``torch.Generator`` seeded from the ``[seed, counter]`` pair.

torch's CPU generator (mt19937) keeps only the low 32 bits of its seed, so the pair is mixed
into 32 bits (a splitmix64 finaliser) rather than concatenated.
"""

import torch

from kbridge.backend.common.shared import include
from kbridge.backend.torch.core import convert_to_tensor, to_torch_dtype
from kbridge.random.seed_generator import as_int_pair, seed_pair

include("random", globals(), native_dtype=to_torch_dtype)

_MASK64 = 2**64 - 1


def next_seed(state):
    """The current ``[seed, counter]`` of ``state`` (a torch Variable), then advance it.

    While ``torch.compile`` / ``torch.export`` traces, the pair stays a tensor (reading it
    to Python would break the graph) and the counter advances in place.
    """
    if torch.compiler.is_compiling():
        pair = state.value.clone()
        state.assign(pair + torch.tensor([0, 1], dtype=pair.dtype, device=pair.device))
        return pair
    seed, counter = state.value.tolist()
    state.assign(torch.tensor([seed, counter + 1], dtype=state.value.dtype))
    return seed, counter


def _mix(seed, counter):
    z = (seed * 0x9E3779B97F4A7C15 + counter + 0x632BE59BD9B4E019) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return (z ^ (z >> 32)) & 0xFFFFFFFF


def _generator(seed, device=None):
    s, c = as_int_pair(seed_pair(seed, "torch"))
    device = torch.get_default_device() if device is None else device
    gen = torch.Generator(device=device)
    gen.manual_seed(_mix(s, c))
    return gen


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "normal")
    return torch.randn(_shape(shape), generator=_generator(seed), dtype=dtype) * stddev + mean


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "uniform")
    x = torch.rand(_shape(shape), generator=_generator(seed), dtype=dtype)
    return x * (maxval - minval) + minval


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dtype = float_dtype(dtype, "truncated_normal")
    # Drawn in float32 (or float64): trunc_normal_ needs erfinv, missing for half types on CPU.
    x = torch.empty(_shape(shape), dtype=torch.float64 if dtype == torch.float64 else
                    torch.float32)
    torch.nn.init.trunc_normal_(x, 0.0, 1.0, -2.0, 2.0, generator=_generator(seed))
    return (x * stddev + mean).to(dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    return torch.randint(int(minval), int(maxval), _shape(shape), generator=_generator(seed),
                         dtype=to_torch_dtype(dtype))


_MASK32 = 0xFFFFFFFF


def _hash32(x):
    """A 32-bit integer hash (lowbias32 variant) of int64 tensors in ``[0, 2**32)``; every
    product stays below 2**63, so no op overflows."""
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & _MASK32
    return x ^ (x >> 15)


def _traced_uniform(seed, shape, device):
    """Uniform ``[0, 1)`` float32 values for ``seed`` from a counter-based hash of the
    ``[seed, counter]`` pair and each element's index: tensor ops only, so a
    ``torch.compile`` / ``torch.export`` trace captures them (``torch.Generator`` cannot
    be traced). Different numbers from the eager generator path, the same distribution."""
    pair = seed_pair(seed, "torch")
    if isinstance(pair, tuple):
        pair = torch.tensor(pair, dtype=torch.int64, device=device)
    pair = pair.to(device=device, dtype=torch.int64).reshape(-1)
    key = _hash32(_hash32(pair[0] & _MASK32) ^ (pair[1] & _MASK32))
    count = 1
    for d in shape:
        count = count * d
    index = torch.arange(count, dtype=torch.int64, device=device)
    bits = _hash32(((index & _MASK32) * 0x2545F491 + key) & _MASK32)
    return ((bits >> 8).to(torch.float32) * (1.0 / (1 << 24))).reshape(tuple(shape))


def dropout(inputs, rate, noise_shape=None, seed=None):
    inputs = convert_to_tensor(inputs)
    keep_prob = 1.0 - rate
    noise_shape = concrete_noise_shape(inputs.shape, noise_shape)
    if torch.compiler.is_compiling():
        noise = _traced_uniform(seed, noise_shape, inputs.device)
    else:
        noise = torch.rand(_shape(noise_shape), generator=_generator(seed, inputs.device),
                           device=inputs.device)
    return torch.where(noise < keep_prob, inputs / keep_prob,
                       torch.zeros((), dtype=inputs.dtype, device=inputs.device))


def shuffle(x, axis=0, seed=None):
    x = convert_to_tensor(x)
    order = torch.randperm(x.shape[axis], generator=_generator(seed, x.device), device=x.device)
    return torch.index_select(x, axis, order)


def categorical(logits, num_samples, dtype="int32", seed=None):
    logits = convert_to_tensor(logits)
    probs = torch.softmax(logits.to(torch.float64) if logits.dtype == torch.float64
                          else logits.float(), dim=-1)
    out = torch.multinomial(probs, int(num_samples), replacement=True,
                            generator=_generator(seed, logits.device))
    return out.to(to_torch_dtype(dtype))


def _standard_gamma(alpha, shape, dtype, gen):
    alpha = convert_to_tensor(alpha).to(torch.float64 if dtype == torch.float64 else
                                        torch.float32)
    alpha = torch.broadcast_to(alpha, shape).contiguous()
    return torch._standard_gamma(alpha, generator=gen)


def gamma(shape, alpha, dtype=None, seed=None):
    dtype = float_dtype(dtype, "gamma")
    return _standard_gamma(alpha, _shape(shape), dtype, _generator(seed)).to(dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    dtype = float_dtype(dtype, "beta")
    gen = _generator(seed)
    x = _standard_gamma(alpha, _shape(shape), dtype, gen)
    y = _standard_gamma(beta, _shape(shape), dtype, gen)
    return (x / (x + y)).to(dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    dtype = output_dtype(dtype)
    shape = _shape(shape)
    counts = torch.broadcast_to(convert_to_tensor(counts).float(), shape).contiguous()
    probs = torch.broadcast_to(convert_to_tensor(probabilities).float(), shape).contiguous()
    return torch.binomial(counts, probs, generator=_generator(seed)).to(dtype)
