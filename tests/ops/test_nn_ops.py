"""The nn ops (activations, conv, pooling, normalisation, losses, attention, CTC):
every backend against the numpy backend, plus direct checks of the numpy reference."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.ops.harness import Case, case_tests, rand

X = rand(2, 3, 4)  # activations: values in [-1, 1], away from 0 enough for kinks below
X_KINKFREE = rand(2, 3, 4) + np.where(rand(2, 3, 4, seed=5) > 0, 0.05, -0.05).astype("float32")
X64 = rand(3, 5, dtype="float64")
XI = rand(3, 4, dtype="int32", low=-5, high=5)

ACTIVATIONS = ["relu", "relu6", "sigmoid", "sparse_sigmoid", "tanh_shrink", "softplus",
               "softsign", "soft_shrink", "sparse_plus", "silu", "swish", "squareplus",
               "log_sigmoid", "leaky_relu", "hard_sigmoid", "hard_silu", "hard_swish", "elu",
               "selu", "gelu", "celu", "glu", "hard_tanh", "hard_shrink", "softmax",
               "log_softmax", "sparsemax"]

CASES = [Case(name, X_KINKFREE * 4) for name in ACTIVATIONS]
CASES += [Case(name, X64, _id="f64") for name in ("sigmoid", "gelu", "softmax", "elu", "silu")]
CASES += [
    Case("relu", XI, _id="int"),
    Case("relu6", XI * 2, _id="int"),
    Case("sigmoid", XI, _id="int"),
    Case("softmax", XI, _id="int"),
    Case("gelu", X_KINKFREE * 3, approximate=False, _id="exact"),
    Case("elu", X_KINKFREE * 3, alpha=0.5, _id="alpha"),
    Case("celu", X_KINKFREE * 3, alpha=2.0, _id="alpha"),
    Case("leaky_relu", X_KINKFREE, negative_slope=0.1, _id="slope"),
    Case("glu", rand(2, 4, 3), axis=1, _id="axis"),
    Case("soft_shrink", X_KINKFREE * 2, threshold=0.3, _id="thr"),
    Case("hard_shrink", X_KINKFREE * 2, threshold=0.3, _id="thr"),
    Case("squareplus", X, b=2, _id="b"),
    Case("threshold", X_KINKFREE, 0.1, -2.0),
    Case("softmax", X, axis=0, _id="axis0"),
    Case("softmax", X, axis=(1, 2), _id="tuple-axis"),
    Case("log_softmax", X, axis=1, _id="axis1"),
    Case("sparsemax", rand(3, 6) * 3, axis=0, _id="axis0"),
]

# ------------------------------------------------------------------------ convolution
CASES += [
    Case("conv", rand(2, 9, 3), rand(3, 3, 4, seed=1), _id="1d"),
    Case("conv", rand(2, 9, 3), rand(3, 3, 4, seed=1), strides=2, padding="same",
         _id="1d-same-s2-odd"),
    Case("conv", rand(2, 7, 8, 4), rand(3, 3, 4, 5, seed=1), padding="same", _id="2d-same"),
    Case("conv", rand(2, 7, 9, 4), rand(3, 2, 4, 6, seed=1), strides=2, padding="same",
         _id="2d-same-s2-odd"),
    Case("conv", rand(2, 9, 9, 4), rand(3, 3, 2, 6, seed=1), dilation_rate=2, _id="2d-groups-dil"),
    Case("conv", rand(2, 9, 9, 4), rand(3, 3, 4, 3, seed=1), strides=2, dilation_rate=2,
         padding="same", _id="2d-s2-d2"),
    Case("conv", rand(2, 4, 7, 8), rand(3, 3, 4, 2, seed=1), strides=(2, 1), padding="same",
         data_format="channels_first", _id="2d-cf-groups"),
    Case("conv", rand(1, 5, 6, 5, 2), rand(2, 3, 2, 2, 3, seed=1), padding="same", _id="3d"),
    Case("conv", rand(1, 2, 5, 6, 5), rand(2, 2, 2, 2, 3, seed=1), strides=2,
         data_format="channels_first", _id="3d-cf"),
    Case("conv", rand(2, 8, 3, dtype="float64"), rand(3, 3, 2, dtype="float64", seed=1),
         _id="f64"),
    Case("depthwise_conv", rand(2, 7, 8, 3), rand(3, 3, 3, 2, seed=1), padding="same",
         _id="2d"),
    Case("depthwise_conv", rand(2, 9, 9, 3), rand(3, 3, 3, 1, seed=1), strides=2,
         padding="same", _id="2d-s2"),
    Case("depthwise_conv", rand(2, 3, 9, 9), rand(2, 2, 3, 2, seed=1), dilation_rate=2,
         data_format="channels_first", _id="2d-cf-dil"),
    Case("depthwise_conv", rand(2, 10, 3), rand(3, 3, 2, seed=1), strides=2, _id="1d"),
    Case("separable_conv", rand(2, 8, 8, 3), rand(3, 3, 3, 2, seed=1), rand(1, 1, 6, 4, seed=2),
         padding="same"),
    Case("separable_conv", rand(2, 9, 3), rand(3, 3, 2, seed=1), rand(1, 6, 4, seed=2),
         strides=2, _id="1d"),
    Case("separable_conv", rand(2, 3, 8, 7), rand(3, 3, 3, 2, seed=1), rand(1, 1, 6, 4, seed=2),
         strides=2, padding="same", data_format="channels_first", _id="cf-s2-odd"),
    Case("conv_transpose", rand(2, 5, 3), rand(3, 4, 3, seed=1), _id="1d"),
    Case("conv_transpose", rand(2, 6, 3), rand(4, 2, 3, seed=1), strides=3, padding="same",
         output_padding=2, _id="1d-same-outpad"),
    Case("conv_transpose", rand(2, 5, 6, 3), rand(3, 3, 4, 3, seed=1), strides=2,
         padding="same", _id="2d-same-s2"),
    Case("conv_transpose", rand(2, 5, 6, 3), rand(3, 2, 4, 3, seed=1), strides=(2, 3),
         _id="2d-valid-s23"),
    Case("conv_transpose", rand(1, 5, 5, 2), rand(3, 3, 2, 2, seed=1), strides=2,
         padding="same", output_padding=1, _id="2d-outpad"),
    Case("conv_transpose", rand(1, 5, 5, 2), rand(3, 3, 2, 2, seed=1), dilation_rate=2,
         _id="2d-dil"),
    Case("conv_transpose", rand(2, 3, 5, 4), rand(3, 3, 4, 3, seed=1), strides=2,
         padding="same", data_format="channels_first", _id="2d-cf"),
    Case("conv_transpose", rand(1, 3, 4, 3, 2), rand(2, 2, 2, 3, 2, seed=1), strides=2,
         _id="3d"),
]

# ------------------------------------------------------------------------ pooling
P = rand(2, 7, 9, 3)
CASES += [
    Case("max_pool", P, 2, _id="2d"),
    Case("max_pool", P, (3, 2), strides=2, padding="same", _id="2d-same-odd"),
    Case("max_pool", rand(2, 3, 7, 9), 3, strides=(2, 1), padding="same",
         data_format="channels_first", _id="2d-cf"),
    Case("max_pool", rand(2, 11, 3), 3, strides=2, _id="1d"),
    Case("max_pool", rand(1, 5, 6, 7, 2), 2, padding="same", _id="3d"),
    Case("average_pool", P, 2, _id="2d"),
    Case("average_pool", P, (3, 2), strides=2, padding="same", _id="2d-same-odd"),
    Case("average_pool", rand(2, 3, 7, 9), 3, strides=(2, 1), padding="same",
         data_format="channels_first", _id="2d-cf"),
    Case("average_pool", rand(2, 11, 3), 3, strides=2, padding="same", _id="1d-same"),
    Case("average_pool", rand(1, 5, 6, 7, 2), 2, padding="same", _id="3d"),
    Case("adaptive_average_pool", P, (3, 4), _id="2d"),
    Case("adaptive_average_pool", rand(2, 3, 10), 4, data_format="channels_first", _id="1d-cf"),
    Case("adaptive_average_pool", rand(1, 5, 6, 7, 2), 2, _id="3d"),
    Case("adaptive_max_pool", P, (4, 5), _id="2d"),
    Case("adaptive_max_pool", rand(2, 10, 3), 3, _id="1d"),
]

# ------------------------------------------------------------------------ normalisation
CASES += [
    Case("moments", rand(3, 4, 5), [0, 2]),
    Case("moments", rand(3, 4, 5), (1,), keepdims=True, _id="keepdims"),
    Case("moments", rand(3, 4, dtype="float64"), -1, _id="f64"),
    Case("moments", rand(3, 4, dtype="float16"), [0], _id="f16", _rtol=1e-3, _atol=1e-3),
    Case("batch_normalization", rand(4, 3), rand(3, seed=1), rand(3, seed=2, low=0.5, high=1),
         -1, offset=rand(3, seed=3), scale=rand(3, seed=4)),
    Case("batch_normalization", rand(2, 3, 4), rand(3, seed=1), rand(3, seed=2, low=0.5, high=1),
         1, epsilon=0.01, _id="axis1"),
    Case("layer_normalization", rand(3, 6), rand(6, seed=1), rand(6, seed=2)),
    Case("layer_normalization", rand(2, 3, 4), axis=(1, 2), epsilon=1e-3, _id="axes"),
    Case("layer_normalization", rand(3, 6), rand(6, seed=1), rms_scaling=True, _id="rms"),
    Case("rms_normalization", rand(3, 6), rand(6, seed=1)),
    Case("rms_normalization", rand(2, 3, 4), axis=1, epsilon=1e-3, _id="axis"),
    Case("normalize", rand(3, 4)),
    Case("normalize", rand(3, 4), axis=0, order=1, _id="l1"),
]

# ------------------------------------------------------------------------ encodings and losses
LABELS = np.array([[0, 2, 1], [3, -1, 2]], "int32")
PROBS = np.abs(rand(4, 5)) + 0.05
CASES += [
    Case("one_hot", LABELS, 4),
    Case("one_hot", LABELS, 4, axis=0, dtype="int32", _id="axis0-int"),
    Case("multi_hot", np.array([[0, 2], [1, 1]], "int32"), 4),
    Case("multi_hot", np.array([0, 3], "int32"), 5, dtype="float64", _id="1d"),
    Case("binary_crossentropy", (rand(3, 4, seed=2) > 0).astype("float32"),
         np.clip(np.abs(rand(3, 4)), 0.05, 0.95)),
    Case("binary_crossentropy", (rand(3, 4, seed=2) > 0).astype("float32"), rand(3, 4) * 3,
         from_logits=True, _id="logits"),
    Case("categorical_crossentropy", np.eye(5, dtype="float32")[[0, 3, 2, 4]], PROBS),
    Case("categorical_crossentropy", np.eye(4, dtype="float32")[[0, 3, 2, 1, 1]].T,
         rand(4, 5) * 2, from_logits=True, axis=0, _id="logits-axis0"),
    Case("sparse_categorical_crossentropy", np.array([0, 3, 2, 4], "int32"), PROBS),
    Case("sparse_categorical_crossentropy", np.array([[0], [3], [2], [4]], "int32"),
         rand(4, 5) * 2, from_logits=True, _id="logits-col"),
]

# ------------------------------------------------------------------------ attention
Q, K, V = rand(2, 5, 4, 8), rand(2, 6, 4, 8, seed=1), rand(2, 6, 4, 8, seed=2)
CASES += [
    Case("dot_product_attention", Q, K, V),
    Case("dot_product_attention", Q, rand(2, 5, 4, 8, seed=1), rand(2, 5, 4, 8, seed=2),
         is_causal=True, _id="causal"),
    Case("dot_product_attention", Q, K, V, bias=rand(2, 4, 5, 6, seed=3),
         mask=rand(2, 1, 5, 6, seed=4) > -0.5, scale=0.3, _id="bias-mask"),
    Case("dot_product_attention", Q, rand(2, 6, 2, 8, seed=1), rand(2, 6, 2, 8, seed=2),
         _id="gqa"),
]

# ------------------------------------------------------------------------ CTC
CTC_LOGITS = rand(3, 8, 5) * 2
CTC_TARGET = np.array([[1, 1, 2], [3, 4, 0], [2, 0, 0]], "int32")
CASES += [
    Case("ctc_loss", CTC_TARGET, CTC_LOGITS, np.array([3, 2, 1], "int32"),
         np.array([8, 6, 5], "int32"), _rtol=1e-4),
    Case("ctc_decode", CTC_LOGITS, np.array([8, 6, 5], "int32"), _grad=False),
    Case("ctc_decode", CTC_LOGITS, np.array([8, 6, 5], "int32"), merge_repeated=False,
         mask_index=4, _grad=False, _id="nomerge"),
    Case("ctc_decode", CTC_LOGITS, np.array([8, 6, 5], "int32"), strategy="beam_search",
         beam_width=8, top_paths=2, _grad=False, _rtol=1e-4, _id="beam"),
]

# ------------------------------------------------------------------------ misc
IMG = rand(2, 3, 7, 6)
CASES += [
    Case("depth_to_space", rand(2, 3, 4, 8), 2),
    Case("depth_to_space", rand(2, 8, 3, 4), 2, data_format="channels_first", _id="cf"),
    Case("space_to_depth", rand(2, 4, 6, 3), 2),
    Case("space_to_depth", rand(2, 3, 4, 6), 2, data_format="channels_first", _id="cf"),
    Case("unfold", IMG, 2),
    Case("unfold", IMG, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1), _id="args"),
    Case("fold", rand(2, 12, 30), (7, 6), 2, _id="k2"),
    Case("fold", rand(2, 18, 16), (7, 6), (2, 3), dilation=(1, 2), padding=1, stride=(2, 1),
         _id="args"),
    Case("psnr", rand(2, 4, 4, 3), rand(2, 4, 4, 3, seed=1), 1.0),
    Case("polar", np.abs(rand(3, 4)) + 0.1, rand(3, 4, seed=1) * 3, _grad=False),
]


test_matches_numpy, test_symbolic, test_gradients_agree = case_tests(CASES)


# ------------------------------------------------------------------------ the reference itself

def _np(name, *args, **kwargs):
    with kbridge.backend.use("numpy"):
        return getattr(ops, name)(*args, **kwargs)


def _conv_loops(x, kernel, stride, pads, dilation=1):
    """Plain-loop 1D channels-last grouped conv, for checking the numpy reference."""
    x = np.pad(x, ((0, 0), pads, (0, 0)))
    k, cin_g, out = kernel.shape
    groups = x.shape[-1] // cin_g
    out_g = out // groups
    n_out = (x.shape[1] - (k - 1) * dilation - 1) // stride + 1
    y = np.zeros((x.shape[0], n_out, out))
    for t in range(n_out):
        for o in range(out):
            g = o // out_g
            for j in range(k):
                xs = x[:, t * stride + j * dilation, g * cin_g:(g + 1) * cin_g]
                y[:, t, o] += xs @ kernel[j, :, o]
    return y


def test_numpy_conv_matches_loops_same_stride2_odd():
    x, kernel = rand(2, 9, 4), rand(4, 2, 6, seed=1)
    # in=9, stride=2 -> out=5; total pad = 4*2 + 4 - 9 = 3 -> (1, 2)
    got = _np("conv", x, kernel, strides=2, padding="same")
    np.testing.assert_allclose(got, _conv_loops(x, kernel, 2, (1, 2)), rtol=1e-5, atol=1e-6)
    got = _np("conv", x, kernel, dilation_rate=2)
    np.testing.assert_allclose(got, _conv_loops(x, kernel, 1, (0, 0), 2), rtol=1e-5, atol=1e-6)


def test_numpy_conv_and_transpose_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, kernel = rand(2, 7, 9, 4), rand(3, 2, 2, 6, seed=1)
    got = _np("conv", x, kernel, strides=(2, 1), dilation_rate=(1, 2))
    ref = F.conv2d(torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(kernel).permute(3, 2, 0, 1),
                   stride=(2, 1), dilation=(1, 2), groups=2).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # valid conv_transpose with stride >= kernel: torch's transposed conv with no padding.
    x, kernel = rand(2, 4, 5, 3), rand(2, 2, 4, 3, seed=1)
    got = _np("conv_transpose", x, kernel, strides=3)
    ref = F.conv_transpose2d(torch.tensor(x).permute(0, 3, 1, 2),
                             torch.tensor(kernel).permute(3, 2, 0, 1), stride=3)
    ref = F.pad(ref, (0, 1, 0, 1)).permute(0, 2, 3, 1).numpy()  # Keras: (i-1)*s + max(k, s)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert _np("conv_transpose", x, kernel, strides=2, padding="same").shape == (2, 8, 10, 4)


def test_numpy_pooling_by_hand():
    x = np.arange(5, dtype="float32").reshape(1, 5, 1)
    # 'same', pool 2, stride 2 on 5 elements: windows [0,1] [2,3] [4,pad]
    np.testing.assert_allclose(_np("average_pool", x, 2, 2, "same")[0, :, 0], [0.5, 2.5, 4.0])
    np.testing.assert_allclose(_np("max_pool", -x, 2, 2, "same")[0, :, 0], [0, -2, -4])
    # pool 3 stride 2 'same' on 5: pad total 2 -> (1, 1): windows [p,0,1] [1,2,3] [3,4,p]
    np.testing.assert_allclose(_np("average_pool", x, 3, 2, "same")[0, :, 0], [0.5, 2.0, 3.5])
    np.testing.assert_allclose(_np("adaptive_average_pool", x, 2)[0, :, 0], [1.0, 3.0])


def test_numpy_attention_matches_torch():
    torch = pytest.importorskip("torch")
    q, k, v = rand(2, 5, 4, 8), rand(2, 5, 2, 8, seed=1), rand(2, 5, 2, 8, seed=2)
    got = _np("dot_product_attention", q, k, v, is_causal=True)
    t = lambda a: torch.tensor(a).transpose(1, 2)  # noqa: E731
    ref = torch.nn.functional.scaled_dot_product_attention(
        t(q), t(k), t(v), is_causal=True, enable_gqa=True).transpose(1, 2).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_numpy_ctc_loss_matches_torch():
    torch = pytest.importorskip("torch")
    lens = np.array([8, 6, 5], "int32")
    got = _np("ctc_loss", CTC_TARGET, CTC_LOGITS, np.array([3, 2, 1], "int32"), lens)
    logp = torch.log_softmax(torch.tensor(CTC_LOGITS), -1).transpose(0, 1)
    ref = torch.nn.functional.ctc_loss(logp, torch.tensor(CTC_TARGET).long(),
                                       torch.tensor(lens).long(), torch.tensor([3, 2, 1]),
                                       reduction="none").numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_numpy_ctc_greedy_decode_by_hand():
    # argmax path: 1 1 0 2 2 (blank=0) -> [1, 2], then -1 padding
    logits = np.full((1, 5, 3), -1.0, "float32")
    for t, c in enumerate([1, 1, 0, 2, 2]):
        logits[0, t, c] = 1.0
    paths, scores = _np("ctc_decode", logits, np.array([5]))
    np.testing.assert_array_equal(paths[0, 0], [1, 2, -1, -1, -1])
    np.testing.assert_allclose(scores, [[-5.0]])


def test_numpy_activations_by_hand():
    x = np.array([-2.0, -0.5, 0.5, 3.0], "float32")
    np.testing.assert_allclose(_np("hard_sigmoid", x), [1 / 6, 5 / 12, 7 / 12, 1.0], rtol=1e-6)
    np.testing.assert_allclose(_np("relu6", x * 3), [0, 0, 1.5, 6])
    np.testing.assert_allclose(_np("gelu", x, approximate=False),
                               x * 0.5 * (1 + np.vectorize(__import__("math").erf)(x / 2 ** .5)),
                               rtol=1e-6)
    np.testing.assert_allclose(_np("sparsemax", np.array([1.0, 2.0, 0.5], "float32")), [0, 1, 0])
    np.testing.assert_allclose(_np("sparsemax", np.array([1.0, 1.2, 0.0], "float32")),
                               [0.4, 0.6, 0], rtol=1e-6)
    np.testing.assert_allclose(_np("log_softmax", x), np.log(_np("softmax", x)), rtol=1e-5)


def test_numpy_unfold_fold_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    args = dict(dilation=(1, 2), padding=1, stride=(2, 1))
    got = _np("unfold", IMG, (2, 3), **args)
    np.testing.assert_array_equal(got, F.unfold(torch.tensor(IMG), (2, 3), **args).numpy())
    cols = rand(2, 18, 16)
    got = _np("fold", cols, (7, 6), (2, 3), **args)
    ref = F.fold(torch.tensor(cols), (7, 6), (2, 3), **args).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_bad_padding_message():
    with pytest.raises(ValueError, match="padding.*'valid' or 'same'.*full"):
        _np("conv", rand(1, 5, 2), rand(3, 2, 2), padding="full")


def test_symbolic_unknown_batch():
    x = kbridge.KerasTensor((None, 9, 9, 4))
    y = ops.conv(x, np.ones((3, 3, 4, 8), "float32"), strides=2, padding="same")
    assert y.shape == (None, 5, 5, 8)
    assert ops.max_pool(x, 2).shape == (None, 4, 4, 4)
