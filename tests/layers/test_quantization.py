"""Weight quantization (Keras 3's ``quantize`` API): numerics against Keras 3 and the numpy
backend, configs, and quantized hub releases on every backend."""

import os

import numpy as np
import pytest

import kbridge
from kbridge import hub, quantizers
from tests.conftest import traced_numpy_load

BACKENDS = ["numpy", "jax", "torch", "tensorflow"]
rng = np.random.default_rng(0)
X = rng.normal(size=(3, 8)).astype("float32")
W = rng.normal(size=(8, 5)).astype("float32")
B = rng.normal(size=(5,)).astype("float32")


def _np(x):
    return np.asarray(kbridge.ops.convert_to_numpy(x))


def _dense(backend, mode=None, **kw):
    with kbridge.backend.use(backend):
        layer = kbridge.layers.Dense(5, **kw)
        layer.build((None, 8))
        layer.set_weights([W, B])
        if mode:
            layer.quantize(mode)
    return layer


@pytest.fixture(scope="module")
def keras_np():
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_dense_matches_keras(keras_np, mode):
    keras = keras_np
    k = keras.layers.Dense(5)
    k.build((None, 8))
    k.set_weights([W, B])
    config = keras.quantizers.Int4QuantizationConfig(block_size=-1) if mode == "int4" else None
    k.quantize(mode, config=config)
    layer = _dense("numpy", mode)
    assert np.array_equal(np.asarray(k._kernel), layer.kernel.numpy())
    np.testing.assert_allclose(np.asarray(k.kernel_scale), layer.kernel_scale.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(k(X)), _np(layer(X)), atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_backends_match_numpy_and_dequantized_reference(backend, mode):
    ref = _np(_dense("numpy", mode)(X))
    layer = _dense(backend, mode)
    np.testing.assert_allclose(_np(layer(X)), ref, atol=1e-5)
    assert layer.kernel.dtype == "int8"
    assert layer.kernel.shape == ((8, 5) if mode == "int8" else (8, 3))
    assert layer.dtype_policy.name == ("int8_from_float32" if mode == "int8"
                                       else "int4/-1_from_float32")
    # Weight-only: exactly the dequantized kernel's matmul, close to the float layer.
    with kbridge.backend.use(backend):
        wo = kbridge.layers.Dense(5)
        wo.build((None, 8))
        wo.set_weights([W, B])
        wo.quantize(mode, config=quantizers.Int8QuantizationConfig(activation_quantizer=None)
                    if mode == "int8" else None)
    deq = _np(wo._dequantized())
    np.testing.assert_allclose(_np(wo(X)), X @ deq + B, atol=1e-4)
    tol = 0.05 if mode == "int8" else 0.6
    np.testing.assert_allclose(_np(wo(X)), X @ W + B, atol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_einsum_and_embedding(backend):
    kernel = rng.normal(size=(8, 2, 3)).astype("float32")
    table = rng.normal(size=(10, 6)).astype("float32")
    x = rng.normal(size=(2, 4, 8)).astype("float32")
    ids = np.array([[1, 2, 9]])
    outs = {}
    for be in ("numpy", backend):
        with kbridge.backend.use(be):
            e = kbridge.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3))
            e.build((None, 4, 8))
            e.set_weights([kernel])
            e.quantize("int4")
            emb = kbridge.layers.Embedding(10, 6)
            emb.build()
            emb.set_weights([table])
            emb.quantize("int8")
            outs[be] = (_np(e(x)), _np(emb(ids)))
    assert e.kernel_scale.shape == (2, 3) and emb.embeddings_scale.shape == (10,)
    np.testing.assert_allclose(outs[backend][0], outs["numpy"][0], atol=1e-5)
    np.testing.assert_allclose(outs[backend][1], outs["numpy"][1], atol=1e-6)
    np.testing.assert_allclose(outs[backend][1], table[ids], atol=0.02)
    np.testing.assert_allclose(outs[backend][0], np.einsum("abc,cde->abde", x, kernel),
                               atol=0.6 * np.abs(kernel).max() * 4)


