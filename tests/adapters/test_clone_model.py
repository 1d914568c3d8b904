"""kbridge.models.clone_model with Keras's arguments: clone_function, call_function,
input_tensors, recursive (checked against real Keras on the same architecture)."""

import numpy as np
import pytest

import kbridge
from kbridge import ops

keras = pytest.importorskip("keras")

X = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")


def _functional(lib):
    inner = lib.Sequential([lib.Input((8,)), lib.layers.Dense(8, activation="relu"),
                            lib.layers.Dense(4)], name="inner")
    x = lib.Input((5,), name="x")
    h = lib.layers.Dense(8, name="first")(x)
    shared = lib.layers.Dense(8, name="shared")
    h = shared(shared(h))
    return lib.Model(x, lib.layers.Dense(2, name="head")(inner(h)))


def _freeze_dense(lib):
    def clone(layer):
        new = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, lib.layers.Dense):
            new.trainable = False
        return new
    return clone


def _summary(model, lib):
    out = []
    for layer in model.layers:
        if isinstance(layer, lib.Model):
            out.append((type(layer).__name__, _summary(layer, lib)))
        else:
            # Auto-generated names depend on how many layers each library made before.
            named = layer.name if layer.name in ("first", "shared", "head") else None
            out.append((type(layer).__name__, named, layer.trainable))
    return out


@pytest.mark.parametrize("recursive", [False, True])
def test_clone_function_matches_keras(recursive):  # structure only: one backend is enough
    ours = kbridge.models.clone_model(_functional(kbridge), clone_function=_freeze_dense(
        kbridge), recursive=recursive)
    theirs = keras.models.clone_model(_functional(keras), clone_function=_freeze_dense(keras),
                                      recursive=recursive)
    assert _summary(ours, kbridge)[1:] == _summary(theirs, keras)[1:]  # input names differ
    assert len(ours.trainable_weights) == len(theirs.trainable_weights)


def test_shared_layers_call_function_and_input_tensors(backend):
    model = _functional(kbridge)
    expected = ops.convert_to_numpy(model(X))
    same = kbridge.models.clone_model(model, clone_function=lambda layer: layer)
    np.testing.assert_allclose(ops.convert_to_numpy(same(X)), expected, rtol=1e-6)
    fresh = kbridge.models.clone_model(model)
    assert len(fresh.weights) == len(model.weights)
    fresh.set_weights(model.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(fresh(X)), expected, rtol=1e-5, atol=1e-6)

    def double_head(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        return kbridge.layers.Rescaling(2.0)(out) if layer.name == "head" else out

    doubled = kbridge.models.clone_model(model, clone_function=lambda layer: layer,
                                         call_function=double_head)
    np.testing.assert_allclose(ops.convert_to_numpy(doubled(X)), 2 * expected, rtol=1e-5,
                               atol=1e-6)
    new_input = kbridge.Input((5,), name="renamed")
    rebuilt = kbridge.models.clone_model(model, input_tensors=new_input,
                                         clone_function=lambda layer: layer)
    assert rebuilt.inputs[0] is new_input


def test_sequential_and_errors(backend):
    seq = kbridge.Sequential([kbridge.Input((5,)), kbridge.layers.Dense(3)])
    clone = kbridge.models.clone_model(seq, input_tensors=[kbridge.Input((5,))])
    assert isinstance(clone, kbridge.Sequential) and clone.weights[0] is not seq.weights[0]
    with pytest.raises(kbridge.ArgumentError, match="Functional models only"):
        kbridge.models.clone_model(seq, call_function=lambda layer, x: layer(x))
    with pytest.raises(kbridge.ArgumentError, match="one input tensor"):
        kbridge.models.clone_model(seq, input_tensors=[kbridge.Input((5,))] * 2)
    with pytest.raises(kbridge.ArgumentError, match="must be KerasTensors"):
        kbridge.models.clone_model(seq, input_tensors=np.ones((1, 5)))
    with pytest.raises(kbridge.ArgumentError, match="Unexpected keyword"):
        kbridge.models.clone_model(seq, bogus=1)
