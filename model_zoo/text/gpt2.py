"""GPT-2 (Radford et al., 2019): a decoder-only causal language model, laid out as Hugging Face's
``GPT2LMHeadModel``.

Token + learned position embeddings, ``num_layers`` pre-LN blocks (LayerNorm, causal multi-head
self-attention, residual; LayerNorm, GELU feed-forward, residual), a final LayerNorm and a
language-model head tied to the token embedding: the head multiplies by the transpose of the
very same Variable (``wte/embeddings``), so ``kbridge.hub.save`` stores it once.

``model(input_ids, attention_mask=None)`` returns logits ``[batch, seq, vocabulary]``;
:meth:`GPT2CausalLM.generate` decodes greedily or by top-k sampling with a key/value cache.
Weights exist as soon as the model is constructed (no data needed), with stable paths
(``wte/embeddings``, ``h_0/attn/c_attn/kernel`` ...) whatever the model's name.
"""

import numpy as np

from kbridge import ops
from kbridge.backend.common import context, naming
from kbridge.errors import KbridgeError
from kbridge.initializers import RandomNormal
from kbridge.layers.core import Dense, Embedding
from kbridge.layers.layer import Layer
from kbridge.layers.normalization import LayerNormalization
from kbridge.models.model import Model
from kbridge.saving import registry
from model_zoo._blocks import (ACTIVATIONS, PACKAGE, TransformerBlock, attend, build_child,
                               check_heads, merge_heads, split_heads)

__all__ = ["GPT2CausalLM", "GPT2Block", "GPT2Attention", "ACTIVATIONS"]


class GPT2Attention(Layer):
    """Causal multi-head self-attention with a fused query/key/value projection (``c_attn``).

    ``call(x, allowed, cache=None)`` returns ``(output, (keys, values))``; the keys/values
    include those of ``cache``, so feeding them back decodes one position at a time.
    """

    def __init__(self, hidden_dim, num_heads, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        check_heads(hidden_dim, num_heads)
        self.hidden_dim, self.num_heads = int(hidden_dim), int(num_heads)
        self.initializer_range = float(initializer_range)
        init = RandomNormal(stddev=self.initializer_range)
        self.c_attn = Dense(3 * self.hidden_dim, kernel_initializer=init, name="c_attn",
                            dtype=self.dtype_policy)
        self.c_proj = Dense(self.hidden_dim, kernel_initializer=init, name="c_proj",
                            dtype=self.dtype_policy)

    def build(self, input_shape):
        build_child(self.c_attn, (None, None, self.hidden_dim))
        build_child(self.c_proj, (None, None, self.hidden_dim))
        self.built = True

    def call(self, x, allowed, cache=None):
        q, k, v = ops.split(self.c_attn(x), 3, axis=-1)
        q, k, v = (split_heads(t, self.num_heads) for t in (q, k, v))
        if cache is not None:
            k = ops.concatenate([cache[0], k], axis=2)
            v = ops.concatenate([cache[1], v], axis=2)
        out = self.c_proj(merge_heads(attend(q, k, v, allowed)))
        return out, (k, v)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
                       "initializer_range": self.initializer_range})
        return config


class GPT2Block(TransformerBlock):
    """``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))`` (the pre-LN GPT-2 block)."""

    def __init__(self, hidden_dim, num_heads, intermediate_dim, activation="gelu_new",
                 layer_norm_epsilon=1e-5, initializer_range=0.02, **kwargs):
        super().__init__(hidden_dim, num_heads, intermediate_dim, activation, layer_norm_epsilon,
                         initializer_range, **kwargs)
        init = RandomNormal(stddev=self.initializer_range)
        policy = self.dtype_policy
        self.ln_1 = LayerNormalization(epsilon=self.layer_norm_epsilon, name="ln_1", dtype=policy)
        self.attn = GPT2Attention(self.hidden_dim, self.num_heads, self.initializer_range,
                                  name="attn", dtype=policy)
        self.ln_2 = LayerNormalization(epsilon=self.layer_norm_epsilon, name="ln_2", dtype=policy)
        self.c_fc = Dense(self.intermediate_dim, kernel_initializer=init, name="c_fc",
                          dtype=policy)
        self.c_proj = Dense(self.hidden_dim, kernel_initializer=init, name="c_proj",
                            dtype=policy)

    def build(self, input_shape):
        # Paths as Hugging Face nests them: h_0/mlp/c_fc, h_0/mlp/c_proj.
        for layer in (self.ln_1, self.attn, self.ln_2):
            build_child(layer, (None, None, self.hidden_dim))
        with naming.name_scope("mlp"):
            build_child(self.c_fc, (None, None, self.hidden_dim))
            build_child(self.c_proj, (None, None, self.intermediate_dim))
        self.built = True

    def call(self, x, allowed, cache=None):
        attended, new_cache = self.attn(self.ln_1(x), allowed, cache=cache)
        x = ops.add(x, attended)
        hidden = ACTIVATIONS[self.activation](self.c_fc(self.ln_2(x)))
        return ops.add(x, self.c_proj(hidden)), new_cache


