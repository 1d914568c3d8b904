"""GPT-2 in the model zoo against transformers (a test reference only), on every backend."""

import os

import numpy as np
import pytest

import kbridge
from kbridge.hub import safetensors_io

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from model_zoo.text import convert_gpt2  # noqa: E402  (registers the hub loader)
from model_zoo.text.gpt2 import GPT2CausalLM  # noqa: E402

TOL = 1e-4


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    """A small random GPT2LMHeadModel saved as safetensors, and the model itself."""
    torch.manual_seed(0)
    # initializer_range 0.2 (not 0.02): the blocks then matter next to the tied embedding, so
    # greedy decoding does not merely repeat the last token.
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=101,
                                     n_positions=64, initializer_range=0.2, resid_pdrop=0.0,
                                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0,
                                     eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config).eval()
    directory = tmp_path_factory.mktemp("hf-gpt2")
    model.save_pretrained(directory, safe_serialization=True)
    return str(directory), model


@pytest.fixture(scope="module")
def input_ids():
    return np.random.default_rng(0).integers(0, 101, size=(2, 7)).astype("int32")


def _hf_logits(model, ids, mask=None):
    with torch.no_grad():
        mask = None if mask is None else torch.tensor(mask)
        return model(torch.tensor(ids, dtype=torch.long), attention_mask=mask).logits.numpy()


def test_logits_match_transformers(backend, hf_checkpoint, input_ids):
    directory, hf_model = hf_checkpoint
    model = kbridge.hub.load(directory, backend=backend)
    assert isinstance(model, GPT2CausalLM) and kbridge.backend.of(model) == backend
    logits = kbridge.ops.convert_to_numpy(model(input_ids))
    np.testing.assert_allclose(logits, _hf_logits(hf_model, input_ids), atol=TOL, rtol=0)

    mask = np.ones_like(input_ids)
    mask[1, :2] = 0  # left padding: rows that attend to something must match
    logits = kbridge.ops.convert_to_numpy(model(input_ids, attention_mask=mask))
    expected = _hf_logits(hf_model, input_ids, mask)
    np.testing.assert_allclose(logits[mask == 1], expected[mask == 1], atol=TOL, rtol=0)


def test_greedy_generate_matches_transformers(backend, hf_checkpoint, input_ids):
    directory, hf_model = hf_checkpoint
    model = kbridge.hub.load(directory, backend=backend)
    with torch.no_grad():
        ids = torch.tensor(input_ids, dtype=torch.long)
        expected = hf_model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
                                     do_sample=False, pad_token_id=0).numpy()
    got = model.generate(input_ids, max_new_tokens=6)
    np.testing.assert_array_equal(got, expected)
    assert len(set(got[0, 7:].tolist())) > 1  # really decoding, not repeating one token


def test_cached_decoding_equals_recomputation(backend, hf_checkpoint, input_ids):
    model = kbridge.hub.load(hf_checkpoint[0], backend=backend)
    full = kbridge.ops.convert_to_numpy(model(input_ids))
    # Prompt, then one position at a time from the cache: the same logits as one full pass.
    logits, cache = model.call_with_cache(input_ids[:, :4])
    steps = [kbridge.ops.convert_to_numpy(logits)]
    for t in range(4, 7):
        logits, cache = model.call_with_cache(input_ids[:, t:t + 1], cache)
        assert tuple(logits.shape) == (2, 1, 101)
        assert tuple(cache[0][0].shape) == (2, 4, t + 1, 8)
        steps.append(kbridge.ops.convert_to_numpy(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5, rtol=0)
    # (Few tokens: on jax every new sequence length compiles its ops afresh.)
    np.testing.assert_array_equal(model.generate(input_ids, 3, use_cache=True),
                                  model.generate(input_ids, 3, use_cache=False))
    sampled = [model.generate(input_ids, 3, strategy="top_k", k=10, temperature=0.8, seed=3,
                              use_cache=c) for c in (True, False)]
    np.testing.assert_array_equal(*sampled)


def test_top_k_sampling_is_reproducible(backend, hf_checkpoint, input_ids):
    model = kbridge.hub.load(hf_checkpoint[0], backend=backend)
    a = model.generate(input_ids, 8, strategy="top_k", k=5, seed=123)
    b = model.generate(input_ids, 8, strategy="top_k", k=5, seed=123)
    c = model.generate(input_ids, 8, strategy="top_k", k=5, seed=7)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 15) and not np.array_equal(a, c)
    np.testing.assert_array_equal(a[:, :7], input_ids)
    # k=1 is greedy decoding.
    np.testing.assert_array_equal(model.generate(input_ids, 4, strategy="top_k", k=1, seed=0),
                                  model.generate(input_ids, 4))
    with pytest.raises(kbridge.KbridgeError, match="strategy"):
        model.generate(input_ids, 2, strategy="beam")


def test_export_to_hf_round_trip(hf_checkpoint, input_ids, tmp_path):
    directory, hf_model = hf_checkpoint
    model = convert_gpt2.load_hf_gpt2(directory, backend="numpy")
    exported = convert_gpt2.export_gpt2_to_hf(model, tmp_path / "exported")
    reloaded = transformers.GPT2LMHeadModel.from_pretrained(exported).eval()
    np.testing.assert_allclose(_hf_logits(reloaded, input_ids),
                               _hf_logits(hf_model, input_ids), atol=1e-6, rtol=0)
    # The head stays tied after the round trip.
    assert reloaded.lm_head.weight.data_ptr() == reloaded.transformer.wte.weight.data_ptr()


def test_hub_save_load_stores_the_tied_weight_once(backend, hf_checkpoint, input_ids, tmp_path):
    directory, hf_model = hf_checkpoint
    model = kbridge.hub.load(directory, backend="numpy")
    paths = [v.path for v in model.weights]
    assert paths.count("wte/embeddings") == 1 and not any("lm_head" in p for p in paths)
    release = kbridge.hub.save(model, tmp_path / "release")
    stored = safetensors_io.read(os.path.join(release, "model.safetensors"))
    assert "wte/embeddings" in stored and len(stored) == len(paths)
    n_params = sum(a.size for a in stored.values())
    assert n_params == sum(p.numel() for p in hf_model.parameters())  # lm_head counted once
    loaded = kbridge.hub.load(release, backend=backend)
    np.testing.assert_allclose(kbridge.ops.convert_to_numpy(loaded(input_ids)),
                               _hf_logits(hf_model, input_ids), atol=TOL, rtol=0)


def test_unsupported_configs_are_refused():
    with pytest.raises(kbridge.KbridgeError, match="tie_word_embeddings"):
        convert_gpt2.config_from_hf({"model_type": "gpt2", "tie_word_embeddings": False})
    with pytest.raises(kbridge.KbridgeError, match="activation"):
        GPT2CausalLM(11, 1, 2, 8, activation="swiglu")
