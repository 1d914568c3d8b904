"""Array ops (shape, indexing, reductions, sorting, statistics, contractions): every backend vs
numpy, plus direct checks of the numpy reference against plain numpy."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.ops.harness import Case, case_tests, rand

X = rand(3, 4)
X3 = rand(2, 3, 4)
I = rand(3, 4, dtype="int32", low=-5, high=5)
I8 = rand(3, 4, dtype="int8", low=-5, high=5)
B = rand(3, 4, dtype="bool")
XN = X.copy()
XN[0, 1] = XN[2, 3] = np.nan
SQ = rand(3, 3) + 3 * np.eye(3, dtype="float32")
V = rand(5)
V3 = rand(4, 3)
W3 = rand(4, 3, seed=1)
IDX = np.array([2, 0, -1], "int32")

CASES = [
    # reductions
    Case("sum", X),
    Case("sum", X3, axis=(0, 2), keepdims=True, _id="axes-keepdims"),
    Case("sum", X3, axis=-1, _id="neg-axis"),
    Case("sum", I8, axis=0, _id="int8"),
    Case("sum", B, _id="bool"),
    Case("prod", X, axis=1),
    Case("prod", I8, _id="int8"),
    Case("prod", I, dtype="float32", _id="dtype"),
    Case("mean", X3, axis=1),
    Case("mean", I, axis=0, keepdims=True, _id="int"),
    Case("mean", X.astype("float16"), _id="f16", _rtol=1e-3, _atol=1e-3),
    Case("mean", X.astype("float64"), axis=0, _id="f64"),
    Case("std", X3, axis=(1, 2)),
    Case("std", I, _id="int"),
    Case("var", X3, axis=0, keepdims=True),
    Case("max", X3, axis=1),
    Case("max", X, initial=0.5, axis=0, _id="initial"),
    Case("max", I, keepdims=True, _id="int"),
    Case("min", X3, axis=(0, 1)),
    Case("min", I, initial=-2, _id="initial"),
    Case("amax", X, axis=-1),
    Case("amin", X),
    Case("ptp", X, axis=0),
    Case("any", B, axis=1),
    Case("any", X, _id="float"),
    Case("all", B, axis=(0, 1), keepdims=True),
    Case("all", I, axis=0, _id="int"),
    Case("argmax", X3, axis=1),
    Case("argmax", X, _id="flat"),
    Case("argmax", X, keepdims=True, _id="flat-keepdims"),
    Case("argmin", X3, axis=-1, keepdims=True),
    Case("argmin", I, _id="int"),
    Case("count_nonzero", I, axis=0),
    Case("count_nonzero", B),
    Case("average", X, axis=1, weights=rand(4, seed=2, low=0.1, high=1.0)),
    Case("average", X, _id="plain"),
    Case("cumsum", X3, axis=1),
    Case("cumsum", B, _id="bool-flat"),
    Case("cumsum", I8, axis=0, dtype="int32", _id="dtype"),
    Case("cumprod", X, axis=0),
    Case("cumprod", I, _id="int-flat"),
    # NaN-aware reductions
    Case("nansum", XN, axis=0),
    Case("nanprod", XN, axis=1),
    Case("nanmean", XN, axis=1),
    Case("nanstd", XN, axis=0),
    Case("nanvar", XN),
    Case("nanmax", XN, axis=1),
    Case("nanmin", XN, axis=0, keepdims=True),
    Case("nanargmax", XN, axis=1),
    Case("nanargmin", XN),
    Case("nancumsum", XN, axis=1),
    Case("nancumprod", XN, axis=0),
    Case("nanmedian", XN, axis=1),
    Case("nanquantile", XN, 0.3, axis=0),
    Case("nanpercentile", XN, [10.0, 70.0], axis=1, keepdims=True),
    # quantiles
    Case("median", X3, axis=1),
    Case("median", I, _id="int"),
    Case("quantile", X3, 0.25, axis=-1),
    Case("quantile", X, np.array([0.1, 0.5, 0.9], "float32"), axis=(0, 1), _id="q-vector"),
    Case("quantile", X, 0.4, axis=0, method="lower", _id="lower"),
    Case("quantile", X, 0.4, axis=1, method="higher", keepdims=True, _id="higher"),
    Case("quantile", X, 0.4, method="midpoint", _id="midpoint"),
    Case("quantile", X, 0.3, axis=1, method="nearest", _id="nearest"),
    Case("percentile", X3, 30.0, axis=(0, 2)),
    # shape manipulation
    Case("reshape", X3, (4, -1)),
    Case("reshape", X, 12, _id="int"),
    Case("ravel", X3),
    Case("transpose", X3),
    Case("transpose", X3, (1, 2, 0), _id="axes"),
    Case("expand_dims", X, 1),
    Case("expand_dims", X, (0, -1), _id="tuple"),
    Case("squeeze", rand(3, 1, 4, 1)),
    Case("squeeze", rand(3, 1, 4, 1), axis=1, _id="axis"),
    Case("squeeze", rand(1, 3, 1), axis=(0, -1), _id="tuple"),
    Case("moveaxis", X3, 0, -1),
    Case("moveaxis", X3, (0, 1), (2, 0), _id="tuple"),
    Case("swapaxes", X3, 0, 2),
    Case("broadcast_to", V3, (2, 4, 3)),
    Case("concatenate", [X, rand(2, 4, seed=1)]),
    Case("concatenate", [X, I], axis=1, _id="promote"),
    Case("append", X, I),
    Case("append", X, rand(3, 2), axis=1, _id="axis"),
    Case("stack", [X, rand(3, 4, seed=1)], axis=1),
    Case("stack", [X, I], _id="promote"),
    Case("hstack", [X, rand(3, 2, seed=1)]),
    Case("vstack", [V, rand(5, seed=1)]),
    Case("dstack", [X, X]),
    Case("split", X3, 3, axis=1),
    Case("split", rand(7, 2), [2, 5], _id="indices"),
    Case("array_split", rand(7, 2), 3),
    Case("array_split", X, [1, 3], axis=1, _id="indices"),
    Case("hsplit", X, 2),
    Case("vsplit", rand(4, 3), 2),
    Case("dsplit", X3, [1]),
    Case("tile", X, (2, 1)),
    Case("tile", V, 3, _id="int"),
    Case("tile", X, (2, 1, 2), _id="more-reps"),
    Case("repeat", X, 2, axis=1),
    Case("repeat", X, 3, _id="flat"),
    Case("repeat", X, [1, 0, 2], axis=0, _id="list"),
    Case("flip", X3, 1),
    Case("flip", X3, _id="all"),
    Case("flip", X3, (0, 2), _id="tuple"),
    Case("fliplr", X),
    Case("flipud", X),
    Case("rot90", X),
    Case("rot90", X3, k=3, axes=(1, 2), _id="k3"),
    Case("rot90", X, k=2, _id="k2"),
    Case("roll", X, 2, axis=1),
    Case("roll", X, -3, _id="flat"),
    Case("roll", X3, (1, 2), axis=(0, 2), _id="tuple"),
    Case("pad", X, 1),
    Case("pad", X3, ((0, 1), (2, 0), (1, 1)), constant_values=3.0, _id="const"),
    Case("pad", I, (1, 2), constant_values=7, _id="int"),
    Case("pad", X, ((2, 3), (3, 1)), mode="reflect", _id="reflect"),
    Case("pad", X, ((2, 1), (1, 5)), mode="symmetric", _id="symmetric"),
    Case("pad", X, ((2, 1), (1, 3)), mode="edge", _id="edge"),
    Case("pad", X, ((2, 4), (0, 5)), mode="wrap", _id="wrap"),
    Case("tril", X3),
    Case("tril", X, k=1, _id="k1"),
    Case("triu", X, k=-1),
    Case("triu", I, _id="int"),
    Case("diag", V),
    Case("diag", V, k=-2, _id="k"),
    Case("diag", X, k=1, _id="2d"),
    Case("diagflat", X, k=1),
    Case("diagonal", X3),
    Case("diagonal", X3, offset=1, axis1=1, axis2=2, _id="offset"),
    Case("trace", X3, axis1=1, axis2=2),
    Case("trace", I8, offset=-1, _id="int8"),
    Case("diff", X, axis=0),
    Case("diff", X3, n=2, _id="n2"),
    Case("diff", B, _id="bool"),
    Case("meshgrid", V, V3[:, 0]),
    Case("meshgrid", V, V3[:, 0], indexing="ij", _id="ij"),
    Case("ndim", X3),
    Case("size", X3),
    Case("view", X, "int32"),
    Case("view", X, "int16", _id="narrower"),
    Case("view", rand(3, 4, dtype="int16", low=-99, high=99), "float32", _id="wider"),
    Case("rearrange", X3, "b h w -> b w h"),
    Case("rearrange", rand(2, 6, 3), "b (h w) c -> b c h w", h=2, _id="split"),
    Case("rearrange", X3, "b h w -> (b h) w", _id="merge"),
    Case("rearrange", X3, "b ... -> ... b", _id="ellipsis"),
    Case("rearrange", X3, "b h w -> b 1 (w h)", _id="unit"),
    # indexing
    Case("get_item", X3, 1),
    Case("get_item", X3, (slice(None), slice(1, None, 2), -1), _id="slices"),
    Case("get_item", X3, (None, Ellipsis, 0), _id="none-ellipsis"),
    Case("get_item", X3, (slice(None), np.array([2, 0, -1], "int32")), _id="int-index"),
    Case("get_item", X3, np.array([1, 0, 1], "int64"), _id="int64-index"),
    Case("get_item", X, X > 0, _id="bool-mask", _symbolic=False),
    Case("get_item", X3, (slice(None), np.array([True, False, True])), _id="bool-axis",
         _symbolic=False),
    Case("get_item", X3, (np.array([0, 1]), slice(None), np.array([3, 1])), _id="two-indices"),
    Case("get_item", X3, (0, np.array([0, 2]), np.array([1, 3])), _id="adjacent"),
    Case("get_item", X3, (Ellipsis, np.array([[0, 1], [2, 3]])), _id="2d-index"),
    Case("take", X3, IDX, axis=1),
    Case("take", X, np.array([[0, 5], [11, -1]], "int32"), _id="flat"),
    # axis=1: TF's gradient of an axis-0 gather is IndexedSlices, which the harness cannot
    # compare yet.
    Case("take", X, 2, axis=1, _id="scalar"),
    Case("take_along_axis", X, np.array([[0, 1], [3, 2], [1, 1]], "int32"), axis=1),
    Case("take_along_axis", X3, np.array([[[1]], [[0]]], "int32"), axis=1, _id="broadcast"),
    Case("take_along_axis", X, np.array([0, 4, 11], "int32"), _id="flat"),
    Case("where", X > 0, X, rand(3, 4, seed=1)),
    Case("where", B, I, 2.5, _id="weak"),
    Case("where", B, I8, I, _id="promote"),
    Case("where", I, _id="nonzero", _symbolic=False),
    Case("nonzero", I, _symbolic=False),
    Case("select", [X > 0.5, X < -0.5], [X, -X], 3.0),
    Case("select", [I > 0], [I], _id="int"),
    Case("searchsorted", np.sort(V), X),
    Case("searchsorted", np.array([1, 3, 3, 7], "int32"), I, side="right", _id="right"),
    Case("digitize", X, np.array([-0.5, 0.0, 0.5], "float32")),
    Case("unravel_index", np.array([0, 5, 11], "int32"), (3, 4)),
    Case("isin", I, np.array([1, -2, 3], "int32")),
    Case("isin", I, np.array([1, -2, 3], "int32"), invert=True, _id="invert"),
    Case("bincount", np.array([1, 1, 3, 0, 5], "int32"), _symbolic=False),
    Case("bincount", np.array([1, 1, 3], "int32"), weights=np.array([0.5, 1, 2], "float32"),
         minlength=6, _symbolic=False, _id="weights"),
    Case("histogram", V, _grad=False),
    Case("histogram", X.reshape(-1), bins=4, range=(-0.5, 0.5), _id="range", _grad=False),
    Case("unique", np.array([3, 1, 2, 1, 3], "int32"), _symbolic=False),
    Case("unique", np.array([3, 1, 2, 1, 3], "int32"), sorted=False, return_index=True,
         return_inverse=True, return_counts=True, _symbolic=False, _id="all"),
    Case("unique", np.array([3, 1, 2, 1, 3], "int32"), size=5, fill_value=-1, return_counts=True,
         _id="size"),
    Case("unique", np.array([3, 1, 2, 1, 3], "int32"), size=2, _id="truncate"),
    Case("unique", np.array([[1, 2], [0, 1], [1, 2]], "int32"), axis=0, return_inverse=True,
         _symbolic=False, _id="axis"),
    # sorting
    Case("sort", X3),
    Case("sort", X3, axis=0, _id="axis0"),
    Case("sort", X, axis=None, _id="flat"),
    Case("sort", I, _id="int"),
    Case("argsort", X3, axis=1),
    Case("argsort", rand(10, dtype="int32", low=0, high=3), _id="stable-ties"),
    Case("argpartition", X, 2, axis=1),
    # contractions
    Case("dot", X, rand(4, 2, seed=1)),
    Case("dot", V, rand(5, seed=1), _id="vectors"),
    Case("dot", X3, rand(4, 2, seed=1), _id="nd"),
    Case("dot", X3, V3, _id="nd-nd"),
    Case("dot", X, 2.0, _id="scalar"),
    Case("dot", X3, rand(4, seed=1), _id="nd-1d"),
    Case("dot", I, rand(4, 2, dtype="int32", low=-3, high=3, seed=1), _id="int"),
    Case("tensordot", X3, rand(3, 4, 5, seed=1)),
    Case("tensordot", X3, rand(4, 3, seed=1), axes=([1, 2], [1, 0]), _id="pairs"),
    Case("tensordot", X, rand(2, 5, seed=1), axes=0, _id="outer"),
    Case("inner", X, rand(2, 4, seed=1)),
    Case("outer", V, X),
    Case("vdot", X, rand(3, 4, seed=1)),
    Case("kron", X, rand(2, 3, seed=1)),
    Case("kron", V, X, _id="ndim-mismatch"),
    Case("cross", V3, W3),
    Case("cross", V3[:, :2], W3[:, :2], _id="2d"),
    Case("cross", V3[:, :2], W3, _id="2-3"),
    Case("cross", V3.T, W3.T, axis=0, _id="axis"),
    Case("einsum", "ij,jk->ik", X, rand(4, 2, seed=1)),
    Case("einsum", "bij->bji", X3, _id="transpose"),
    Case("einsum", "i,i->", V, rand(5, seed=1), _id="dot"),
    Case("einsum", "ij,ij->i", I8, I8, _id="int8"),
    Case("correlate", V, rand(3, seed=1)),
    Case("correlate", V, rand(3, seed=1), mode="same", _id="same"),
    Case("correlate", V, rand(3, seed=1), mode="full", _id="full"),
    Case("correlate", rand(3, seed=1), V, mode="same", _id="same-short"),
    Case("correlate", rand(3, seed=1), rand(4), mode="same", _id="same-even"),
    Case("correlate", rand(2, seed=1), V, mode="valid", _id="valid-short"),
    Case("vander", V),
    Case("vander", V, 3, increasing=True, _id="n"),
    Case("trapezoid", X),
    Case("trapezoid", X, dx=0.5, axis=0, _id="dx"),
    Case("trapezoid", X, np.array([0.0, 0.5, 1.5, 2.0], "float32"), _id="x"),
    Case("corrcoef", X),
    Case("slogdet", SQ),
    Case("slogdet", rand(2, 3, 3) + 3 * np.eye(3, dtype="float32"), _id="batched"),
]


test_matches_numpy, test_symbolic, test_gradients_agree = case_tests(CASES)


# --- the numpy reference checked against plain numpy ----------------------------------------

def _np(fn, *args, **kwargs):
    with kbridge.backend.use("numpy"):
        return fn(*args, **kwargs)


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("n1,n2", [(5, 3), (3, 5), (4, 4), (2, 5), (6, 2)])
def test_correlate_reference(mode, n1, n2):
    a, b = rand(n1), rand(n2, seed=1)
    np.testing.assert_allclose(_np(ops.correlate, a, b, mode=mode), np.correlate(a, b, mode),
                               rtol=1e-6)


def test_reference_dtypes_and_values():
    assert _np(ops.sum, I8).dtype == np.int32
    assert _np(ops.sum, B).dtype == np.int32
    assert _np(ops.mean, I).dtype == np.float32
    assert _np(ops.mean, X.astype("float64")).dtype == np.float64
    assert _np(ops.argmax, X).dtype == np.int32
    np.testing.assert_allclose(_np(ops.quantile, X, 0.3, axis=1), np.quantile(X, 0.3, axis=1),
                               rtol=1e-6)
    np.testing.assert_array_equal(_np(ops.pad, np.array([1, 2, 3]), (1, 2), mode="reflect"),
                                  [2, 1, 2, 3, 2, 1])
    np.testing.assert_array_equal(_np(ops.pad, np.array([1, 2, 3]), (4, 4), mode="symmetric"),
                                  np.pad([1, 2, 3], 4, mode="symmetric"))
    np.testing.assert_array_equal(_np(ops.pad, np.array([1, 2, 3]), (5, 5), mode="reflect"),
                                  np.pad([1, 2, 3], 5, mode="reflect"))
    values, counts = _np(ops.unique, np.array([3, 1, 3]), return_counts=True)
    np.testing.assert_array_equal(values, [1, 3])
    np.testing.assert_array_equal(counts, [1, 2])
    vals, idx, inv = _np(ops.unique, np.array([3, 1, 2, 1, 3]), sorted=False, return_index=True,
                         return_inverse=True)
    np.testing.assert_array_equal(vals, [3, 1, 2])
    np.testing.assert_array_equal(idx, [0, 1, 2])
    np.testing.assert_array_equal(vals[inv], [3, 1, 2, 1, 3])
    out = _np(ops.rearrange, np.arange(12).reshape(2, 6), "a (b c) -> (a c) b", c=3)
    np.testing.assert_array_equal(out, np.arange(12).reshape(2, 2, 3).transpose(0, 2, 1)
                                  .reshape(6, 2))
    np.testing.assert_array_equal(_np(ops.cross, V3, W3), np.cross(V3, W3))


@pytest.mark.parametrize("bad", [
    lambda: ops.pad(X, 1, mode="bogus"),
    lambda: ops.pad(X, 1, mode="reflect", constant_values=2),
    lambda: ops.split(X, 3, axis=1),
    lambda: ops.where(X > 0, X),
    lambda: ops.quantile(X, 0.5, method="cubic"),
    lambda: ops.rearrange(X, "a b -> a c"),
    lambda: ops.squeeze(X, axis=0),
])
def test_bad_arguments_raise_clear_errors(bad, backend):
    with pytest.raises(kbridge.KbridgeError):
        bad()


def test_symbolic_data_dependent_shapes():
    x = kbridge.KerasTensor((None, 4))
    assert ops.get_item(x, kbridge.KerasTensor((None, 4), "bool")).shape == (None,)
    assert ops.get_item(x, (slice(None), kbridge.KerasTensor((4,), "bool"))).shape == (None, None)
    assert ops.get_item(x, (slice(1, None), 0)).shape == (None,)
    assert [t.shape for t in ops.nonzero(x)] == [(None,), (None,)]
    assert [t.shape for t in ops.where(x)] == [(None,), (None,)]
    assert ops.unique(kbridge.KerasTensor((5,), "int32")).shape == (None,)
    assert ops.unique(kbridge.KerasTensor((5,), "int32"), size=3).shape == (3,)
    assert ops.sum(x, axis=0).shape == (4,)
    assert ops.bincount(kbridge.KerasTensor((5,), "int32")).shape == (None,)


def test_vectorize(backend):
    def f(a, b):
        return ops.sum(ops.multiply(a, b)) if hasattr(ops, "multiply") else ops.dot(a, b)

    x, y = rand(4, 3), rand(3, seed=1)
    vf = ops.vectorize(lambda a, b: ops.dot(a, b), signature="(n),(n)->()")
    out = ops.convert_to_numpy(vf(ops.convert_to_tensor(x), ops.convert_to_tensor(y)))
    np.testing.assert_allclose(out, x @ y, rtol=1e-5)
    elementwise = ops.vectorize(lambda a: ops.where(a > 0, a, 0.0))
    out = ops.convert_to_numpy(elementwise(ops.convert_to_tensor(X)))
    np.testing.assert_allclose(out, np.where(X > 0, X, 0.0), rtol=1e-6)


def test_gathers_inside_tf_function_with_an_unknown_batch():
    """take_along_axis and in_top_k (shared, built on it) trace with a batch dimension
    that is unknown until the graph runs, as in a tf.function training step."""
    tf = pytest.importorskip("tensorflow")
    p = rand(4, 6)
    t = np.array([1, 3, 0, 5])
    with kbridge.backend.use("numpy"):
        want_take = ops.take_along_axis(p, t[:, None], axis=-1)
        want_top = ops.in_top_k(t, p, 2)
    specs = [tf.TensorSpec([None, 6]), tf.TensorSpec([None], tf.int64)]
    take = tf.function(lambda a, b: ops.take_along_axis(a, b[:, None], axis=-1),
                       input_signature=specs)
    top = tf.function(lambda a, b: ops.in_top_k(b, a, 2), input_signature=specs)
    np.testing.assert_array_equal(take(tf.constant(p), tf.constant(t)).numpy(), want_take)
    np.testing.assert_array_equal(top(tf.constant(p), tf.constant(t)).numpy(), want_top)