def test_pack_unpack_and_errors():
    values = rng.integers(-8, 8, size=(5, 7)).astype("int8")
    for axis in (0, 1, -1):
        packed, shape, n = quantizers.pack_int4(values, axis=axis)
        assert packed.dtype == np.int8 and n == values.shape[axis]
        assert np.array_equal(_np(quantizers.unpack_int4(packed, n, axis=axis)), values)
    layer = _dense("numpy")
    with pytest.raises(kbridge.ArgumentError, match="int3"):
        layer.quantize("int3")
    layer.quantize("int8")
    with pytest.raises(kbridge.ArgumentError, match="already quantized"):
        layer.quantize("int4")
    with pytest.raises(kbridge.ArgumentError, match="block_size"):
        quantizers.Int4QuantizationConfig(block_size=64)
    y = quantizers.quantize_and_dequantize(np.array([1.06, 500.0, 0.3], "float32"), 1.0,
                                          "float8_e4m3fn", "float32")
    np.testing.assert_allclose(_np(y), [1.0, 448.0, 0.3125])


def test_config_round_trip_and_float8():
    layer = _dense("numpy", "int8")
    clone = kbridge.layers.Dense.from_config(layer.get_config())
    clone.build((None, 8))
    assert clone.kernel.dtype == "int8" and clone.kernel_scale.shape == (5,)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(_np(clone(X)), _np(layer(X)))
    f8 = _dense("numpy", "float8")
    assert f8.dtype_policy.name == "float8_from_float32"
    np.testing.assert_allclose(_np(f8(X)), X @ W + B, atol=0.5)


def _model(backend):
    with kbridge.backend.use(backend):
        inputs = kbridge.Input((4,), dtype="int32")
        x = kbridge.layers.Embedding(12, 8)(inputs)
        x = kbridge.layers.EinsumDense("abc,cd->abd", output_shape=(None, 6), bias_axes="d")(x)
        outputs = kbridge.layers.Dense(3)(x)
        return kbridge.Model(inputs, outputs)


IDS = np.array([[1, 4, 7, 11], [0, 2, 3, 5]], "int32")


