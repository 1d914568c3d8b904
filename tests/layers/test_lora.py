"""LoRA (Keras 3's ``enable_lora`` / ``lora_rank``): numerics against Keras 3, training
with ``fit`` and the torch adapter (only LoRA weights change), merge / unmerge, configs."""

import os

import numpy as np
import pytest

import kbridge

rng = np.random.default_rng(1)
X = rng.normal(size=(16, 8)).astype("float32")
Y = rng.normal(size=(16, 3)).astype("float32")
A = rng.normal(size=(8, 2)).astype("float32")
Bf = rng.normal(size=(2, 5)).astype("float32")


def _np(x):
    return np.asarray(kbridge.ops.convert_to_numpy(x))


def test_dense_and_embedding_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    keras = pytest.importorskip("keras")
    w, b = rng.normal(size=(8, 5)).astype("float32"), rng.normal(size=(5,)).astype("float32")
    k = keras.layers.Dense(5)
    k.build((None, 8))
    k.set_weights([w, b])
    k.enable_lora(2, lora_alpha=6)
    d = kbridge.layers.Dense(5)
    d.build((None, 8))
    d.set_weights([w, b])
    d.enable_lora(2, lora_alpha=6)
    for layer in (k, d):
        layer.lora_kernel_a.assign(A)
        layer.lora_kernel_b.assign(Bf)
    np.testing.assert_allclose(_np(d(X)), np.asarray(k(X)), atol=1e-5)
    assert [v.name for v in d.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    assert not d.kernel.trainable
    # LoRA over an int8 kernel (Keras's path: quantized matmul plus the LoRA product).
    k.quantize("int8")
    d.quantize("int8")
    np.testing.assert_allclose(_np(d(X)), np.asarray(k(X)), atol=1e-4)
    table = rng.normal(size=(10, 4)).astype("float32")
    ke, e = keras.layers.Embedding(10, 4), kbridge.layers.Embedding(10, 4)
    ids = np.array([[1, 3, 9]])
    for layer in (ke, e):
        layer.build()
        layer.set_weights([table])
        layer.enable_lora(3)
        layer.lora_embeddings_a.assign(rng.normal(size=(10, 3)).astype("float32") * 0 + 0.1)
        layer.lora_embeddings_b.assign(np.full((3, 4), 0.2, "float32"))
    np.testing.assert_allclose(_np(e(ids)), np.asarray(ke(ids)), atol=1e-6)


def test_config_merge_unmerge_and_errors():
    d = kbridge.layers.Dense(5, lora_rank=2, lora_alpha=4)
    d.build((None, 8))
    assert d.lora_enabled and d.lora_kernel_a.shape == (8, 2)
    d.lora_kernel_b.assign(Bf)
    config = d.get_config()
    assert config["lora_rank"] == 2 and config["lora_alpha"] == 4
    clone = kbridge.layers.Dense.from_config(config)
    clone.build((None, 8))
    assert clone.lora_alpha == 4 and clone.lora_kernel_b.shape == (2, 5)
    y = _np(d(X))
    d.merge_lora()
    assert not d.lora_enabled and len(d.weights) == 2 and d.kernel.trainable
    np.testing.assert_allclose(_np(d(X)), y, atol=1e-5)
    d.unmerge_lora()
    assert d.lora_enabled and not d.kernel.trainable
    np.testing.assert_allclose(_np(d(X)), y, atol=1e-5)
    with pytest.raises(kbridge.ArgumentError, match="already enabled"):
        d.enable_lora(2)
    with pytest.raises(kbridge.ArgumentError, match="positive integer"):
        kbridge.layers.Dense(3, lora_rank=0)
    e = kbridge.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3))
    e.build((None, 4, 8))
    e.enable_lora(2)
    assert e.lora_kernel_a.shape == (8, 2) and e.lora_kernel_b.shape == (2, 2, 3)


def _model():
    inputs = kbridge.Input((8,))
    x = kbridge.layers.Dense(6, activation="relu", name="query")(inputs)
    x = kbridge.layers.Dense(6, name="key")(x)
    return kbridge.Model(inputs, kbridge.layers.Dense(3, name="value")(x))


@pytest.mark.parametrize("backend,quantize", [("jax", None), ("torch", None),
                                              ("tensorflow", None), ("jax", "int8"),
                                              ("torch", "int8")])
def test_fit_trains_only_lora(backend, quantize):
    with kbridge.backend.use(backend):
        model = _model()
        if quantize:  # QLoRA: gradients pass the int8 layers to the LoRA factors below
            model.quantize(quantize)
        layers = model.enable_lora(2, target=["query", "val.e"])
        assert sorted(l.name for l in layers) == ["query", "value"]
        assert len(model.trainable_weights) == 4
        before = {v.path: np.array(v.numpy()) for v in model.weights}
        model.compile(optimizer=kbridge.optimizers.Adam(0.05), loss="mse")
        history = model.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    changed = {v.path for v in model.weights if not np.array_equal(v.numpy(), before[v.path])}
    assert changed == {"query/lora_kernel_a", "query/lora_kernel_b",
                       "value/lora_kernel_a", "value/lora_kernel_b"}
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_torch_adapter_loop_trains_only_lora():
    torch = pytest.importorskip("torch")
    with kbridge.backend.use("torch"):
        model = _model()
        model.enable_lora(2, target=["key"])
        model(X)
    module = kbridge.adapters.to_torch(model)
    trainable = [p for p in module.parameters() if p.requires_grad]
    assert len(trainable) == 2
    before = {v.path: np.array(v.numpy()) for v in model.weights}
    opt = torch.optim.SGD(trainable, lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        loss = ((module(torch.tensor(X)) - torch.tensor(Y)) ** 2).mean()
        loss.backward()
        opt.step()
    changed = {v.path for v in model.weights if not np.array_equal(v.numpy(), before[v.path])}
    assert changed == {"key/lora_kernel_a", "key/lora_kernel_b"}


def test_lora_release_round_trip(tmp_path):
    model = _model()
    model.enable_lora(2, target=["key"])
    model.get_layer("key").lora_kernel_b.assign(np.full((2, 6), 0.3, "float32"))
    kbridge.hub.save(model, tmp_path / "r")
    for backend in ("numpy", "torch"):
        loaded = kbridge.hub.load(str(tmp_path / "r"), backend=backend)
        assert loaded.get_layer("key").lora_enabled
        np.testing.assert_allclose(_np(loaded(X)), _np(model(X)), atol=1e-5)
