"""The benchmark workloads, written once: sizes, data, and the model for kbridge and Keras 3.

Each builder takes the Keras-style namespace (``kbridge`` or ``keras``) as its first argument,
so kbridge and Keras 3 train the very same architecture; the hand-written native versions
(``native_torch``, ``native_jax``, ``native_tf``) mirror it layer for layer.

Example:
    >>> import kbridge
    >>> spec = SIZES["quick"]["mlp"]
    >>> x, y = data("mlp", spec, steps=1)
    >>> x.shape, build("mlp", kbridge, spec).count_params()
    ((16, 784), 26506)
"""

import numpy as np

__all__ = ["SIZES", "TRAIN_WORKLOADS", "build", "data", "describe"]

TRAIN_WORKLOADS = ("mlp", "cnn", "transformer")

# `steps`: training steps (or predict batches) in one timed chunk; `compile`: whether the
# torch.compile contenders run (default True); `mixed`: whether kbridge also trains under
# the mixed_bfloat16 policy (default False).
SIZES = {
    "full": {
        "mlp": {"batch": 128, "dims": (784, 512, 512, 10), "steps": 50, "mixed": True},
        "cnn": {"batch": 64, "image": (28, 28, 1), "filters": (32, 64), "classes": 10,
                "steps": 20},
        "transformer": {"batch": 32, "seq": 128, "vocab": 1000, "width": 64, "heads": 4,
                        "ff": 128, "layers": 4, "classes": 2, "steps": 10, "mixed": True},
        "minilm": {"batch": 32, "seq": 128, "steps": 2},
        "latency": {"dims": (784, 512, 512, 10), "calls": 200},
        "rounds": 7,
    },
    "quick": {
        "mlp": {"batch": 16, "dims": (784, 32, 32, 10), "steps": 2},
        # torch.compile is slow to start: the quick run checks it on the MLP only.
        "cnn": {"batch": 4, "image": (28, 28, 1), "filters": (4, 8), "classes": 10, "steps": 2,
                "compile": False},
        "transformer": {"batch": 4, "seq": 16, "vocab": 100, "width": 16, "heads": 2,
                        "ff": 32, "layers": 2, "classes": 2, "steps": 2, "compile": False},
        "minilm": {"batch": 2, "seq": 16, "steps": 1, "compile": False},
        "latency": {"dims": (784, 32, 32, 10), "calls": 20},
        "rounds": 2,
    },
}


def describe(workload, spec):
    """One line naming the workload and its sizes, for the report."""
    if workload == "mlp":
        return f"MLP {'-'.join(map(str, spec['dims']))}, Adam, batch {spec['batch']}"
    if workload == "cnn":
        f1, f2 = spec["filters"]
        h, w, c = spec["image"]
        return (f"CNN conv{f1}-conv{f2}-pool-dense, Adam, batch {spec['batch']}, "
                f"{h}x{w}x{c}")
    if workload == "transformer":
        return (f"Transformer encoder, {spec['layers']} layers, width {spec['width']}, "
                f"{spec['heads']} heads, ff {spec['ff']}, Adam, batch {spec['batch']}, "
                f"seq {spec['seq']}")
    if workload == "minilm":
        return f"all-MiniLM-L6-v2 inference, batch {spec['batch']}, seq {spec['seq']}"
    if workload == "latency":
        return f"batch-1 __call__, MLP {'-'.join(map(str, spec['dims']))}"
    raise ValueError(f"Unknown workload {workload!r}")


def data(workload, spec, steps):
    """``(x, y)`` numpy arrays for ``steps`` batches of ``workload`` (seeded)."""
    rng = np.random.default_rng(0)
    n = spec["batch"] * steps
    if workload == "mlp":
        return (rng.normal(size=(n, spec["dims"][0])).astype("float32"),
                rng.integers(0, spec["dims"][-1], size=(n,)).astype("int32"))
    if workload == "cnn":
        return (rng.normal(size=(n, *spec["image"])).astype("float32"),
                rng.integers(0, spec["classes"], size=(n,)).astype("int32"))
    if workload == "transformer":
        return (rng.integers(0, spec["vocab"], size=(n, spec["seq"])).astype("int32"),
                rng.integers(0, spec["classes"], size=(n,)).astype("int32"))
    if workload == "minilm":
        ids = rng.integers(1000, 30000, size=(n, spec["seq"])).astype("int32")
        return {"input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids)}, None
    raise ValueError(f"Unknown workload {workload!r}; expected one of {TRAIN_WORKLOADS}")


def build(workload, K, spec):
    """The ``workload`` model built with the Keras-style namespace ``K`` (kbridge or keras)."""
    layers = K.layers
    if workload in ("mlp", "latency"):
        d_in, *hidden, d_out = spec["dims"]
        return K.Sequential([K.Input((d_in,))]
                            + [layers.Dense(d, activation="relu") for d in hidden]
                            + [layers.Dense(d_out)])
    if workload == "cnn":
        f1, f2 = spec["filters"]
        return K.Sequential([
            K.Input(spec["image"]),
            layers.Conv2D(f1, 3, activation="relu"),
            layers.Conv2D(f2, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(spec["classes"]),
        ])
    if workload == "transformer":
        width, heads = spec["width"], spec["heads"]
        tokens = K.Input((spec["seq"],), dtype="int32")
        x = layers.Embedding(spec["vocab"], width)(tokens)
        for _ in range(spec["layers"]):
            # Post-LN encoder block, as torch.nn.TransformerEncoderLayer's default.
            attended = layers.MultiHeadAttention(heads, width // heads)(x, x)
            x = layers.LayerNormalization(epsilon=1e-5)(layers.Add()([x, attended]))
            h = layers.Dense(spec["ff"], activation="relu")(x)
            x = layers.LayerNormalization(epsilon=1e-5)(layers.Add()([x, layers.Dense(width)(h)]))
        x = layers.GlobalAveragePooling1D()(x)
        return K.Model(tokens, layers.Dense(spec["classes"])(x))
    raise ValueError(f"Unknown workload {workload!r}; expected one of {TRAIN_WORKLOADS} "
                     "or 'latency'")


def compile_for_training(model, K):
    """Adam(1e-3) on sparse categorical cross-entropy from logits, as every native loop."""
    model.compile(optimizer=K.optimizers.Adam(1e-3),
                  loss=K.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