def test_quantized_release_round_trip(tmp_path):
    model = _model("numpy")
    model.quantize("int8")
    ref = _np(model(IDS))
    hub.save(model, tmp_path / "q8")
    from kbridge.hub import safetensors_io

    header, _, _ = safetensors_io.read_header(str(tmp_path / "q8" / "model.safetensors"))
    dtypes = {k: v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert sorted(k for k, d in dtypes.items() if d == "I8") == sorted(
        k for k in dtypes if k.endswith(("/kernel", "/embeddings")))
    for backend in BACKENDS:
        loaded = hub.load(str(tmp_path / "q8"), backend=backend)
        kinds = {v.path: v.dtype for v in loaded.weights}
        assert kinds == {k: ("int8" if d == "I8" else "float32") for k, d in dtypes.items()}
        np.testing.assert_allclose(_np(loaded(IDS)), ref, atol=1e-5)


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_load_quantize_equals_load_then_quantize(tmp_path, mode):
    model = _model("numpy")
    hub.save(model, tmp_path / "f32")
    for backend in ("numpy", "torch"):
        streamed = hub.load(str(tmp_path / "f32"), backend=backend, quantize=mode)
        after = hub.load(str(tmp_path / "f32"), backend=backend)
        after.quantize(mode)
        assert [(v.path, v.dtype, v.shape) for v in streamed.weights] == \
            [(v.path, v.dtype, v.shape) for v in after.weights]
        for a, b in zip(streamed.weights, after.weights):
            assert np.array_equal(a.numpy(), b.numpy())
        np.testing.assert_allclose(_np(streamed(IDS)), _np(after(IDS)), atol=1e-6)
    with pytest.raises(kbridge.ArgumentError, match="int2"):
        hub.load(str(tmp_path / "f32"), quantize="int2")


@pytest.mark.parametrize("shape,axis", [((300, 70), 0), ((300, 70), -1), ((5, 6, 7), (0, 1)),
                                        ((200,), 0), ((4, 30, 3), -1)])
def test_host_quantization_in_blocks_equals_the_whole_array_formula(shape, axis, monkeypatch):
    """Quantizing on the host works through blocks of rows (few temporaries while a load
    quantizes); the result is bit-identical to the formula on the whole array."""
    from kbridge import quantizers

    monkeypatch.setattr(quantizers, "_BLOCK", 64)  # many blocks
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    scale = np.float32(127) / (np.max(np.abs(x), axis=axis, keepdims=True)
                               + np.float32(quantizers.EPSILON))
    expected = np.clip(np.round(x * scale), -127, 127).astype("int8")
    q, s = quantizers.abs_max_quantize(x, axis, to_numpy=True)
    np.testing.assert_array_equal(s, scale)
    np.testing.assert_array_equal(q, expected)


def _streamed_case(source, transposed, shape, axis, value_range=(-127, 127)):
    """``abs_max_quantize_streamed`` of ``source`` next to the in-memory formula on the
    weight it stands for; the reads it made, as (start, stop) element ranges."""
    reads = []

    def read_flat(start, stop):
        reads.append((start, stop))
        return source.reshape(-1)[start:stop].copy()

    weight = (source.T if transposed else source).reshape(shape)
    got = quantizers.abs_max_quantize_streamed(read_flat, source.shape, transposed, shape,
                                               axis, value_range)
    want = quantizers.abs_max_quantize(weight, axis, value_range, to_numpy=True)
    return got, want, reads


@pytest.mark.parametrize("source_shape,transposed,shape,axis", [
    ((96, 40), False, (96, 40), 0),  # a Dense kernel as stored: a scale per column
    ((96, 40), False, (96, 40), 1),  # an embedding table: a scale per row
    ((96, 40), True, (40, 96), 0),  # a Hugging Face Linear weight (out, in) used as (in, out)
    ((96, 40), True, (40, 8, 12), 0),  # ... split into heads (query projection)
    ((96, 40), True, (8, 5, 96), (0, 1)),  # ... heads first (attention output)
    ((96, 40), True, (40, 96), 1),  # a scale per source column
    ((6, 16, 40), False, (6, 16, 40), (0, 1)),  # an einsum kernel, heads first
    ((96, 40), False, (96, 8, 5), (1, 2)),
])
def test_streamed_quantization_equals_the_in_memory_one(source_shape, transposed, shape, axis,
                                                        monkeypatch):
    """Quantizing while reading a block of the source at a time (``hub.load(...,
    quantize=...)``) gives the very bits of quantizing the whole weight, and never reads
    more than a block at once."""
    monkeypatch.setattr(quantizers, "_BLOCK", 256)
    source = np.random.default_rng(1).normal(size=source_shape).astype("float32")
    (q, scale), (want_q, want_scale), reads = _streamed_case(source, transposed, shape, axis)
    np.testing.assert_array_equal(q, want_q)
    np.testing.assert_array_equal(scale, want_scale.reshape(-1))
    assert max(stop - start for start, stop in reads) <= 256 + max(source_shape[1:] or (1,))
    assert sorted(set(reads))[0][0] == 0 and sorted(set(reads))[-1][1] == source.size


def test_streamed_quantization_declines_what_it_cannot_stream():
    source = np.ones((12, 10), "float32")
    # A scale over a middle axis, or over source rows of a transposed reshape that mixes
    # them: the layer falls back to reading the weight whole.
    assert _streamed_case(source.reshape(3, 4, 10), False, (3, 4, 10), 1)[0] is None
    assert _streamed_case(source, True, (2, 5, 12), 0)[0] is None


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_checkpoint_loads_quantize_without_the_float_weights(tmp_path, mode, monkeypatch):
    """A Hugging Face checkpoint loaded with ``quantize=`` is quantized as it is read: the
    same model as loading then quantizing, while the numpy allocations stay near the
    quantized size (small blocks, so the test model's size shows what a large one's does)."""
    import model_zoo  # noqa: F401  (registers the checkpoint loaders)
    from model_zoo.text import convert_llm
    from model_zoo.text.llm import DecoderLM

    with kbridge.backend.use("numpy"):
        model = DecoderLM(vocabulary_size=512, num_layers=2, num_heads=4,
                          num_key_value_heads=2, hidden_dim=128, intermediate_dim=256)
    path = convert_llm.export_llm_to_hf(model, str(tmp_path / "llama"))
    weights = sum(w.nbytes for w in model.get_weights())
    with kbridge.backend.use("numpy"):
        expected = hub.load(path)
        expected.quantize(mode)
    monkeypatch.setattr(quantizers, "_BLOCK", 1 << 12)
    streamed, peak = traced_numpy_load(path, quantize=mode)
    for got, want in zip(streamed.weights, expected.weights):
        assert (got.path, got.dtype) == (want.path, want.dtype)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    # int8 is a quarter of float32 (int4 an eighth), plus the float norms, the model's
    # Python objects (~0.05 here) and a few blocks. Reading each float weight whole before
    # quantizing it peaked at 0.58 (int8) on this model.
    assert peak < (0.4 if mode == "int8" else 0.35) * weights, (peak / weights)
