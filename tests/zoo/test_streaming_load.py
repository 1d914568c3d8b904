"""Converter loads stream: ``kbridge.hub.load`` of a Hugging Face checkpoint reads, converts
and assigns one weight at a time, each fresh read given to its Variable without a copy, and
no two Variables share memory (tied weights, parts of one fused tensor). No timing."""

import numpy as np
import pytest

import kbridge
import model_zoo  # noqa: F401  (registers the hub loaders)
from model_zoo import hf_checkpoint
from model_zoo.text import convert_llm
from model_zoo.text.llm import DecoderLM
from tests.conftest import traced_numpy_load

# Four layers of width 128: the largest weight (the embedding, 8% of the total) bounds what
# one weight in flight adds.
SMALL = dict(vocabulary_size=512, num_layers=4, num_heads=4, num_key_value_heads=2,
             hidden_dim=128, intermediate_dim=256)


def _export(tmp_path, name, model_type=None, **config):
    with kbridge.backend.use("numpy"):
        model = DecoderLM(**{**SMALL, **config})
    path = convert_llm.export_llm_to_hf(model, str(tmp_path / name), model_type=model_type)
    return model, path


def _owners(model):
    """Each variable's numpy value and the root buffer that holds it."""
    out = []
    for v in model.weights:
        value = v.value
        while isinstance(value.base, np.ndarray):
            value = value.base
        out.append((v.path, value))
    return out


def test_a_converter_load_allocates_each_weight_once(tmp_path):
    model, path = _export(tmp_path, "llama")
    weights = sum(w.nbytes for w in model.get_weights())
    largest = max(w.nbytes for w in model.get_weights())
    back, peak = traced_numpy_load(path)
    # The weights once, one weight in flight (a transposed kernel: its read and its copy)
    # and a little bookkeeping. (Converting the whole dict first, then copying on assignment,
    # peaked near twice the weights.)
    assert peak < weights + largest + 0.1 * weights, (peak, weights, largest)
    for got, want in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    roots = [root for _, root in _owners(back)]
    assert len({id(r) for r in roots}) == len(roots)  # one buffer per variable
    assert all(r.flags.writeable for r in roots)


@pytest.mark.parametrize("model_type,config", [
    ("phi3", dict(partial_rotary_factor=0.5)),  # fused q/k/v and gate/up: split on reading
    ("qwen3", dict(qk_norm=True, tie_embeddings=True)),  # tied head: lm_head not stored
])
def test_parts_of_one_tensor_and_tied_weights_get_their_own_memory(tmp_path, model_type,
                                                                   config):
    model, path = _export(tmp_path, model_type, model_type=model_type, **config)
    back = kbridge.hub.load(path, backend="numpy")
    for got, want in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    owners = _owners(back)
    for i, (path_a, a) in enumerate(owners):
        for path_b, b in owners[i + 1:]:
            assert not np.shares_memory(a, b), (path_a, path_b)
    for (name, root), v in zip(owners, back.weights):
        assert root.nbytes == v.value.nbytes, name  # no variable keeps a larger read alive


def test_torch_variables_adopt_the_converted_arrays(tmp_path):
    torch = pytest.importorskip("torch")
    model, path = _export(tmp_path, "llama")
    back = kbridge.hub.load(path, backend="torch")
    pointers = [v.value.data_ptr() for v in back.weights]
    assert len(set(pointers)) == len(pointers)
    assert all(isinstance(v.value, torch.nn.Parameter) and v.value.is_contiguous()
               for v in back.weights)
    for got, want in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_lazy_arrays_record_layout_changes_and_read_on_demand(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"w": rng.standard_normal((6, 4)).astype("float32"),
              "conv": rng.standard_normal((5, 3, 2, 2)).astype("float32"),
              "s": np.array(2.5, "float32")}
    hf_checkpoint.write(tmp_path, {"model_type": "none"}, arrays)
    lazy = hf_checkpoint.read_weights(tmp_path)
    w, conv = lazy["w"], lazy["conv"]
    assert isinstance(w, hf_checkpoint.LazyArray) and w.shape == (6, 4) and w.nbytes == 96
    cases = [(w.T, arrays["w"].T), (w.T.reshape(2, 2, 6), arrays["w"].T.reshape(2, 2, 6)),
             (w.reshape(-1, 3), arrays["w"].reshape(-1, 3)), (w[1:4], arrays["w"][1:4]),
             (w[2:], arrays["w"][2:]), (w[:, 1:3], arrays["w"][:, 1:3]),
             (w.T[1:3], arrays["w"].T[1:3]), (w[1:5][1:3], arrays["w"][2:4]),
             (np.transpose(conv, (2, 3, 1, 0)), np.transpose(arrays["conv"], (2, 3, 1, 0))),
             (w.astype("float16"), arrays["w"].astype("float16")), (lazy["s"], arrays["s"])]
    for got, want in cases:
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(np.asarray(got), want)
    with pytest.raises(ValueError, match="cannot reshape"):
        w.reshape(5, 5)
    with pytest.raises(TypeError, match="np.asarray"):
        w[np.array([0, 1])]


def test_int8_loads_of_a_checkpoint_quantize_layer_by_layer(tmp_path):
    """``hub.load(checkpoint, quantize="int8")`` quantizes each layer as its weight arrives:
    the same model as loading then quantizing, without ever holding the float32 weights
    whole (numpy allocations traced)."""
    model, path = _export(tmp_path, "llama")
    weights = sum(w.nbytes for w in model.get_weights())
    largest = max(w.nbytes for w in model.get_weights())
    with kbridge.backend.use("numpy"):
        expected = kbridge.hub.load(path)
        expected.quantize("int8")
    streamed, peak = traced_numpy_load(path, quantize="int8")
    assert [v.path for v in streamed.weights] == [v.path for v in expected.weights]
    for got, want in zip(streamed.get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert any(str(v.dtype) == "int8" for v in streamed.weights)
    # int8 kernels are a quarter of float32; the float embedding and norms stay, plus one
    # float weight in flight and its quantization temporaries.
    assert peak < 0.6 * weights + 2 * largest, (peak, weights, largest)
    ids = np.array([[1, 5, 9, 3]], "int32")
    with kbridge.backend.use("numpy"):
        np.testing.assert_array_equal(np.asarray(streamed(ids)), np.asarray(expected(ids)))
