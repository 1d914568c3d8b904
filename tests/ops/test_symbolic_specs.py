"""The shape-only specs of contractions and convolutions agree with real computation.

Building a model infers these ops' outputs without full-size arithmetic
(``kbridge/ops/_specs.py``); every case here also runs the op on real arrays and checks that
the KerasTensor has the real output's shape and dtype, with unknown dims where the input
had them.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kbridge
from kbridge import ops
from kbridge.backend.common.dtypes import numpy_dtype


def _check(fn, shapes, dtypes=None, unknown=(), **kwargs):
    """Run ``fn`` on real arrays and on KerasTensors (the dims in ``unknown``, given as
    (operand, axis), set to None); the symbolic result must match the real one."""
    dtypes = dtypes or ["float32"] * len(shapes)
    rng = np.random.default_rng(0)
    real = [rng.standard_normal(s).astype(numpy_dtype(d)) for s, d in zip(shapes, dtypes)]
    with kbridge.backend.use("numpy"):
        expected = fn(*real, **kwargs)
    symbolic = []
    for i, (s, d) in enumerate(zip(shapes, dtypes)):
        shape = tuple(None if (i, a) in unknown else n for a, n in enumerate(s))
        symbolic.append(kbridge.KerasTensor(shape, d))
    out = fn(*symbolic, **kwargs)
    assert out.dtype == kbridge.backend.standardize_dtype(expected.dtype)
    assert len(out.shape) == expected.ndim
    for got, want in zip(out.shape, expected.shape):
        assert got is None or got == want, (out.shape, expected.shape)
    return out


@pytest.mark.parametrize("a,b", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
                                 ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 6)), ((7, 3, 4), (4, 2))])
def test_matmul(a, b):
    out = _check(ops.matmul, [a, b], unknown={(0, 0)} if len(a) > 1 else ())
    if len(a) > 2:
        assert None not in out.shape[1:]


@pytest.mark.parametrize("dtypes", [("int8", "int8"), ("int8", "float16"), ("int32", "float32"),
                                    ("bfloat16", "float32")])
def test_matmul_dtype_rules(dtypes):
    _check(ops.matmul, [(3, 4), (4, 2)], dtypes=list(dtypes))


def test_linear_keeps_batch_unknown():
    out = _check(ops.nn._linear, [(6, 5, 4), (4, 3), (3,)], unknown={(0, 0)})
    assert out.shape == (None, 5, 3)


@pytest.mark.parametrize("a,b,axes", [((2, 3, 4), (3, 4, 5), 2), ((2, 3, 4), (4, 5), 1),
                                      ((2, 3, 4), (5, 3), ([1], [1])),
                                      ((2, 3, 4), (4, 2), ([2, 0], [0, 1])),
                                      ((2, 3), (4, 5), 0), ((2, 3, 4), (4, 7), (-1, 0))])
def test_tensordot(a, b, axes):
    _check(ops.tensordot, [a, b], axes=axes)


@pytest.mark.parametrize("subscripts,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("btd,dnh->btnh", [(2, 7, 6), (6, 3, 4)]),
    ("bqnh,bknh->bnqk", [(2, 5, 3, 4), (2, 6, 3, 4)]),
    ("...d,de->...e", [(2, 3, 6), (6, 4)]),
    ("...ij,...jk", [(5, 2, 3), (3, 4)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("ii->i", [(4, 4)]),
    ("i,i->", [(4,), (4,)]),
    ("ab, bc -> ac", [(2, 3), (3, 1)]),
])
def test_einsum(subscripts, shapes):
    _check(lambda *xs: ops.einsum(subscripts, *xs), shapes)


def test_einsum_unknown_batch():
    out = _check(lambda x, k: ops.einsum("btd,de->bte", x, k), [(2, 7, 6), (6, 4)],
                 unknown={(0, 0), (0, 1)})
    assert out.shape == (None, None, 4)


@settings(max_examples=40, deadline=None)
@given(spatial=st.lists(st.integers(3, 9), min_size=1, max_size=2),
       k=st.integers(1, 3), stride=st.integers(1, 3), dilation=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same"]), groups=st.sampled_from([1, 2]),
       channels_last=st.booleans())
def test_conv_family(spatial, k, stride, dilation, padding, groups, channels_last):
    if stride > 1 and dilation > 1:
        dilation = 1  # Keras refuses strides and dilation together
    if any((n - (k - 1) * dilation) < 1 for n in spatial):
        return
    nd = len(spatial)
    fmt = "channels_last" if channels_last else "channels_first"
    c = 4
    image = (2, *spatial, c) if channels_last else (2, c, *spatial)
    kw = dict(strides=stride, padding=padding, data_format=fmt, dilation_rate=dilation)
    unknown = {(0, 0), (0, 1 if channels_last else 2)}
    _check(ops.conv, [image, (k,) * nd + (c // groups, 6)], unknown=unknown, **kw)
    _check(ops.depthwise_conv, [image, (k,) * nd + (c, 2)], unknown=unknown, **kw)
    _check(ops.separable_conv, [image, (k,) * nd + (c, 2), (1,) * nd + (2 * c, 3)],
           unknown=unknown, **kw)
    if dilation == 1:
        _check(ops.conv_transpose, [image, (k,) * nd + (5, c)], unknown=unknown, **kw)


def test_mismatched_shapes_still_raise():
    with pytest.raises(Exception):
        ops.matmul(kbridge.KerasTensor((3, 4)), np.ones((5, 2), "float32"))
    with pytest.raises(Exception):
        ops.conv(kbridge.KerasTensor((1, 8, 8, 3)), np.ones((3, 3, 2, 4), "float32"))


def test_building_a_model_allocates_no_kernel_sized_placeholder(monkeypatch):
    """A 2048x4096 Dense is built (and called on a placeholder) without any array of the
    kernel's size being created: the probe never sees the kernel."""
    import kbridge.backend.common.symbolic as symbolic

    sizes = []
    original = symbolic._placeholder

    def recording(shape, dtype, probe):
        out = original(shape, dtype, probe)
        sizes.append(out.size)
        return out

    monkeypatch.setattr(symbolic, "_placeholder", recording)
    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((2048,)), kbridge.layers.Dense(4096),
                                    kbridge.layers.Dense(10)])
    assert model.output_shape == (None, 10)
    assert all(n < 2048 * 4096 for n in sizes), max(sizes)
