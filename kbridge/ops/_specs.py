"""Output specs of the contractions and convolutions, found without full-size arithmetic.

Building a model calls every layer on placeholders. Probing such an op with arrays of the
real sizes (the generic route of :mod:`kbridge.backend.common.symbolic`) would multiply a
full-size kernel, or convolve a full-size image, only to read off a shape. These specs
compute the output shape from the input shapes and take the dtype (and, for convolutions,
the spatial sizes) from the numpy implementation run on operands shrunk to one element
per contracted, batch or channel axis, so kbridge's dtype rules hold exactly.
"""

import string

import numpy as np

from kbridge.backend.common.symbolic import NeedsProbe, operand_spec, run_numpy
from kbridge.backend.common.keras_tensor import KerasTensor


def _ones(shape, dtype):
    from kbridge.backend.common.dtypes import numpy_dtype

    return np.ones(shape, numpy_dtype(dtype))


def _tiny_dtype(module, name, specs, *args, leading=(), **kwargs):
    """Output dtype of the op on all-size-1 operands of the same ranks and dtypes."""
    tiny = [_ones((1,) * len(shape), dtype) for shape, dtype in specs]
    return str(run_numpy(module, name, *leading, *tiny, *args, **kwargs).dtype)


def _broadcast_dims(a, b):
    """numpy broadcasting of two shapes whose sizes may be unknown (None)."""
    out = []
    width = max(len(a), len(b))
    a = (1,) * (width - len(a)) + tuple(a)
    b = (1,) * (width - len(b)) + tuple(b)
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif y == 1 or x == y or y is None:
            out.append(x)
        elif x is None:
            out.append(y)
        else:
            raise NeedsProbe  # incompatible: the probe raises numpy's own error
    return tuple(out)


def matmul(x1, x2):
    (s1, d1), (s2, d2) = operand_spec(x1), operand_spec(x2)
    if not s1 or not s2:
        raise NeedsProbe
    a = (1,) + s1 if len(s1) == 1 else s1
    b = s2 + (1,) if len(s2) == 1 else s2
    if a[-1] is not None and b[-2] is not None and a[-1] != b[-2]:
        raise NeedsProbe
    shape = _broadcast_dims(a[:-2], b[:-2]) + (a[-2], b[-1])
    if len(s1) == 1:
        shape = shape[:-2] + shape[-1:]
    if len(s2) == 1:
        shape = shape[:-1]
    return KerasTensor(shape, _tiny_dtype("numpy", "matmul", [(s1, d1), (s2, d2)]))


def linear(x, kernel, bias=None):
    (sx, dx), (sk, dk) = operand_spec(x), operand_spec(kernel)
    if len(sk) != 2 or not sx or (sx[-1] is not None and sx[-1] != sk[0]):
        raise NeedsProbe
    specs = [(sx, dx), (sk, dk)]
    if bias is not None:
        specs.append(operand_spec(bias))
    return KerasTensor(sx[:-1] + sk[-1:], _tiny_dtype("nn", "linear", specs))


def tensordot(x1, x2, axes=2):
    (s1, d1), (s2, d2) = operand_spec(x1), operand_spec(x2)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(len(s1), len(s2)):
            raise NeedsProbe
        a1, a2 = list(range(len(s1) - n, len(s1))), list(range(n))
    else:
        try:
            a1, a2 = ([int(v)] if np.ndim(v) == 0 else [int(i) for i in v] for v in axes)
        except (TypeError, ValueError):
            raise NeedsProbe from None
        a1 = [i % len(s1) if s1 else i for i in a1]
        a2 = [i % len(s2) if s2 else i for i in a2]
    if len(a1) != len(a2) or any(s1[i] is not None and s2[j] is not None and s1[i] != s2[j]
                                 for i, j in zip(a1, a2)):
        raise NeedsProbe
    shape = tuple(d for i, d in enumerate(s1) if i not in a1) + tuple(
        d for i, d in enumerate(s2) if i not in a2)
    # All-size-1 operands contract the same axes: the dtype comes from the real rule.
    n_axes = axes if isinstance(axes, (int, np.integer)) else (a1, a2)
    return KerasTensor(shape, _tiny_dtype("array", "tensordot", [(s1, d1), (s2, d2)],
                                          axes=n_axes))


