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


def _saved_base(tmp_path_factory, name, hf_class, config):
    """``(root, model)``: a seeded random HF ``hf_class(config)``, saved in ``root / "base"``."""
    root = tmp_path_factory.mktemp(name)
    torch.manual_seed(0)
    base = hf_class(config).eval()
    base.save_pretrained(root / "base")
    return root, base


def _peft_model(base, lora, directory):
    """``base`` with PEFT's ``lora`` adapter, saved in ``directory``; its LoRA weights are
    random (PEFT starts ``B`` at zero, which would hide a wrong layout)."""
    model = peft.get_peft_model(base, lora)
    for name, p in model.named_parameters():
        if "lora_" in name:
            torch.nn.init.normal_(p, std=0.2)
    model.save_pretrained(directory)
    return model


def _reference(model):
    """An HF/PEFT model's output for ``IDS``: the logits of an LM, else the last hidden state."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor(IDS))
    return (out.logits if "logits" in out else out.last_hidden_state).numpy()


def _peft_reference(hf_class, base, adapter):
    """``_reference`` of the HF ``hf_class`` saved in ``base`` with the PEFT adapter in
    ``adapter``."""
    model = hf_class.from_pretrained(base).eval()
    return _reference(peft.PeftModel.from_pretrained(model, adapter).eval())


def _randomize_lora(layers, seed):
    """Random LoRA ``B`` matrices (kbridge starts them at zero) on the LoRA-enabled layers."""
    for layer in layers:
        if getattr(layer, "lora_enabled", False):
            b = layer._lora_pair()[1]
            b.assign(np.random.default_rng(seed).normal(size=b.shape).astype("float32") * 0.3)


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    config = transformers.BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=32)
    root, base = _saved_base(tmp_path_factory, "peft", transformers.BertModel, config)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGET,
                           rank_pattern={"encoder.layer.1.intermediate.dense": 2})
    return root, _reference(_peft_model(base, lora, root / "adapter"))


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
    _randomize_lora(model._flat_layers(), seed=0)
    hub.save(model, tmp_path / "mine", adapter_only=True)
    config = json.loads((tmp_path / "mine" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (3, 6)
    assert config["target_modules"] == ["encoder.layer.0.intermediate.dense",
                                        "encoder.layer.1.intermediate.dense"]
    ref = _peft_reference(transformers.BertModel, root / "base", tmp_path / "mine")
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
    ref = _reference(_peft_model(base, lora, tmp_path / "attention"))
    for backend in ("numpy", "jax", "torch", "tensorflow"):
        ours = hub.load(str(root / "base"), backend=backend, adapter=str(tmp_path / "attention"))
        names = sorted(l.name for l in ours._flat_layers() if getattr(l, "lora_enabled", False))
        assert names == ["attention_output"] * 2 + ["query"] * 2 + ["value"] * 2
        np.testing.assert_allclose(_hidden(ours), ref, atol=1e-4)
    # kbridge's LoRA on the attention, saved as a PEFT adapter, gives PEFT the same outputs.
    mine = hub.load(str(root / "base"), backend="numpy")
    enabled = mine.enable_lora(2, target=["query", "value"], lora_alpha=4)
    assert len(enabled) == 4
    _randomize_lora(enabled, seed=1)
    hub.save(mine, tmp_path / "mine", adapter_only=True)
    expected = _peft_reference(transformers.BertModel, root / "base", tmp_path / "mine")
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
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, max_position_embeddings=64)
    root, base = _saved_base(tmp_path_factory, "peft-llama", transformers.LlamaForCausalLM,
                             config)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    return root, _reference(_peft_model(base, lora, root / "adapter"))


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
    _randomize_lora(model._flat_layers(), seed=1)
    hub.save(model, tmp_path / "mine", adapter_only=True)
    config = json.loads((tmp_path / "mine" / "adapter_config.json").read_text())
    assert config["target_modules"] == ["o_proj", "up_proj"]
    ref = _peft_reference(transformers.LlamaForCausalLM, root / "base", tmp_path / "mine")
    np.testing.assert_allclose(np.asarray(kbridge.ops.convert_to_numpy(model(IDS))), ref,
                               atol=1e-4)
