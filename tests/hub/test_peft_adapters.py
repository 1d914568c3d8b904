"""PEFT's LoRA adapter format: adapters made by ``peft`` load onto the kbridge conversion of
the same HF model with equal outputs on every backend, and kbridge-trained adapters load
into ``peft.PeftModel``."""

import json

import numpy as np
import pytest

import kbridge
from kbridge import hub

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

IDS = np.array([[1, 5, 7, 9, 3, 2]])
# The Dense and Embedding modules of BERT (its attention projections: see
# test_peft_lora_on_bert_attention).
TARGET = r".*(intermediate\.dense|layer\.\d+\.output\.dense|word_embeddings)"


def _inputs():
    return {"input_ids": IDS, "token_type_ids": np.zeros_like(IDS),
            "attention_mask": np.ones_like(IDS)}


def _hidden(model):
    out = model(_inputs())
    out = out["sequence_output"] if isinstance(out, dict) else out
    return np.asarray(kbridge.ops.convert_to_numpy(out))


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    root = tmp_path_factory.mktemp("peft")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=32)
    base = transformers.BertModel(config).eval()
    base.save_pretrained(root / "base")
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGET,
                           rank_pattern={"encoder.layer.1.intermediate.dense": 2})
    model = peft.get_peft_model(base, lora)
    for name, p in model.named_parameters():
        if "lora_" in name:
            torch.nn.init.normal_(p, std=0.2)
    model.save_pretrained(root / "adapter")
    with torch.no_grad():
        ref = model(input_ids=torch.tensor(IDS)).last_hidden_state.numpy()
    return root, ref


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch", "tensorflow"])
def test_peft_adapter_loads_with_equal_outputs(bert, backend):
    root, ref = bert
    model = hub.load(str(root / "base"), backend=backend, adapter=str(root / "adapter"))
    lora = [l for l in model._flat_layers() if getattr(l, "lora_enabled", False)]
    assert len(lora) == 5 and sorted({l.lora_rank for l in lora}) == [2, 4]
    np.testing.assert_allclose(_hidden(model), ref, atol=1e-4)
    plain = hub.load(str(root / "base"), backend=backend)
    assert np.abs(_hidden(plain) - ref).max() > 1e-2  # the adapter matters