def _einsum_terms(subscripts, ranks):
    """Input terms and output term of ``subscripts``, ellipses expanded to capital
    letters (which einsum subscripts never use)."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ranks):
        raise NeedsProbe
    ellipsis = 0
    for term, rank in zip(terms, ranks):
        if "..." in term:
            ellipsis = max(ellipsis, rank - (len(term) - 3))
    fill = string.ascii_uppercase[:ellipsis]
    expanded = []
    for term, rank in zip(terms, ranks):
        if "..." in term:
            own = rank - (len(term) - 3)
            term = term.replace("...", fill[ellipsis - own:] if own else "")
        if len(term) != rank or not term.isalpha():
            raise NeedsProbe
        expanded.append(term)
    if not arrow:
        counts = {}
        for term in expanded:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        output = fill + "".join(sorted(c for c, k in counts.items() if k == 1 and c.islower()))
    else:
        output = output.replace("...", fill)
    if not output.isalpha() and output:
        raise NeedsProbe
    return expanded, output


def einsum(subscripts, *operands, **kwargs):
    if not isinstance(subscripts, str) or kwargs:
        raise NeedsProbe
    specs = [operand_spec(x) for x in operands]
    terms, output = _einsum_terms(subscripts, [len(s) for s, _ in specs])
    sizes = {}
    for term, (shape, _) in zip(terms, specs):
        for c, d in zip(term, shape):
            known = sizes.get(c, 1)
            if d == 1:
                sizes.setdefault(c, 1)
            elif known in (1, None):
                sizes[c] = d
            elif d is not None and d != known:
                raise NeedsProbe
    if any(c not in sizes for c in output):
        raise NeedsProbe
    return KerasTensor(tuple(sizes[c] for c in output),
                       _tiny_dtype("array", "einsum", specs, leading=(subscripts,)))


# --- convolutions: spatial sizes from a one-channel, batch-1 run ---------------------------


def _channels_last(data_format):
    from kbridge.backend.common.config import image_data_format

    fmt = data_format or image_data_format()
    if fmt not in ("channels_last", "channels_first"):
        raise NeedsProbe
    return fmt == "channels_last"


def _probe_size(d):
    return 8 if d is None else d


def _conv_like(name, inputs, kernels, out_channels, kernel_shapes, call_kwargs, data_format):
    """Run the numpy ``name`` on a batch-1 image with ``kernel_shapes`` small kernels, then
    put the real batch size and ``out_channels`` back."""
    sx, dx = operand_spec(inputs)
    if len(sx) < 3:
        raise NeedsProbe
    last = _channels_last(data_format)
    spatial = sx[1:-1] if last else sx[2:]
    channels_in = kernel_shapes[0][1]
    tiny_spatial = tuple(_probe_size(d) for d in spatial)
    tiny_x = (1,) + tiny_spatial + (channels_in,) if last else (1, channels_in) + tiny_spatial
    tiny_kernels = [_ones(shape, operand_spec(k)[1]) for k, shape in
                    zip(kernels, (s for s, _ in kernel_shapes))]
    out = run_numpy("nn", name, _ones(tiny_x, dx), *tiny_kernels, data_format=data_format,
                    **call_kwargs)
    out_spatial = out.shape[1:-1] if last else out.shape[2:]
    out_spatial = tuple(None if d is None else o for d, o in zip(spatial, out_spatial))
    shape = ((sx[0],) + out_spatial + (out_channels,) if last
             else (sx[0], out_channels) + out_spatial)
    return KerasTensor(shape, str(out.dtype))


def _channels(inputs, data_format):
    sx, _ = operand_spec(inputs)
    if len(sx) < 3:
        raise NeedsProbe
    c = sx[-1] if _channels_last(data_format) else sx[1]
    if c is None:
        raise NeedsProbe
    return c


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    sk, _ = operand_spec(kernel)
    c = _channels(inputs, data_format)
    if len(sk) < 3 or c % sk[-2] or sk[-1] % (c // sk[-2]):
        raise NeedsProbe
    groups = c // sk[-2]
    # One input channel per group and one output channel per group keep the grouping valid.
    small = sk[:-2] + (1, groups)
    return _conv_like("conv", inputs, [kernel], sk[-1], [(small, groups)],
                      dict(strides=strides, padding=padding, dilation_rate=dilation_rate),
                      data_format)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    sk, _ = operand_spec(kernel)
    c = _channels(inputs, data_format)
    if len(sk) < 3 or sk[-2] != c:
        raise NeedsProbe
    small = sk[:-2] + (1, 1)
    return _conv_like("depthwise_conv", inputs, [kernel], c * sk[-1], [(small, 1)],
                      dict(strides=strides, padding=padding, dilation_rate=dilation_rate),
                      data_format)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    sd, _ = operand_spec(depthwise_kernel)
    sp, _ = operand_spec(pointwise_kernel)
    c = _channels(inputs, data_format)
    if len(sd) < 3 or len(sp) != len(sd) or sd[-2] != c or sp[-2] != c * sd[-1]:
        raise NeedsProbe
    small = [(sd[:-2] + (1, 1), 1), (sp[:-2] + (1, 1), 1)]
    return _conv_like("separable_conv", inputs, [depthwise_kernel, pointwise_kernel], sp[-1],
                      small, dict(strides=strides, padding=padding,
                                  dilation_rate=dilation_rate), data_format)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    sk, _ = operand_spec(kernel)
    c = _channels(inputs, data_format)
    if len(sk) < 3 or sk[-1] != c:
        raise NeedsProbe
    small = sk[:-2] + (1, 1)
    return _conv_like("conv_transpose", inputs, [kernel], sk[-2], [(small, 1)],
                      dict(strides=strides, padding=padding, output_padding=output_padding,
                           dilation_rate=dilation_rate), data_format)
