"""The Llama-family DecoderLM against transformers (a test reference only), on every backend:
llama (llama3 RoPE scaling, biases), qwen2 (q/k/v biases, linear RoPE, a sliding layer),
qwen3 (q/k norm, wide heads, tied head), mistral (sliding window), gemma, gemma2 (alternating
sliding layers, soft-capping, sandwich norms), phi3 (fused projections, partial RoPE)."""

import json
import os

import numpy as np
import pytest

import kbridge
from kbridge.hub import ReleaseError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import model_zoo  # noqa: E402,F401  (registers the hub loaders)
from model_zoo.text import convert_llm  # noqa: E402
from model_zoo.text.generation import generate  # noqa: E402
from model_zoo.text.llm import DecoderLM  # noqa: E402

TOL = 1e-4
COMMON = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
              initializer_range=0.2, bos_token_id=2, eos_token_id=1, pad_token_id=0)
# Each sequence below is 9 tokens: longer than every sliding window.
ARCHS = {
    "llama": ("LlamaConfig", dict(
        attention_bias=True, mlp_bias=True, head_dim=8,
        rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 16})),
    "qwen2": ("Qwen2Config", dict(
        rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
        use_sliding_window=True, sliding_window=4, max_window_layers=1)),
    "qwen3": ("Qwen3Config", dict(head_dim=16, tie_word_embeddings=True)),
    "mistral": ("MistralConfig", dict(sliding_window=4, head_dim=8)),
    "gemma": ("GemmaConfig", dict(head_dim=8)),
    "gemma2": ("Gemma2Config", dict(head_dim=8, sliding_window=4, attn_logit_softcapping=2.0,
                                    final_logit_softcapping=3.0, query_pre_attn_scalar=16)),
    "phi3": ("Phi3Config", dict(partial_rotary_factor=0.5, sliding_window=5)),
}
IDS = np.random.default_rng(0).integers(3, 100, size=(2, 9)).astype("int32")
GEN_BACKENDS = ["numpy", "jax", "torch"]


def hf_model(kind, **overrides):
    name, extra = ARCHS[kind]
    config = getattr(transformers, name)(**{**COMMON, **extra, **overrides})
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(
        config, attn_implementation="eager").eval()


def hf_logits(model, ids, mask=None):
    with torch.no_grad():
        mask = None if mask is None else torch.tensor(mask)
        return model(torch.tensor(ids, dtype=torch.long), attention_mask=mask).logits.numpy()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """kind -> (directory, transformers model, its logits on IDS, its greedy continuation);
    built on first use, once per module."""
    built = {}

    def get(kind):
        if kind not in built:
            model = hf_model(kind)
            directory = tmp_path_factory.mktemp(f"hf-{kind}")
            model.save_pretrained(directory)
            with torch.no_grad():
                prompt = torch.tensor(IDS[:, :5], dtype=torch.long)
                greedy = model.generate(prompt, attention_mask=torch.ones_like(prompt),
                                        max_new_tokens=6, do_sample=False).numpy()
            built[kind] = (str(directory), model, hf_logits(model, IDS), greedy)
        return built[kind]

    return get


@pytest.fixture(scope="module")
def loaded(checkpoints):
    """(kind, backend) -> the DecoderLM loaded by kbridge.hub.load, once per module."""
    models = {}

    def get(kind, backend):
        if (kind, backend) not in models:
            models[kind, backend] = kbridge.hub.load(checkpoints(kind)[0], backend=backend)
        return models[kind, backend]

    return get


@pytest.mark.parametrize("kind", list(ARCHS))
def test_logits_match_transformers(kind, backend, checkpoints, loaded):
    model = loaded(kind, backend)
    assert isinstance(model, DecoderLM) and kbridge.backend.of(model) == backend
    logits = kbridge.ops.convert_to_numpy(model(IDS))
    np.testing.assert_allclose(logits, checkpoints(kind)[2], atol=TOL, rtol=0)


@pytest.mark.parametrize("backend_name", GEN_BACKENDS)
@pytest.mark.parametrize("kind", list(ARCHS))
def test_greedy_generation_matches_transformers(kind, backend_name, checkpoints, loaded):
    expected = checkpoints(kind)[3]
    got = generate(loaded(kind, backend_name), IDS[:, :5], 6, eos_token_id=1)
    np.testing.assert_array_equal(got, expected)
    assert len(set(got[:, 5:].ravel().tolist())) > 1  # really decoding, not one token


@pytest.mark.parametrize("kind", list(ARCHS))
def test_export_round_trip_through_transformers(kind, checkpoints, tmp_path):
    directory, hf, expected, _ = checkpoints(kind)
    model = convert_llm.load_hf_llm(directory, backend="numpy")
    exported = convert_llm.export_llm_to_hf(model, tmp_path / "exported")
    with open(os.path.join(exported, "config.json")) as f:
        assert json.load(f)["model_type"] == kind
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(
        exported, attn_implementation="eager").eval()
    assert type(reloaded) is type(hf)
    np.testing.assert_allclose(hf_logits(reloaded, IDS), expected, atol=1e-5, rtol=0)