def test_kbridge_adapter_loads_into_peft(bert, tmp_path):
    root, _ = bert
    model = hub.load(str(root / "base"), backend="numpy")
    model.enable_lora(3, target=["intermediate"], lora_alpha=6)
    for layer in model._flat_layers():
        if getattr(layer, "lora_enabled", False):
            a, b = layer._lora_pair()
            b.assign(np.random.default_rng(0).normal(size=b.shape).astype("float32") * 0.3)
    hub.save(model, tmp_path / "mine", adapter_only=True)
    config = json.loads((tmp_path / "mine" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (3, 6)
    assert config["target_modules"] == ["encoder.layer.0.intermediate.dense",
                                        "encoder.layer.1.intermediate.dense"]
    base = transformers.BertModel.from_pretrained(root / "base").eval()
    peft_model = peft.PeftModel.from_pretrained(base, tmp_path / "mine").eval()
    with torch.no_grad():
        ref = peft_model(input_ids=torch.tensor(IDS)).last_hidden_state.numpy()
    np.testing.assert_allclose(_hidden(model), ref, atol=1e-4)
    # ... and back into kbridge.
    again = hub.load(str(root / "base"), backend="numpy", adapter=str(tmp_path / "mine"))
    np.testing.assert_allclose(_hidden(again), ref, atol=1e-4)


def test_peft_lora_on_bert_attention(bert, tmp_path):
    """The most common LoRA targets, BERT's query / value / attention output projections, are
    EinsumDense sub-layers of kbridge's MultiHeadAttention: PEFT's adapters load onto them
    (every backend) and kbridge's own load into PEFT."""
    root, _ = bert
    base = transformers.BertModel.from_pretrained(root / "base").eval()
    lora = peft.LoraConfig(r=4, lora_alpha=8,
                           target_modules=["query", "value", "attention.output.dense"])
    model = peft.get_peft_model(base, lora)
    for name, p in model.named_parameters():
        if "lora_" in name:
            torch.nn.init.normal_(p, std=0.2)
    model.save_pretrained(tmp_path / "attention")
    with torch.no_grad():
        ref = model(input_ids=torch.tensor(IDS)).last_hidden_state.numpy()
    for backend in ("numpy", "jax", "torch", "tensorflow"):
        ours = hub.load(str(root / "base"), backend=backend, adapter=str(tmp_path / "attention"))
        names = sorted(l.name for l in ours._flat_layers() if getattr(l, "lora_enabled", False))
        assert names == ["attention_output"] * 2 + ["query"] * 2 + ["value"] * 2
        np.testing.assert_allclose(_hidden(ours), ref, atol=1e-4)
    # kbridge's LoRA on the attention, saved as a PEFT adapter, gives PEFT the same outputs.
    mine = hub.load(str(root / "base"), backend="numpy")
    enabled = mine.enable_lora(2, target=["query", "value"], lora_alpha=4)
    assert len(enabled) == 4
    for layer in enabled:
        _, b = layer._lora_pair()
        b.assign(np.random.default_rng(1).normal(size=b.shape).astype("float32") * 0.3)
    hub.save(mine, tmp_path / "mine", adapter_only=True)
    fresh = transformers.BertModel.from_pretrained(root / "base").eval()
    peft_model = peft.PeftModel.from_pretrained(fresh, tmp_path / "mine").eval()
    with torch.no_grad():
        expected = peft_model(input_ids=torch.tensor(IDS)).last_hidden_state.numpy()
    np.testing.assert_allclose(_hidden(mine), expected, atol=1e-4)


def test_bad_adapters(bert, tmp_path):
    root, _ = bert
    model = hub.load(str(root / "base"), backend="numpy")
    with pytest.raises(hub.ReleaseError, match="no LoRA layers"):
        hub.save(model, tmp_path / "none", adapter_only=True)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3"}))
    with pytest.raises(hub.ReleaseError, match="LORA"):
        hub.load_adapter(model, str(tmp_path / "bad"))


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    root = tmp_path_factory.mktemp("peft-llama")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, max_position_embeddings=64)
    base = transformers.LlamaForCausalLM(config).eval()
    base.save_pretrained(root / "base")
    model = peft.get_peft_model(base, peft.LoraConfig(r=4, lora_alpha=8,
                                                      target_modules=["q_proj", "v_proj"]))
    for name, p in model.named_parameters():
        if "lora_" in name:
            torch.nn.init.normal_(p, std=0.2)
    model.save_pretrained(root / "adapter")
    with torch.no_grad():
        ref = model(input_ids=torch.tensor(IDS)).logits.numpy()
    return root, ref


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch", "tensorflow"])
def test_llama_peft_adapter(llama, backend):
    root, ref = llama
    model = hub.load(str(root / "base"), backend=backend, adapter=str(root / "adapter"))
    assert sum(getattr(l, "lora_enabled", False) for l in model._flat_layers()) == 4
    np.testing.assert_allclose(np.asarray(kbridge.ops.convert_to_numpy(model(IDS))), ref,
                               atol=1e-4)


def test_llama_kbridge_adapter_into_peft(llama, tmp_path):
    root, _ = llama
    model = hub.load(str(root / "base"), backend="torch")
    model.enable_lora(2, target=["o_proj", "up_proj"])
    for layer in model._flat_layers():
        if getattr(layer, "lora_enabled", False):
            b = layer._lora_pair()[1]
            b.assign(np.random.default_rng(1).normal(size=b.shape).astype("float32") * 0.3)
    hub.save(model, tmp_path / "mine", adapter_only=True)
    config = json.loads((tmp_path / "mine" / "adapter_config.json").read_text())
    assert config["target_modules"] == ["o_proj", "up_proj"]
    base = transformers.LlamaForCausalLM.from_pretrained(root / "base").eval()
    peft_model = peft.PeftModel.from_pretrained(base, tmp_path / "mine").eval()
    with torch.no_grad():
        ref = peft_model(input_ids=torch.tensor(IDS)).logits.numpy()
    np.testing.assert_allclose(np.asarray(kbridge.ops.convert_to_numpy(model(IDS))), ref,
                               atol=1e-4)
