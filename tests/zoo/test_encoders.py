"""RoBERTa, XLM-RoBERTa and DistilBERT in the model zoo: tiny random transformers models
(built once per module) loaded with ``kbridge.hub.load`` on every backend against
transformers' last hidden state, exported back and reloaded in transformers, and bad input.

Needs torch and transformers (the test extra); skips without them. Nothing is downloaded.
"""

import json
import os

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.hub import ReleaseError
from model_zoo.text import convert_bert, convert_distilbert, convert_roberta
from model_zoo.text.bert import BertEncoder

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TOLERANCE = 1e-4
SIZES = dict(vocab_size=100, num_hidden_layers=2, num_attention_heads=4, hidden_size=32,
             intermediate_size=37, max_position_embeddings=40, hidden_dropout_prob=0.0)
# Right-padded batch with its mask; RoBERTa pads with 1, BERT-style models with 0.
ROBERTA_IDS = np.array([[0, 17, 9, 33, 55, 70, 2], [0, 5, 8, 2, 1, 1, 1]], "int64")
DISTIL_IDS = np.array([[101, 17, 9, 33, 55, 70, 3], [101, 5, 8, 3, 0, 0, 0]], "int64") % 100


def _hf_model(kind):
    torch.manual_seed({"roberta": 0, "xlm-roberta": 1, "distilbert": 2}[kind])
    if kind == "distilbert":
        config = transformers.DistilBertConfig(vocab_size=100, n_layers=2, n_heads=4, dim=32,
                                               hidden_dim=37, max_position_embeddings=40,
                                               activation="gelu")
        cls = transformers.DistilBertModel
    else:
        config_cls, cls = ((transformers.RobertaConfig, transformers.RobertaModel)
                           if kind == "roberta" else
                           (transformers.XLMRobertaConfig, transformers.XLMRobertaModel))
        config = config_cls(**SIZES, type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5)
    config._attn_implementation = "eager"
    model = cls(config).eval()
    with torch.no_grad():  # non-trivial LayerNorms, so a swapped gamma/beta would show
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _inputs(kind):
    ids = DISTIL_IDS if kind == "distilbert" else ROBERTA_IDS
    pad = 0 if kind == "distilbert" else 1
    return {"input_ids": ids.astype("int32"), "attention_mask": (ids != pad).astype("int32")}


def _reference(model, inputs):
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v.astype("int64")) for k, v in inputs.items()})
    return out.last_hidden_state.numpy()


def _max_diff(got, expected, mask):
    """Max difference on the real (unpadded) tokens."""
    return float(np.abs(np.asarray(got, "float64") - expected)[mask.astype(bool)].max())


@pytest.fixture(scope="module", params=["roberta", "xlm-roberta", "distilbert"])
def checkpoint(request, tmp_path_factory):
    """(kind, directory of a saved random transformers model, inputs, reference output)."""
    model = _hf_model(request.param)
    path = tmp_path_factory.mktemp(request.param) / "hf"
    model.save_pretrained(str(path))
    inputs = _inputs(request.param)
    return request.param, path, inputs, _reference(model, inputs)


def test_hub_load_matches_transformers(checkpoint, backend):
    kind, path, inputs, expected = checkpoint
    model = kbridge.hub.load(path, backend=backend)
    assert isinstance(model, BertEncoder) and model.backend_name == backend
    config = model.get_config()
    assert config["padding_index"] == (None if kind == "distilbert" else 1)
    assert config["type_vocabulary_size"] == (0 if kind == "distilbert" else 1)
    got = ops.convert_to_numpy(model(inputs))
    assert got.shape == expected.shape
    diff = _max_diff(got, expected, inputs["attention_mask"])
    print(f"\n[{kind}] {backend}: max |kbridge - transformers| = {diff:.2e}")
    assert diff < TOLERANCE
    # padding changes nothing for the real tokens: the second row alone, unpadded
    short = {k: v[1:, :4] for k, v in inputs.items()}
    np.testing.assert_allclose(ops.convert_to_numpy(model(short))[0], expected[1, :4],
                               atol=TOLERANCE)


