"""Generation with the fixed-capacity KV cache (model_zoo.text.generation) and the tokenizer /
chat-template support (model_zoo.text.tokenizer), against transformers as a reference."""

import json

import numpy as np
import pytest

from kbridge.errors import KbridgeError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from model_zoo.text import convert_llm  # noqa: E402
from model_zoo.text.generation import generate, select_tokens, step_function  # noqa: E402
from model_zoo.text.tokenizer import Tokenizer, render_chat_template  # noqa: E402

# Left-padded prompts of lengths 6, 3 and 4 (pad id 0).
PROMPTS = np.array([[11, 25, 37, 48, 52, 61],
                    [0, 0, 0, 14, 72, 33],
                    [0, 0, 90, 8, 45, 27]], dtype="int32")
MASK = (PROMPTS != 0).astype("int32")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small random Mistral (sliding window of 4 < the sequences) in HF format."""
    config = transformers.MistralConfig(
        vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, sliding_window=4,
        initializer_range=0.2, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    torch.manual_seed(1)
    model = transformers.AutoModelForCausalLM.from_config(
        config, attn_implementation="eager").eval()
    directory = tmp_path_factory.mktemp("hf-mistral")
    model.save_pretrained(directory)
    return str(directory), model


@pytest.fixture(scope="module")
def models(checkpoint):
    loaded = {}

    def get(backend):
        if backend not in loaded:
            loaded[backend] = convert_llm.load_hf_llm(checkpoint[0], backend=backend)
        return loaded[backend]

    return get


def hf_generate(model, ids, mask, n, **kwargs):
    with torch.no_grad():
        return model.generate(torch.tensor(ids, dtype=torch.long),
                              attention_mask=torch.tensor(mask, dtype=torch.long),
                              max_new_tokens=n, do_sample=False, **kwargs).numpy()


@pytest.mark.parametrize("backend_name", ["numpy", "jax", "torch"])
def test_left_padded_batch_matches_transformers(backend_name, checkpoint, models):
    expected = hf_generate(checkpoint[1], PROMPTS, MASK, 7, eos_token_id=None, pad_token_id=0)
    got = generate(models(backend_name), PROMPTS, 7, attention_mask=MASK)
    np.testing.assert_array_equal(got, expected)
    # Rows differ in padding only by construction: the padded rows still decode differently
    # from how they would without the mask.
    unmasked = generate(models(backend_name), PROMPTS, 7)
    assert not np.array_equal(unmasked[1:], got[1:])


def test_stop_tokens_match_transformers(checkpoint, models):
    free = hf_generate(checkpoint[1], PROMPTS, MASK, 8, eos_token_id=None, pad_token_id=0)
    stop = int(free[0, 8])  # row 0's third new token ends row 0 early
    expected = hf_generate(checkpoint[1], PROMPTS, MASK, 8, eos_token_id=stop, pad_token_id=0)
    got = generate(models("torch"), PROMPTS, 8, attention_mask=MASK, eos_token_id=stop,
                   pad_token_id=0)
    np.testing.assert_array_equal(got, expected)
    assert (got[0, 9:] == 0).all()
    # All rows finished: decoding stops before max_new_tokens.
    first = int(free[0, 6])
    short = generate(models("numpy"), PROMPTS[:1], 8, eos_token_id=[99, first])
    assert short.shape == (1, 7) and short[0, -1] == first


@pytest.mark.parametrize("backend_name", ["jax", "tensorflow"])
def test_decoding_step_is_traced_once(backend_name, models):
    model = models(backend_name)
    model._generation_step = None  # a fresh compiled step: earlier tests traced the shared one
    step = step_function(model)
    first = generate(model, PROMPTS, 6, attention_mask=MASK, capacity=16)
    # One trace for the prompt (padded to 8 columns), ONE for the single-token step
    # whatever the position.
    assert step.traces == {8: 1, 1: 1}
    # Another prompt length in the same bucket, same capacity: nothing is traced again.
    again = generate(model, PROMPTS[:, 2:], 8, attention_mask=MASK[:, 2:], capacity=16)
    assert step.traces == {8: 1, 1: 1}
    generate(model, np.tile(PROMPTS[:, :4], (1, 3)), 1, capacity=16)  # 12 tokens
    assert step.traces == {8: 1, 16: 1, 1: 1}  # the next bucket's prompt step only
    np.testing.assert_array_equal(first, generate(models("numpy"), PROMPTS, 6,
                                                  attention_mask=MASK))
    np.testing.assert_array_equal(again[:, :10], generate(
        models("numpy"), PROMPTS[:, 2:], 6, attention_mask=MASK[:, 2:]))


def test_cache_steps_equal_one_full_pass(models):
    model = models("numpy")
    full = np.asarray(model(PROMPTS[:1]))
    cache = model.init_cache(1, 8)
    mask = np.zeros((1, 8), "int32")
    mask[:, :3] = 1
    logits, cache = model(PROMPTS[:1, :3], attention_mask=mask, cache=cache, cache_index=0)
    steps = [np.asarray(logits)]
    for t in range(3, 6):
        mask[:, t] = 1
        logits, cache = model(PROMPTS[:1, t:t + 1], attention_mask=mask, cache=cache,
                              cache_index=np.int32(t))
        steps.append(np.asarray(logits))
    assert cache[0][0].shape == (1, 8, 2, 8)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5, rtol=0)


def test_sampling(models):
    model = models("torch")
    a = generate(model, PROMPTS, 6, attention_mask=MASK, do_sample=True, top_k=20, seed=3)
    b = generate(model, PROMPTS, 6, attention_mask=MASK, do_sample=True, top_k=20, seed=3)
    c = generate(model, PROMPTS, 6, attention_mask=MASK, do_sample=True, top_k=20, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    greedy = generate(model, PROMPTS, 4, attention_mask=MASK)
    for kwargs in ({"top_k": 1}, {"top_p": 1e-6}, {"temperature": 1e-4}):
        np.testing.assert_array_equal(generate(model, PROMPTS, 4, attention_mask=MASK,
                                               do_sample=True, seed=0, **kwargs), greedy)
    with pytest.raises(KbridgeError, match="temperature"):
        generate(model, PROMPTS, 2, do_sample=True, temperature=0.0)
    with pytest.raises(KbridgeError, match="LEFT padding"):
        generate(model, PROMPTS, 2, attention_mask=MASK[:, ::-1])


def test_select_tokens_filters():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 400))
    top_k = select_tokens(logits, True, top_k=2, rng=rng)
    assert set(top_k.tolist()) == {0, 1}
    top_p = select_tokens(logits, True, top_p=0.9, rng=rng)  # 0.5 + 0.3 + 0.15 >= 0.9
    assert set(top_p.tolist()) == {0, 1, 2}
    hot = select_tokens(logits, True, temperature=0.05, rng=rng)
    assert (hot == 0).mean() > 0.99
    np.testing.assert_array_equal(select_tokens(logits[:2]), [0, 0])


# --- tokenizer and chat template -------------------------------------------------------
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' + message['role']) }}{% endif %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] | trim }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    tokenizers = pytest.importorskip("tokenizers")
    words = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>",
             "<|end|>", "hello", "world", "how", "are", "you", "fine", "thanks", "!", "?"]
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(
        {w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.add_special_tokens([w for w in words if w.startswith("<")])
    tok.decoder = tokenizers.decoders.WordPiece()  # joins words with spaces
    directory = tmp_path_factory.mktemp("tokenizer")
    tok.save(str(directory / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>",
              "eos_token": "</s>", "pad_token": "<pad>",
              "unk_token": "<unk>", "chat_template": CHAT_TEMPLATE}
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    return directory


MESSAGES = [{"role": "system", "content": "fine thanks"},
            {"role": "user", "content": " hello world how are you ? "},
            {"role": "assistant", "content": "fine !"},
            {"role": "user", "content": "thanks"}]


def test_chat_template_matches_transformers(tokenizer_dir):
    ours = Tokenizer.from_pretrained(tokenizer_dir)
    theirs = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    for add in (True, False):
        text = ours.apply_chat_template(MESSAGES, add_generation_prompt=add)
        assert text == theirs.apply_chat_template(MESSAGES, add_generation_prompt=add,
                                                  tokenize=False)
        ids = ours.apply_chat_template(MESSAGES, add_generation_prompt=add, tokenize=True)
        expected = theirs.apply_chat_template(MESSAGES, add_generation_prompt=add,
                                              tokenize=True)
        expected = expected["input_ids"] if hasattr(expected, "keys") else expected
        assert ids == list(expected)
    assert text.startswith("<s><|system|>\nfine thanks<|end|>")
    assert ours.eos_token_id == 2 and ours.pad_token_id == 0
    # Special tokens written as {"content": ...} (older tokenizer_config.json files).
    assert Tokenizer(tokenizer_dir / "tokenizer.json",
                     {"eos_token": {"content": "</s>", "special": True}}).eos_token_id == 2
    assert ours.decode(ours.encode("hello world")) == "hello world"
    with pytest.raises(Exception, match="unknown role tool"):
        ours.apply_chat_template([{"role": "tool", "content": "x"}])


def test_chat_template_is_sandboxed():
    import jinja2.exceptions

    escape = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(jinja2.exceptions.SecurityError):
        render_chat_template(escape, MESSAGES)
    mutate = "{% set _ = messages.append({'role': 'x'}) %}{{ messages | length }}"
    with pytest.raises(jinja2.exceptions.SecurityError):
        render_chat_template(mutate, MESSAGES)


def test_tokenizer_left_pads_batches_for_generation(tokenizer_dir, models):
    tok = Tokenizer.from_pretrained(tokenizer_dir)
    ids, mask = tok(["hello world how are you ?", "fine thanks"])
    assert ids.shape == (2, 6) and mask[1].tolist() == [0, 0, 0, 0, 1, 1]
    assert ids[1, :4].tolist() == [0] * 4
    out = generate(models("numpy"), ids, 3, attention_mask=mask, eos_token_id=tok.eos_token_id)
    assert out.shape[0] == 2 and (out[:, :6] == ids).all()


def test_tokenizer_errors_name_the_file(tmp_path):
    from kbridge.hub import ReleaseError

    with pytest.raises(ReleaseError, match="tokenizer.json"):
        Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ReleaseError, match="tokenizer.json"):
        Tokenizer.from_pretrained(tmp_path)
