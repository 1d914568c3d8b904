"""Initializers against Keras 3: the public names (aliases of the classes), get() by every
name, STFT values (deterministic: exact), Orthogonal (orthogonal, seeded, gain), configs."""

import numpy as np
import pytest

import kbridge
import kbridge.initializers as I

keras = pytest.importorskip("keras")

ALIASES = ["constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity",
           "lecun_normal", "lecun_uniform", "ones", "orthogonal", "random_normal",
           "random_uniform", "stft", "truncated_normal", "variance_scaling", "zeros",
           "IdentityInitializer", "OrthogonalInitializer", "STFTInitializer"]


@pytest.mark.parametrize("name", ALIASES)
def test_public_aliases_name_the_same_class_as_keras(name):
    keras_cls = getattr(keras.initializers, name)
    ours = getattr(I, name)
    assert ours.__name__ == keras_cls.__name__
    assert isinstance(I.get(name), ours)
    # Keras resolves the same string to the same class (its get("constant") fails: Constant
    # cannot be built from an empty config there).
    if name != "constant":
        assert type(keras.initializers.get(name)).__name__ == ours.__name__


def test_every_keras_public_name_exists():
    missing = [n for n in dir(keras.initializers) if not n.startswith("_") and not hasattr(I, n)]
    assert missing == []


STFT_CASES = [
    ({}, (16, 1, 9)),
    ({"side": "imag"}, (16, 1, 9)),
    ({"window": "hamming", "scaling": "spectrum", "periodic": True}, (8, 2, 5)),
    ({"window": None}, (5, 1, 4)),
    ({"window": list(np.linspace(0.0, 1.0, 6)), "scaling": None}, (6, 1, 3)),
]


@pytest.mark.parametrize("kwargs,shape", STFT_CASES)
def test_stft_equals_keras(kwargs, shape, backend):
    # Keras gives (frame_length, 1, bins) for any channel count; kbridge repeats it.
    expected = np.broadcast_to(np.asarray(keras.initializers.STFT(**kwargs)(shape)), shape)
    init = I.get({"class_name": "STFT", "config": I.STFT(**kwargs).get_config()})
    variable = kbridge.Variable(init, shape=shape, dtype="float32")
    np.testing.assert_array_equal(variable.numpy(), expected)


def test_stft_float64_and_errors():
    expected = np.asarray(keras.initializers.STFT("imag")((8, 1, 5), dtype="float64"))
    actual = I.STFT("imag")((8, 1, 5), dtype="float64")
    assert actual.dtype == np.float64
    # Keras rounds part of the float64 computation through float32; kbridge stays float64.
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="'real' or 'imag'"):
        I.STFT(side="both")
    with pytest.raises(ValueError, match="scaling"):
        I.STFT(scaling="l2")
    with pytest.raises(ValueError, match="Unknown `window` 'nope'"):
        I.STFT(window="nope")
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        I.STFT(window=[1.0, 2.0])((6, 1, 3))


@pytest.mark.parametrize("shape", [(6, 4), (3, 8), (2, 3, 5)])
def test_orthogonal_is_orthogonal_and_seeded(shape, backend):
    init = I.get({"class_name": "OrthogonalInitializer", "config": {"gain": 2.0, "seed": 7}})
    assert isinstance(init, I.Orthogonal)
    values = kbridge.Variable(init, shape=shape).numpy()
    assert values.shape == shape and values.dtype == np.float32
    flat = values.reshape(-1, shape[-1])
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(small, 4.0 * np.eye(len(small)), atol=1e-5)
    # Same seed: same values; another seed: other values. Keras's RNG differs, so only its
    # statistics are compared: same gain, same orthogonality.
    np.testing.assert_array_equal(I.Orthogonal(gain=2.0, seed=7)(shape), values)
    assert not np.allclose(I.Orthogonal(gain=2.0, seed=8)(shape), values)
    k_flat = np.asarray(keras.initializers.Orthogonal(gain=2.0, seed=7)(shape)).reshape(flat.shape)
    k_small = k_flat.T @ k_flat if flat.shape[0] >= flat.shape[1] else k_flat @ k_flat.T
    np.testing.assert_allclose(small, k_small, atol=1e-5)


@pytest.mark.parametrize("name", ["STFT", "Orthogonal", "Identity"])
def test_config_round_trip_and_keras_configs(name):
    init = getattr(I, name)()
    again = I.deserialize(I.serialize(init))
    assert type(again) is type(init) and again.get_config() == init.get_config()
    keras_config = keras.initializers.serialize(getattr(keras.initializers, name)())
    from_keras = I.deserialize(keras_config)
    assert type(from_keras) is type(init)
    ours = from_keras.get_config()
    assert {k: ours[k] for k in keras_config["config"]} == keras_config["config"]


def test_get_accepts_classes_and_arrays():
    assert isinstance(I.get(I.STFT), I.STFT)
    values = np.arange(6.0).reshape(2, 3)
    fn = I.get(values)
    np.testing.assert_array_equal(fn((2, 3), "float32"), values.astype("float32"))
    with pytest.raises(ValueError, match=r"Expected `shape` to be \(2, 3\)"):
        fn((3, 2))
    with pytest.raises(ValueError, match="Unknown initializer 'nope'"):
        I.get("nope")


@pytest.mark.parametrize("shape,axes", [((4, 3, 5), ([0], [1, 2])), ((2, 6, 3), ([0, 1], [2])),
                                        ((3, 4, 5, 6), (None, None))])
def test_variance_scaling_axes_against_keras(shape, axes):
    from keras.src.initializers.random_initializers import compute_fans as keras_fans

    input_axes, output_axes = axes
    assert I.compute_fans(shape, input_axes, output_axes) == keras_fans(shape, input_axes,
                                                                        output_axes)
    init = I.he_uniform(seed=3, input_axes=input_axes, output_axes=output_axes)
    keras_init = keras.initializers.he_uniform(seed=3, input_axes=input_axes,
                                               output_axes=output_axes)
    assert init.get_config() == keras_init.get_config()
    # Same limit sqrt(6 / fan_in) as Keras: the extremes of many draws approach it.
    fan_in, _ = I.compute_fans(shape, input_axes, output_axes)
    limit = np.sqrt(6.0 / fan_in)
    sampler = I.he_uniform(input_axes=input_axes, output_axes=output_axes)
    values = np.concatenate([sampler(shape).ravel() for _ in range(50)])
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.95 * limit