def test_export_reloads_in_transformers(checkpoint, tmp_path):
    kind, path, inputs, expected = checkpoint
    model = kbridge.hub.load(path, backend="numpy")
    if kind == "distilbert":
        convert_distilbert.export_distilbert_to_hf(model, tmp_path / "out")
    else:
        convert_roberta.export_roberta_to_hf(model, tmp_path / "out", model_type=kind)
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_type"] == kind
    theirs = transformers.AutoModel.from_pretrained(str(tmp_path / "out"),
                                                    attn_implementation="eager").eval()
    assert type(theirs).__name__ == {"roberta": "RobertaModel", "xlm-roberta":
                                     "XLMRobertaModel", "distilbert": "DistilBertModel"}[kind]
    assert _max_diff(_reference(theirs, inputs), expected, inputs["attention_mask"]) < TOLERANCE
    # and the export converts back to the same weights, bit for bit
    again = kbridge.hub.load(tmp_path / "out", backend="numpy")
    for a, b in zip(again.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_kbridge_release_round_trip(checkpoint, tmp_path):
    kind, path, inputs, expected = checkpoint
    kbridge.hub.save(kbridge.hub.load(path, backend="numpy"), tmp_path / "rel")
    loaded = kbridge.hub.load(tmp_path / "rel", backend="torch")
    got = ops.convert_to_numpy(loaded(inputs))
    assert _max_diff(got, expected, inputs["attention_mask"]) < TOLERANCE


def test_positions_count_from_padding_index():
    # RoBERTa numbering: real tokens pad+1, pad+2, ...; padding tokens sit at pad.
    from model_zoo.text.bert import BertEmbeddings

    layer = BertEmbeddings(10, 4, max_sequence_length=8, type_vocabulary_size=1,
                           padding_index=1, dropout=0.0)
    layer.build((None, None))
    table = np.arange(32, dtype="float32").reshape(8, 4)
    layer.position_embeddings.assign(table)
    layer.word_embeddings.embeddings.assign(np.zeros((10, 4), "float32"))
    layer.token_type_embeddings.embeddings.assign(np.zeros((1, 4), "float32"))
    layer.layer_norm.gamma.assign(np.ones(4, "float32"))
    ids = np.array([[0, 5, 6, 1, 1]], "int32")
    out = ops.convert_to_numpy(layer(ids))
    normed = (table - table.mean(-1, keepdims=True)) / np.sqrt(table.var(-1, keepdims=True)
                                                               + 1e-12)
    np.testing.assert_allclose(out[0], normed[[2, 3, 4, 1, 1]], atol=1e-5)


def test_detection_does_not_overlap(checkpoint):
    kind, path, _, _ = checkpoint
    config = json.loads((path / "config.json").read_text())
    claims = {"bert": convert_bert.detect(path, config),
              "roberta": convert_roberta.detect(path, config),
              "distilbert": convert_distilbert.detect(path, config)}
    owner = "distilbert" if kind == "distilbert" else "roberta"
    assert claims == {k: k == owner for k in claims}


def test_bad_input_names_the_file(checkpoint, tmp_path):
    kind, path, _, _ = checkpoint
    bad = tmp_path / "bad"
    bad.mkdir()
    config = json.loads((path / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3,
                                                  "n_layers": 3}))
    os.link(path / "model.safetensors", bad / "model.safetensors")
    layer = "transformer.layer.2" if kind == "distilbert" else "encoder.layer.2"
    with pytest.raises(ReleaseError, match=layer):
        kbridge.hub.load(bad)
    (bad / "config.json").write_text(json.dumps({**config, "hidden_act": "mish",
                                                  "activation": "mish"}))
    with pytest.raises(ReleaseError, match="config.json.*mish"):
        kbridge.hub.load(bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ReleaseError, match="config.json"):
        kbridge.hub.load(bad)


def test_export_refuses_other_encoders(tmp_path):
    bert = BertEncoder(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
                       intermediate_dim=16)
    with pytest.raises(ReleaseError, match="padding_index"):
        convert_roberta.export_roberta_to_hf(bert, tmp_path / "r")
    with pytest.raises(ReleaseError, match="type_vocabulary_size.: 0"):
        convert_distilbert.export_distilbert_to_hf(bert, tmp_path / "d")
    roberta = BertEncoder(vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8,
                          intermediate_dim=16, type_vocabulary_size=1, padding_index=1)
    with pytest.raises(ReleaseError, match="export_roberta_to_hf"):
        convert_bert.export_bert_to_hf(roberta, tmp_path / "b")
    with pytest.raises(ReleaseError, match="model_type must be one of"):
        convert_roberta.export_roberta_to_hf(roberta, tmp_path / "r", model_type="camembert")
