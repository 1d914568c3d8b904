"""Decoder LLMs: loading a Hugging Face Llama checkpoint, and cached greedy decoding.

Run by :mod:`benchmarks.run` in its own process.

- Loading: a random float32 ``LlamaForCausalLM`` (~500 MB; quick: ~20 MB), built from a
  config with transformers and written with ``save_pretrained``, is loaded with
  ``kbridge.hub.load(dir, backend=B)`` on each backend, and with ``quantize="int8"`` where
  ``kbridge.hub.load`` takes it. Peak memory is the resident-set growth of one load in a fresh
  process whose imports and first-call setup a small load has already done (the kernel's
  peak-RSS mark is reset just before, as in :mod:`benchmarks.hub_load`), against the size of
  the weight files; transformers' own ``from_pretrained`` of the same directory is measured
  the same way.
- Decoding: tokens per second of greedy decoding with the KV cache (batch 1, a 16-token
  prompt, 64 new tokens) of a small Llama (hidden 256, 4 layers) with kbridge's
  ``model_zoo.text.generation.generate`` on each backend, next to transformers'
  ``model.generate(do_sample=False)`` on torch, in the same process; medians of ``repeat``
  runs after a warm-up run (which compiles the jitted / ``tf.function`` step); torch runs
  on one thread (:data:`TORCH_THREADS`) for both.
"""

import inspect
import os
import tempfile
import time

__all__ = ["measure"]

# ~125M parameters (~499 MB float32): 12 layers of width 768 with grouped-query attention,
# a 32000-token vocabulary and an untied head, the proportions of small production models.
LOAD_CONFIGS = {
    "full": dict(vocab_size=32000, hidden_size=768, intermediate_size=2048,
                 num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4),
    "quick": dict(vocab_size=4000, hidden_size=256, intermediate_size=688,
                  num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2),
}
DECODE_CONFIG = dict(vocab_size=4000, hidden_size=256, intermediate_size=688,
                     num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2)
_WARM_CONFIG = dict(vocab_size=256, hidden_size=32, intermediate_size=64,
                    num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
PROMPT, NEW_TOKENS = 16, 64
TORCH_THREADS = 1


def _checkpoint(directory, name, config, seed=0):
    """Write a random float32 ``LlamaForCausalLM`` checkpoint; returns its directory."""
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(seed)
    hf_config = transformers.LlamaConfig(**config, max_position_embeddings=512,
                                         tie_word_embeddings=False)
    model = transformers.LlamaForCausalLM(hf_config).float().eval()
    path = os.path.join(directory, name)
    model.save_pretrained(path, safe_serialization=True)
    return path


def _weights_mb(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)
               if f.endswith(".safetensors")) / 2**20


def _has_quantize():
    import kbridge

    return "quantize" in inspect.signature(kbridge.hub.load).parameters


_LOAD = """
what = sys.argv[3]
if what == "transformers":
    import torch, transformers
    def load(p):
        return transformers.LlamaForCausalLM.from_pretrained(p, dtype=torch.float32)
else:
    import kbridge
    backend, _, quantize = what.partition(":")
    def load(p):
        return kbridge.hub.load(p, backend=backend, quantize=quantize or None)
"""


def _peak_growth_mb(path, small, what):
    """Peak resident-set growth (MiB) of loading ``path`` with ``what`` ("transformers",
    "BACKEND" or "BACKEND:int8"), or ``{"error": ...}``."""
    from benchmarks.peak_memory import peak_growth_mb

    mb, error = peak_growth_mb(_LOAD, path, small, what, env={
        "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1", "KBRIDGE_BACKEND": ""})
    return {"error": error} if error else round(mb, 1)


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def _decode(path, backends, repeat):
    """Tokens/s of cached greedy decoding with kbridge on each backend and transformers."""
    import numpy as np
    import torch
    import transformers

    import kbridge
    from model_zoo.text.generation import generate

    # Batch-1 decoding of a small model is latency-bound: torch's intra-op threads only spin
    # against each other (and against whatever else shares the cores), for kbridge's torch
    # backend and transformers alike.
    torch.set_num_threads(TORCH_THREADS)
    transformers.utils.logging.disable_progress_bar()
    prompt = np.random.default_rng(0).integers(3, DECODE_CONFIG["vocab_size"],
                                               (1, PROMPT)).astype("int32")
    hf = transformers.LlamaForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = torch.from_numpy(prompt.astype("int64"))

    def hf_generate():
        with torch.inference_mode():
            return hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                               max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                               pad_token_id=0).numpy()

    reference = hf_generate()  # warm-up
    out = {}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        hf_generate()
        times.append(time.perf_counter() - start)
    out["transformers (torch)"] = {
        "tokens_per_s": round((reference.shape[1] - PROMPT) / _median(times), 1)}
    for backend in backends:
        try:
            model = kbridge.hub.load(path, backend=backend)
            tokens = generate(model, prompt, NEW_TOKENS)  # warm-up: traces / compiles the step
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                generate(model, prompt, NEW_TOKENS)
                times.append(time.perf_counter() - start)
        except Exception as e:  # noqa: BLE001 - one backend failing is reported, not fatal
            out[backend] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
            continue
        new = tokens.shape[1] - PROMPT
        # Greedy tokens of a random model can part ways at a near-tie: the count of leading
        # tokens equal to transformers' says how far they agree.
        agree = int(np.argmax(np.append(tokens[0, PROMPT:] != reference[0, PROMPT:PROMPT + new],
                                        True)))
        out[backend] = {"tokens_per_s": round(new / _median(times), 1),
                        "tokens_as_transformers": agree}
    return out


def measure(backends, quick=False, repeat=3):
    """``{"load": {...}, "decode": {...}}``.

    ``load``: ``file_mb`` (the weight files), ``config``, ``transformers_peak_mb``, ``int8``
    (whether ``kbridge.hub.load`` takes ``quantize``) and ``backends``: ``{backend:
    {"peak_mb", "int8_peak_mb"}}`` (resident-set growth, MiB; ``{"error": ...}`` where a load
    failed). ``decode``: ``prompt``, ``new_tokens``, ``config``, ``repeat`` and
    ``contenders``: ``{"transformers (torch)" or backend: {"tokens_per_s"}}`` (backends also
    give ``tokens_as_transformers``: how many leading greedy tokens equal transformers').
    """
    mode = "quick" if quick else "full"
    repeat = 1 if quick else repeat
    with tempfile.TemporaryDirectory() as tmp:
        path = _checkpoint(tmp, "llama", LOAD_CONFIGS[mode])
        small = _checkpoint(tmp, "warm", _WARM_CONFIG)
        int8 = _has_quantize()
        load = {"file_mb": round(_weights_mb(path), 1), "config": LOAD_CONFIGS[mode],
                "int8": int8, "transformers_peak_mb": _peak_growth_mb(path, small,
                                                                      "transformers")}
        load["backends"] = {}
        for backend in backends:
            entry = load["backends"][backend] = {"peak_mb": _peak_growth_mb(path, small,
                                                                            backend)}
            if int8:
                entry["int8_peak_mb"] = _peak_growth_mb(path, small, f"{backend}:int8")
        decode_path = path if LOAD_CONFIGS[mode] == DECODE_CONFIG else _checkpoint(
            tmp, "decode", DECODE_CONFIG)
        decode = {"prompt": PROMPT, "new_tokens": NEW_TOKENS, "config": DECODE_CONFIG,
                  "repeat": repeat, "torch_threads": TORCH_THREADS,
                  "contenders": _decode(decode_path, backends, repeat)}
    return {"load": load, "decode": decode}
