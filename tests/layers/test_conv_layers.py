"""Convolution and pooling layers: every backend vs numpy, Keras 3, and hand-computed cases."""

import numpy as np
import pytest

import kbridge
from tests.layers.harness import check_against_keras, check_layer, run_layer

L = kbridge.layers
rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype("float32")


X1, X2, X3 = rand(2, 7, 3), rand(2, 7, 6, 4), rand(1, 5, 4, 5, 2)

# (kbridge factory, keras factory, input); the same arguments on both sides.
CASES = {
    "conv1d_causal_dilated": ("Conv1D", dict(filters=4, kernel_size=3, padding="causal",
                                             dilation_rate=2, activation="relu"), X1),
    "conv1d_same_stride": ("Conv1D", dict(filters=2, kernel_size=4, strides=2,
                                          padding="same"), X1),
    "conv2d_same_stride_groups": ("Conv2D", dict(filters=6, kernel_size=3, strides=2,
                                                 padding="same", groups=2), X2),
    "conv2d_channels_first": ("Conv2D", dict(filters=3, kernel_size=(2, 3),
                                             data_format="channels_first", use_bias=True), X2),
    "conv3d_valid": ("Conv3D", dict(filters=2, kernel_size=2, strides=(1, 2, 1)), X3),
    "conv1d_transpose": ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2), X1),
    "conv2d_transpose_same_outpad": ("Conv2DTranspose", dict(filters=2, kernel_size=3,
                                                             strides=2, padding="same",
                                                             output_padding=1), X2),
    "conv2d_transpose_dilated": ("Conv2DTranspose", dict(filters=2, kernel_size=2,
                                                         dilation_rate=2), X2),
    "conv3d_transpose": ("Conv3DTranspose", dict(filters=2, kernel_size=2, strides=2,
                                                 padding="valid"), X3),
    "depthwise1d_multiplier": ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2,
                                                       padding="same", strides=2), X1),
    "depthwise2d": ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=3), X2),
    "separable1d": ("SeparableConv1D", dict(filters=4, kernel_size=3, depth_multiplier=2), X1),
    "separable2d_same": ("SeparableConv2D", dict(filters=5, kernel_size=3, padding="same",
                                                 strides=2, activation="tanh"), X2),
    "maxpool1d_same": ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), X1),
    "maxpool2d": ("MaxPooling2D", dict(pool_size=(2, 3)), X2),
    "maxpool3d": ("MaxPooling3D", dict(pool_size=2, padding="same"), X3),
    "avgpool1d": ("AveragePooling1D", dict(pool_size=2), X1),
    "avgpool2d_same": ("AveragePooling2D", dict(pool_size=3, strides=2, padding="same"), X2),
    "avgpool3d": ("AveragePooling3D", dict(pool_size=2, strides=1), X3),
    "gmax1d": ("GlobalMaxPooling1D", dict(), X1),
    "gmax2d_keepdims": ("GlobalMaxPooling2D", dict(keepdims=True), X2),
    "gmax3d_cf": ("GlobalMaxPooling3D", dict(data_format="channels_first"), X3),
    "gavg1d": ("GlobalAveragePooling1D", dict(), X1),
    "gavg2d_cf_keepdims": ("GlobalAveragePooling2D", dict(data_format="channels_first",
                                                          keepdims=True), X2),
    "gavg3d": ("GlobalAveragePooling3D", dict(), X3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_on_every_backend(case, backend):
    name, kwargs, x = CASES[case]
    check_layer(lambda: getattr(L, name)(**kwargs), x, backend)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_against_keras(case):
    name, kwargs, x = CASES[case]
    check_against_keras(lambda: getattr(L, name)(**kwargs),
                        lambda keras: getattr(keras.layers, name)(**kwargs), x, "numpy",
                        rtol=1e-4, atol=1e-5)


def test_keras_config_keys_match():
    from tests.layers.harness import keras_module

    keras = keras_module()
    for name, kwargs, _ in CASES.values():
        ours = getattr(L, name)(**kwargs).get_config()
        theirs = getattr(keras.layers, name)(**kwargs).get_config()
        assert set(ours) - {"dtype"} == set(theirs) - {"dtype"}, name


def test_same_padding_with_stride_on_odd_size_by_hand():
    # 5 steps, kernel 3, stride 2, 'same': out = ceil(5 / 2) = 3; total pad = (3-1)*2+3-5 = 2,
    # split 1 left / 1 right, so windows are [pad, x0, x1], [x1, x2, x3], [x3, x4, pad].
    x = np.arange(1, 6, dtype="float32").reshape(1, 5, 1)
    layer, y = run_layer(lambda: L.Conv1D(1, 3, strides=2, padding="same", use_bias=False,
                                          kernel_initializer="ones"), x, "numpy")
    np.testing.assert_allclose(y[0, :, 0], [1 + 2, 2 + 3 + 4, 4 + 5])
    # Even input, stride 2, kernel 2: total pad (3-1)*2+2-6 = 0.
    x6 = np.arange(1, 7, dtype="float32").reshape(1, 6, 1)
    _, y6 = run_layer(lambda: L.Conv1D(1, 2, strides=2, padding="same", use_bias=False,
                                       kernel_initializer="ones"), x6, "numpy")
    np.testing.assert_allclose(y6[0, :, 0], [3, 7, 11])
    # 'same' with pad 1: the extra padding goes on the right (TensorFlow's convention).
    _, y4 = run_layer(lambda: L.Conv1D(1, 2, padding="same", use_bias=False,
                                       kernel_initializer="ones"), x[:, :4], "numpy")
    np.testing.assert_allclose(y4[0, :, 0], [3, 5, 7, 4])


def test_causal_conv_sees_only_the_past_by_hand():
    x = np.arange(1, 6, dtype="float32").reshape(1, 5, 1)
    _, y = run_layer(lambda: L.Conv1D(1, 2, padding="causal", dilation_rate=2, use_bias=False,
                                      kernel_initializer="ones"), x, "numpy")
    # output[t] = x[t] + x[t - 2] (zero before the start)
    np.testing.assert_allclose(y[0, :, 0], [1, 2, 4, 6, 8])


def test_transposed_conv_output_size_and_values_by_hand(backend):
    # Valid transposed conv: out = (n - 1) * s + k (+ output_padding).
    x = np.array([1.0, 2.0, 3.0], "float32").reshape(1, 3, 1)
    make = lambda: L.Conv1DTranspose(1, 3, strides=2, use_bias=False,  # noqa: E731
                                     kernel_initializer="ones")
    _, y = run_layer(make, x, backend)
    # each input spreads over 3 outputs starting at 2 * i; overlaps add up
    np.testing.assert_allclose(y[0, :, 0], [1, 1, 3, 2, 5, 3, 3])
    make_op = lambda: L.Conv1DTranspose(1, 3, strides=2, use_bias=False,  # noqa: E731
                                        output_padding=1, kernel_initializer="ones")
    _, y_op = run_layer(make_op, x, backend)
    np.testing.assert_allclose(y_op[0, :, 0], [1, 1, 3, 2, 5, 3, 3, 0])
    # 'same': out = n * s
    x2 = rand(1, 5, 3, 2)
    _, y2 = run_layer(lambda: L.Conv2DTranspose(4, 3, strides=(2, 3), padding="same"), x2,
                      backend)
    assert y2.shape == (1, 10, 9, 4)


def test_depthwise_multiplier_by_hand():
    x = rand(1, 4, 2)
    kernel = rand(3, 2, 2)  # (k, channels, multiplier)
    with kbridge.backend.use("numpy"):
        layer = L.DepthwiseConv1D(3, depth_multiplier=2, use_bias=False)
        layer(x)
        layer.set_weights([kernel])
        y = np.asarray(layer(x))
    assert y.shape == (1, 2, 4)
    for t in range(2):
        for c in range(2):
            for m in range(2):
                expected = sum(x[0, t + i, c] * kernel[i, c, m] for i in range(3))
                # output channel order: c * multiplier + m
                np.testing.assert_allclose(y[0, t, c * 2 + m], expected, rtol=1e-5)


def test_grouped_conv_weight_shape_and_bad_groups():
    layer = L.Conv2D(6, 3, groups=3)
    layer.build((None, 5, 5, 9))
    assert [tuple(w.shape) for w in layer.weights] == [(3, 3, 3, 6), (6,)]
    with pytest.raises(ValueError):
        L.Conv2D(5, 3, groups=2)
    with pytest.raises(ValueError, match="padding"):
        L.Conv2D(2, 3, padding="causal")


def test_weight_paths():
    layer = L.SeparableConv2D(4, 3, name="sep")
    layer(rand(1, 5, 5, 2))
    assert [v.path for v in layer.weights] == ["sep/depthwise_kernel", "sep/pointwise_kernel",
                                               "sep/bias"]


def test_global_average_pooling_1d_mask(backend):
    x = rand(2, 5, 3)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    expected = np.stack([x[0, :3].mean(0), x[1, [0, 2, 3, 4]].mean(0)])
    _, y = run_layer(lambda: L.GlobalAveragePooling1D(), x, backend,
                     call_kwargs={"mask": mask})
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    check_against_keras(lambda: L.GlobalAveragePooling1D(keepdims=True),
                        lambda keras: keras.layers.GlobalAveragePooling1D(keepdims=True), x,
                        "numpy", call_kwargs={"mask": mask})


def test_average_pooling_same_counts_only_real_elements():
    x = np.arange(1, 6, dtype="float32").reshape(1, 5, 1)
    _, y = run_layer(lambda: L.AveragePooling1D(2, padding="same"), x, "numpy")
    np.testing.assert_allclose(y[0, :, 0], [1.5, 3.5, 5.0])


def test_symbolic_shapes():
    inp = kbridge.Input((9, 9, 3))
    assert tuple(L.Conv2D(4, 3, strides=2, padding="same")(inp).shape) == (None, 5, 5, 4)
    assert tuple(L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)(
        inp).shape) == (None, 18, 18, 4)
    assert tuple(L.MaxPooling2D(3, 2)(inp).shape) == (None, 4, 4, 3)