class GPT2CausalLM(Model):
    """GPT-2 language model; ``model(input_ids)`` returns next-token logits.

    Args:
        vocabulary_size: tokens (HF ``vocab_size``).
        num_layers: blocks (``n_layer``).
        num_heads: attention heads (``n_head``).
        hidden_dim: model width (``n_embd``), a multiple of ``num_heads``.
        intermediate_dim: feed-forward width (``n_inner``; default ``4 * hidden_dim``).
        max_sequence_length: rows of the position table (``n_positions``).
        activation: HF ``activation_function`` (``"gelu_new"``: tanh-approximate GELU).
        layer_norm_epsilon: LayerNorm epsilon (``layer_norm_epsilon``).
        initializer_range: standard deviation of the random initial weights.

    Example:
        >>> model = GPT2CausalLM(vocabulary_size=101, num_layers=2, num_heads=4, hidden_dim=32)
        >>> model(np.array([[1, 2, 3]])).shape
        (1, 3, 101)
        >>> model.generate(np.array([[1, 2, 3]]), max_new_tokens=4).shape
        (1, 7)
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim=None,
                 max_sequence_length=1024, activation="gelu_new", layer_norm_epsilon=1e-5,
                 initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.num_layers = int(vocabulary_size), int(num_layers)
        self.num_heads, self.hidden_dim = int(num_heads), int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim or 4 * self.hidden_dim)
        self.max_sequence_length = int(max_sequence_length)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer_range = float(initializer_range)
        init = RandomNormal(stddev=self.initializer_range)
        policy = self.dtype_policy
        self.wte = Embedding(self.vocabulary_size, self.hidden_dim, embeddings_initializer=init,
                             name="wte", dtype=policy)
        self.wpe = Embedding(self.max_sequence_length, self.hidden_dim,
                             embeddings_initializer=RandomNormal(stddev=0.01), name="wpe",
                             dtype=policy)
        self.blocks = [
            GPT2Block(self.hidden_dim, self.num_heads, self.intermediate_dim, self.activation,
                      self.layer_norm_epsilon, self.initializer_range, name=f"h_{i}", dtype=policy)
            for i in range(self.num_layers)]
        self.ln_f = LayerNormalization(epsilon=self.layer_norm_epsilon, name="ln_f", dtype=policy)
        # The weights exist from construction on (a converter assigns them without data),
        # with paths that do not depend on the model's name: "wte/embeddings", "h_0/...".
        build_child(self.wte, None)
        build_child(self.wpe, None)
        for layer in self.blocks + [self.ln_f]:
            build_child(layer, (None, None, self.hidden_dim))
        self.built = True

    @property
    def token_embedding(self):
        """The ``(vocabulary, hidden)`` Variable shared by the input embedding and the head."""
        return self.wte.embeddings

    # --- forward --------------------------------------------------------------------
    def call(self, input_ids, attention_mask=None):
        logits, _ = self._forward(input_ids, attention_mask, None)
        return logits

    def call_with_cache(self, input_ids, cache=None, attention_mask=None):
        """Logits for ``input_ids`` following the positions held in ``cache``.

        Args:
            input_ids: int ``[batch, new]``: the tokens after those already in ``cache``.
            cache: ``None`` or what the previous call returned: per block ``(keys, values)``
                of shape ``[batch, heads, past, head_dim]``.
            attention_mask: optional ``[batch, past + new]``, 1 for tokens to attend to.

        Returns:
            ``(logits [batch, new, vocabulary], cache)`` with the new positions appended.
        """
        with context.use(self.backend_name):
            return self._forward(input_ids, attention_mask, cache)

    def _forward(self, input_ids, attention_mask, cache):
        input_ids = ops.convert_to_tensor(input_ids)
        if "int" not in ops.dtype(input_ids):
            input_ids = ops.cast(input_ids, "int32")
        new = input_ids.shape[1]
        past = 0 if cache is None else cache[0][0].shape[2]
        if past + new > self.max_sequence_length:
            raise KbridgeError(f"GPT-2 reads at most {self.max_sequence_length} positions "
                               f"(max_sequence_length). Received: {past} cached + {new} new")
        positions = ops.arange(past, past + new, dtype="int32")
        x = ops.add(self.wte(input_ids), ops.expand_dims(self.wpe(positions), 0))
        # Query i (absolute position past + i) may attend to keys 0 .. past + i.
        allowed = ops.less_equal(ops.expand_dims(ops.arange(past + new, dtype="int32"), 0),
                                 ops.expand_dims(positions, 1))
        allowed = ops.expand_dims(ops.expand_dims(allowed, 0), 0)  # [1, 1, new, past + new]
        if attention_mask is not None:
            keep = ops.not_equal(ops.convert_to_tensor(attention_mask), 0)
            if keep.shape[-1] != past + new:
                raise KbridgeError("`attention_mask` must cover the cached and the new tokens: "
                                   f"expected {past + new} columns. Received: "
                                   f"shape={tuple(keep.shape)}")
            allowed = ops.logical_and(allowed, ops.expand_dims(ops.expand_dims(keep, 1), 1))
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, allowed, cache=None if cache is None else cache[i])
            new_cache.append(layer_cache)
        x = self.ln_f(x)
        # The tied head: the token embedding Variable itself, transposed.
        logits = ops.matmul(x, ops.transpose(ops.cast(self.wte.embeddings, ops.dtype(x))))
        return logits, new_cache

    # --- decoding -------------------------------------------------------------------
    def generate(self, input_ids, max_new_tokens, strategy="greedy", k=50, temperature=1.0,
                 seed=None, use_cache=True):
        """Append ``max_new_tokens`` tokens to each row of ``input_ids``.

        Args:
            input_ids: int array ``[batch, seq]`` (or one sequence ``[seq]``): the prompts.
            max_new_tokens: how many tokens to add.
            strategy: ``"greedy"`` (argmax) or ``"top_k"`` (sample among the ``k`` most likely).
            k: candidates kept by ``"top_k"``.
            temperature: logits are divided by it before sampling (``"top_k"`` only).
            seed: int seed of the sampler; the same seed gives the same tokens.
            use_cache: decode each new token from the cached keys/values (one position per
                step); ``False`` recomputes the whole sequence every step.

        Returns:
            numpy int32 ``[batch, seq + max_new_tokens]`` (``[seq + ...]`` for 1-D input).

        Sampling runs on the host with numpy's generator so that a seed gives the same tokens
        on every backend.

        Example:
            >>> model.generate(np.array([[5, 9]]), 3, strategy="top_k", k=5, seed=0)
        """
        if strategy not in ("greedy", "top_k"):
            raise KbridgeError("`strategy` must be 'greedy' or 'top_k'. "
                               f"Received: strategy={strategy!r}")
        if strategy == "top_k" and (int(k) < 1 or temperature <= 0):
            raise KbridgeError("top_k sampling needs k >= 1 and temperature > 0. "
                               f"Received: k={k}, temperature={temperature}")
        tokens = np.asarray(ops.convert_to_numpy(input_ids) if not isinstance(
            input_ids, (np.ndarray, list, tuple)) else input_ids).astype("int32")
        squeeze = tokens.ndim == 1
        tokens = tokens[None] if squeeze else tokens
        rng = np.random.default_rng(seed)
        cache, step_input = None, tokens
        for _ in range(int(max_new_tokens)):
            if use_cache:
                logits, cache = self.call_with_cache(step_input, cache)
            else:
                logits, _ = self.call_with_cache(tokens, None)
            last = np.asarray(ops.convert_to_numpy(logits[:, -1, :]), dtype=np.float64)
            if strategy == "greedy":
                chosen = np.argmax(last, axis=-1)
            else:
                chosen = _sample_top_k(last / temperature, int(k), rng)
            step_input = chosen.astype("int32")[:, None]
            tokens = np.concatenate([tokens, step_input], axis=1)
        return tokens[0] if squeeze else tokens

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size, "num_layers": self.num_layers,
            "num_heads": self.num_heads, "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "max_sequence_length": self.max_sequence_length, "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range,
        })
        return config


def _sample_top_k(logits, k, rng):
    """One token per row of float64 ``logits``, among the ``k`` largest."""
    k = min(k, logits.shape[-1])
    top = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
    top_logits = np.take_along_axis(logits, top, axis=-1)
    probs = np.exp(top_logits - top_logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    picks = [rng.choice(k, p=row) for row in probs]
    return top[np.arange(len(picks)), picks]


for _cls in (GPT2Attention, GPT2Block, GPT2CausalLM):
    registry.register_kbridge_serializable(package=PACKAGE)(_cls)