def test_features_really_matter(checkpoints, loaded):
    """The sliding window and the soft-caps change the logits (so the tests above check them)."""
    model = loaded("gemma2", "numpy")
    config = model.get_config()
    for change in ({"sliding_window": 64}, {"attn_logit_softcapping": None,
                                             "final_logit_softcapping": None}):
        other = DecoderLM.from_config({**config, **change})
        other.set_weights(model.get_weights())
        assert np.abs(np.asarray(other(IDS)) - checkpoints("gemma2")[2]).max() > 1e-3


def test_sharded_checkpoint_loads(tmp_path, checkpoints):
    _, hf, expected, _ = checkpoints("llama")
    hf.save_pretrained(tmp_path, max_shard_size="20KB")
    assert os.path.exists(tmp_path / "model.safetensors.index.json")
    assert len([f for f in os.listdir(tmp_path) if f.endswith(".safetensors")]) > 1
    model = kbridge.hub.load(str(tmp_path), backend="torch")
    logits = kbridge.ops.convert_to_numpy(model(IDS))
    np.testing.assert_allclose(logits, expected, atol=TOL, rtol=0)


def test_dynamic_rope_past_the_context(tmp_path):
    # Dynamic NTK scaling acts only beyond max_position_embeddings (8 < 12 tokens).
    hf = hf_model("qwen3", max_position_embeddings=8, rope_parameters={
        "rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0})
    hf.save_pretrained(tmp_path)
    ids = np.random.default_rng(1).integers(3, 100, size=(1, 12))
    expected = hf_logits(hf, ids)
    model = convert_llm.load_hf_llm(tmp_path, backend="numpy")
    np.testing.assert_allclose(np.asarray(model(ids)), expected, atol=TOL, rtol=0)


def _edit_config(directory, target, **changes):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    config.update(changes)
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(directory):
        if name != "config.json":
            os.link(os.path.join(directory, name), os.path.join(target, name))
    with open(os.path.join(target, "config.json"), "w") as f:
        json.dump(config, f)
    return str(target)


@pytest.mark.parametrize("changes, message", [
    ({"model_type": "falcon"}, "model_type"),
    ({"hidden_act": "swish_v9"}, "hidden_act"),
    ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4, "factor": 2.0}},
     "rope_type"),
    ({"layer_types": ["full_attention"]}, "layer_types"),
])
def test_bad_config_values_are_release_errors(changes, message, checkpoints, tmp_path):
    directory = _edit_config(checkpoints("qwen2")[0], tmp_path / "bad", **changes)
    with pytest.raises(ReleaseError, match=f"config.json.*{message}"):
        convert_llm.load_hf_llm(directory, backend="numpy")


def test_mismatched_shapes_name_the_file(checkpoints, tmp_path):
    directory = _edit_config(checkpoints("mistral")[0], tmp_path / "wide", intermediate_size=48)
    with pytest.raises(ReleaseError, match=r"model\.safetensors.*mlp\.gate_proj\.weight"):
        convert_llm.load_hf_llm(directory, backend="numpy")
    # A shard: the message names the shard that holds the weight.
    _, hf, _, _ = checkpoints("llama")
    sharded = tmp_path / "sharded"
    hf.save_pretrained(sharded, max_shard_size="20KB")
    directory = _edit_config(sharded, tmp_path / "sharded-bad", intermediate_size=48)
    with open(os.path.join(directory, "model.safetensors.index.json")) as f:
        shard = json.load(f)["weight_map"]["model.layers.0.mlp.gate_proj.weight"]
    with pytest.raises(ReleaseError, match=f"{shard}.*gate_proj"):
        convert_llm.load_hf_llm(directory, backend="numpy")


def test_export_refuses_what_the_model_type_cannot_hold(loaded, tmp_path):
    model = loaded("gemma2", "numpy")
    with pytest.raises(ReleaseError, match="'llama'.*cannot represent"):
        convert_llm.export_llm_to_hf(model, tmp_path, model_type="llama")


def test_kbridge_release_round_trip(loaded, checkpoints, tmp_path):
    """get_config / from_config and the registered class: a kbridge release of the model."""
    model = loaded("qwen2", "numpy")
    kbridge.hub.save(model, tmp_path / "release")
    again = kbridge.hub.load(str(tmp_path / "release"), backend="jax")
    assert isinstance(again, DecoderLM) and again.get_config()["layer_types"] == [
        "full_attention", "sliding_attention"]
    np.testing.assert_allclose(kbridge.ops.convert_to_numpy(again(IDS)),
                               checkpoints("qwen2")[2], atol=TOL, rtol=0)
