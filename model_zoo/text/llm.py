"""One configurable decoder-only language model for the Llama family: Llama (2, 3), Mistral,
Qwen2, Qwen3, Gemma, Gemma 2 and Phi-3 are all :class:`DecoderLM` with different arguments.

The block is pre-norm: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``, with

* RMSNorm (``norm_offset=True``: Gemma's ``x * (1 + weight)``);
* grouped-query attention (``num_key_value_heads`` <= ``num_heads``) with rotary position
  embeddings (``rope_scaling``: ``linear``, ``dynamic`` or ``llama3``; ``partial_rotary_factor``
  rotates only the first dimensions of each head), optional q/k/v biases (Qwen2), per-head q/k
  RMSNorm (Qwen3), sliding-window layers (Mistral, Qwen2, Gemma 2's alternating layers) and
  tanh soft-capping of the scores (Gemma 2);
* a gated MLP ``down(act(gate(x)) * up(x))`` (SwiGLU with ``silu``, GeGLU with ``gelu_*``);
* Gemma 2's norms after attention and around the MLP (``sandwich_norm``);
* token embeddings scaled by ``sqrt(hidden_dim)`` (Gemma), a head tied to the embeddings or
  not, and final logit soft-capping (Gemma 2).

Weights exist from construction on, with stable paths laid out as Hugging Face names them
(``embed_tokens/embeddings``, ``layers_0/self_attn/q_proj/kernel``, ``norm/scale`` ...), so a
converter assigns them without data (see :mod:`model_zoo.text.convert_llm`).

``model(input_ids, attention_mask=None, position_ids=None)`` returns logits
``[batch, seq, vocabulary]``. With ``cache=`` (a fixed-capacity key/value cache from
:meth:`DecoderLM.init_cache`) and ``cache_index=`` (the first free slot, a scalar tensor) it
returns ``(logits, new_cache)``: shapes never depend on how much of the cache is used, so a
compiled step (``jax.jit``, ``tf.function``) is traced once per batch size and capacity
(:mod:`model_zoo.text.generation`).
"""

import math

import numpy as np

from kbridge import ops
from kbridge.backend.common import context, naming
from kbridge.errors import KbridgeError
from kbridge.initializers import RandomNormal
from kbridge.layers.core import Dense, Embedding
from kbridge.layers.layer import Layer
from kbridge.models.model import Model
from kbridge.saving import registry
from model_zoo._blocks import ACTIVATIONS, PACKAGE, build_child, check_activation

__all__ = ["DecoderLM", "DecoderBlock", "DecoderAttention", "RMSNorm", "ROPE_TYPES",
           "rope_inverse_frequencies"]

ROPE_TYPES = ("default", "linear", "dynamic", "llama3")
LAYER_TYPES = ("full_attention", "sliding_attention")


def rope_inverse_frequencies(rotary_dim, theta, scaling=None):
    """float32 numpy ``[rotary_dim // 2]`` inverse frequencies of RoPE (before any
    position-dependent ``dynamic`` scaling), for ``scaling`` ``None`` or a dict with
    ``rope_type`` in :data:`ROPE_TYPES`.

    Example:
        >>> rope_inverse_frequencies(8, 10000.0)[:2]
        array([1. , 0.1], dtype=float32)
    """
    exponents = np.arange(0, rotary_dim, 2, dtype=np.int64).astype(np.float32) / rotary_dim
    inv = (1.0 / (np.float32(theta) ** exponents)).astype(np.float32)
    kind = (scaling or {}).get("rope_type", "default")
    if kind == "linear":
        inv = inv / np.float32(scaling["factor"])
    elif kind == "llama3":
        factor, low, high = (float(scaling[k]) for k in ("factor", "low_freq_factor",
                                                         "high_freq_factor"))
        old = float(scaling["original_max_position_embeddings"])
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / high) & ~(wavelen > old / low)
        inv = np.where(medium, smoothed, scaled)
    elif kind not in ("default", "dynamic"):
        raise KbridgeError(f"`rope_scaling['rope_type']` must be one of {list(ROPE_TYPES)}. "
                           f"Received: {kind!r}")
    return inv.astype(np.float32)


def _softcap(x, cap):
    cap = ops.cast(cap, ops.dtype(x))
    return ops.multiply(ops.tanh(ops.divide(x, cap)), cap)


class RMSNorm(Layer):
    """``x / rms(x) * weight`` over the last axis; ``offset=True`` multiplies by
    ``1 + weight`` (Gemma, whose weights start at zero).

    Example:
        >>> RMSNorm(epsilon=1e-6)(np.ones((1, 2, 4), "float32")).shape
        (1, 2, 4)
    """

    def __init__(self, epsilon=1e-6, offset=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon, self.offset = float(epsilon), bool(offset)

    def build(self, input_shape):
        self.scale = self.add_weight((input_shape[-1],), name="scale",
                                     initializer="zeros" if self.offset else "ones")
        self.built = True

    def call(self, x):
        variance = ops.mean(ops.square(x), axis=-1, keepdims=True)
        x = ops.multiply(x, ops.rsqrt(ops.add(variance, ops.cast(self.epsilon, ops.dtype(x)))))
        scale = ops.cast(self.scale, ops.dtype(x))
        return ops.multiply(x, ops.add(scale, 1.0) if self.offset else scale)

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon, "offset": self.offset})
        return config


class DecoderAttention(Layer):
    """Grouped-query self-attention with rotary embeddings, for :class:`DecoderBlock`.

    ``call(x, cos, sin, allowed, cache=None, cache_index=None)`` returns ``(output, (k, v))``:
    with a cache ``(keys, values)`` of shape ``[batch, capacity, kv_heads, head_dim]`` the new
    keys/values are written at slot ``cache_index`` and attention runs over all slots
    (``allowed [batch, 1, 1, new, slots]`` says which it may see).
    """

    def __init__(self, hidden_dim, num_heads, num_key_value_heads, head_dim, qkv_bias=False,
                 output_bias=False, qk_norm=False, rms_norm_epsilon=1e-6, norm_offset=False,
                 query_scale=None, attn_logit_softcapping=None, initializer_range=0.02,
                 **kwargs):
        super().__init__(**kwargs)
        if num_heads % num_key_value_heads:
            raise KbridgeError("`num_heads` must be a multiple of `num_key_value_heads`. "
                               f"Received: {num_heads} and {num_key_value_heads}")
        self.hidden_dim, self.num_heads = int(hidden_dim), int(num_heads)
        self.num_key_value_heads, self.head_dim = int(num_key_value_heads), int(head_dim)
        self.qkv_bias, self.output_bias, self.qk_norm = bool(qkv_bias), bool(output_bias), \
            bool(qk_norm)
        self.rms_norm_epsilon, self.norm_offset = float(rms_norm_epsilon), bool(norm_offset)
        self.query_scale = float(query_scale or self.head_dim ** -0.5)
        self.attn_logit_softcapping = (None if attn_logit_softcapping is None
                                       else float(attn_logit_softcapping))
        self.initializer_range = float(initializer_range)
        init, policy = RandomNormal(stddev=self.initializer_range), self.dtype_policy

        def dense(units, bias, name):
            return Dense(units, use_bias=bias, kernel_initializer=init, name=name, dtype=policy)

        self.q_proj = dense(self.num_heads * self.head_dim, self.qkv_bias, "q_proj")
        self.k_proj = dense(self.num_key_value_heads * self.head_dim, self.qkv_bias, "k_proj")
        self.v_proj = dense(self.num_key_value_heads * self.head_dim, self.qkv_bias, "v_proj")
        self.o_proj = dense(self.hidden_dim, self.output_bias, "o_proj")
        if self.qk_norm:
            self.q_norm = RMSNorm(self.rms_norm_epsilon, self.norm_offset, name="q_norm",
                                  dtype=policy)
            self.k_norm = RMSNorm(self.rms_norm_epsilon, self.norm_offset, name="k_norm",
                                  dtype=policy)

    def build(self, input_shape):
        for layer in (self.q_proj, self.k_proj, self.v_proj):
            build_child(layer, (None, None, self.hidden_dim))
        build_child(self.o_proj, (None, None, self.num_heads * self.head_dim))
        if self.qk_norm:
            build_child(self.q_norm, (None, None, None, self.head_dim))
            build_child(self.k_norm, (None, None, None, self.head_dim))
        self.built = True

    def call(self, x, cos, sin, allowed, cache=None, cache_index=None):
        b, t = x.shape[0], x.shape[1]
        q = ops.reshape(self.q_proj(x), (b, t, self.num_heads, self.head_dim))
        k = ops.reshape(self.k_proj(x), (b, t, self.num_key_value_heads, self.head_dim))
        v = ops.reshape(self.v_proj(x), (b, t, self.num_key_value_heads, self.head_dim))
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        if cache is not None:
            start = [0, cache_index, 0, 0]
            k = ops.slice_update(cache[0], start, ops.cast(k, ops.dtype(cache[0])))
            v = ops.slice_update(cache[1], start, ops.cast(v, ops.dtype(cache[1])))
        groups = self.num_heads // self.num_key_value_heads
        q = ops.reshape(q, (b, t, self.num_key_value_heads, groups, self.head_dim))
        scores = ops.einsum("btkgd,bskd->bkgts", q, ops.cast(k, ops.dtype(q)))
        scores = ops.multiply(scores, ops.cast(self.query_scale, ops.dtype(scores)))
        if self.attn_logit_softcapping is not None:
            scores = _softcap(scores, self.attn_logit_softcapping)
        # Softmax in float32 (as HF does), masked with `where`, not an additive bias: rows with
        # nothing visible (left padding) get uniform weights, never -inf or NaN.
        scores = ops.where(allowed, ops.cast(scores, "float32"),
                           ops.convert_to_tensor(np.finfo(np.float32).min, "float32"))
        weights = ops.cast(ops.softmax(scores, axis=-1), ops.dtype(q))
        out = ops.einsum("bkgts,bskd->btkgd", weights, ops.cast(v, ops.dtype(q)))
        out = ops.reshape(out, (b, t, self.num_heads * self.head_dim))
        return self.o_proj(out), (k, v)

    def get_config(self):
        config = super().get_config()
        config.update({k: getattr(self, k) for k in (
            "hidden_dim", "num_heads", "num_key_value_heads", "head_dim", "qkv_bias",
            "output_bias", "qk_norm", "rms_norm_epsilon", "norm_offset", "query_scale",
            "attn_logit_softcapping", "initializer_range")})
        return config


def _rotate(x, cos, sin):
    """RoPE on the first ``cos.shape[-1]`` dims of ``x [B, T, H, D]`` (``cos [B, T, 1, R]``)."""
    rot = cos.shape[-1]
    head = x if rot == x.shape[-1] else x[..., :rot]
    x1, x2 = head[..., :rot // 2], head[..., rot // 2:]
    turned = ops.concatenate([ops.negative(x2), x1], axis=-1)
    out = ops.add(ops.multiply(head, ops.cast(cos, ops.dtype(x))),
                  ops.multiply(turned, ops.cast(sin, ops.dtype(x))))
    return out if rot == x.shape[-1] else ops.concatenate([out, x[..., rot:]], axis=-1)


class DecoderBlock(Layer):
    """One pre-norm decoder layer: attention and a gated MLP, each with a residual.

    With ``sandwich_norm`` (Gemma 2) the attention output and the MLP output are normalized
    too (``post_attention_layernorm``, ``post_feedforward_layernorm``) and the MLP input by
    ``pre_feedforward_layernorm``; otherwise ``post_attention_layernorm`` is the MLP input's
    norm, as Llama names it.
    """

    def __init__(self, hidden_dim, intermediate_dim, activation="silu", mlp_bias=False,
                 sandwich_norm=False, rms_norm_epsilon=1e-6, norm_offset=False,
                 initializer_range=0.02, attention=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim, self.intermediate_dim = int(hidden_dim), int(intermediate_dim)
        self.activation, self.mlp_bias = check_activation(activation), bool(mlp_bias)
        self.sandwich_norm = bool(sandwich_norm)
        self.rms_norm_epsilon, self.norm_offset = float(rms_norm_epsilon), bool(norm_offset)
        self.initializer_range = float(initializer_range)
        policy, init = self.dtype_policy, RandomNormal(stddev=self.initializer_range)
        attention = dict(attention or {})
        attention.setdefault("rms_norm_epsilon", self.rms_norm_epsilon)
        attention.setdefault("norm_offset", self.norm_offset)
        attention.setdefault("initializer_range", self.initializer_range)
        self.attention_config = attention
        self.self_attn = DecoderAttention(self.hidden_dim, **attention, name="self_attn",
                                          dtype=policy)

        def norm(name):
            return RMSNorm(self.rms_norm_epsilon, self.norm_offset, name=name, dtype=policy)

        self.norms = ["input_layernorm", "post_attention_layernorm"] + (
            ["pre_feedforward_layernorm", "post_feedforward_layernorm"] if self.sandwich_norm
            else [])
        for name in self.norms:
            setattr(self, name, norm(name))
        self.gate_proj, self.up_proj, self.down_proj = (
            Dense(units, use_bias=self.mlp_bias, kernel_initializer=init, name=name, dtype=policy)
            for units, name in ((self.intermediate_dim, "gate_proj"),
                                (self.intermediate_dim, "up_proj"),
                                (self.hidden_dim, "down_proj")))

    def build(self, input_shape):
        shape = (None, None, self.hidden_dim)
        build_child(self.self_attn, shape)
        for name in self.norms:
            build_child(getattr(self, name), shape)
        with naming.name_scope("mlp"):  # HF: layers.0.mlp.gate_proj ...
            build_child(self.gate_proj, shape)
            build_child(self.up_proj, shape)
            build_child(self.down_proj, (None, None, self.intermediate_dim))
        self.built = True

    def call(self, x, cos, sin, allowed, cache=None, cache_index=None):
        h, new_cache = self.self_attn(self.input_layernorm(x), cos, sin, allowed, cache=cache,
                                      cache_index=cache_index)
        if self.sandwich_norm:
            x = ops.add(x, self.post_attention_layernorm(h))
            h = self.pre_feedforward_layernorm(x)
        else:
            x = ops.add(x, h)
            h = self.post_attention_layernorm(x)
        h = self.down_proj(ops.multiply(ACTIVATIONS[self.activation](self.gate_proj(h)),
                                        self.up_proj(h)))
        if self.sandwich_norm:
            h = self.post_feedforward_layernorm(h)
        return ops.add(x, h), new_cache

    def get_config(self):
        config = super().get_config()
        config.update({k: getattr(self, k) for k in (
            "hidden_dim", "intermediate_dim", "activation", "mlp_bias", "sandwich_norm",
            "rms_norm_epsilon", "norm_offset", "initializer_range")})
        config["attention"] = dict(self.attention_config)
        return config


class DecoderLM(Model):
    """A causal decoder language model of the Llama family; ``model(ids)`` returns logits.

    Args:
        vocabulary_size: tokens (HF ``vocab_size``).
        num_layers: decoder layers (``num_hidden_layers``).
        num_heads: query heads (``num_attention_heads``).
        hidden_dim: model width (``hidden_size``).
        intermediate_dim: MLP width (``intermediate_size``).
        num_key_value_heads: key/value heads (grouped-query attention; default ``num_heads``).
        head_dim: per-head width (default ``hidden_dim // num_heads``).
        activation: the MLP gate's activation (``"silu"``, ``"gelu_pytorch_tanh"``, ...).
        rms_norm_epsilon: RMSNorm epsilon.
        norm_offset: RMSNorm multiplies by ``1 + weight`` (Gemma).
        scale_embeddings: multiply token embeddings by ``sqrt(hidden_dim)`` (Gemma).
        tie_embeddings: the head is the token embedding, transposed (no ``lm_head``).
        rope_theta: RoPE base.
        rope_scaling: ``None`` or ``{"rope_type": "linear"|"dynamic"|"llama3", "factor": ...}``
            (llama3 also needs ``low_freq_factor``, ``high_freq_factor`` and
            ``original_max_position_embeddings``).
        partial_rotary_factor: share of each head's dims that RoPE rotates (Phi-3 family).
        max_position_embeddings: the context the RoPE scaling refers to (``dynamic``).
        qkv_bias / output_bias / mlp_bias: biases of q/k/v, of o_proj, of the MLP.
        qk_norm: per-head RMSNorm of queries and keys (Qwen3).
        sliding_window: keys further back than this many positions are not attended to by
            ``"sliding_attention"`` layers.
        layer_types: per layer ``"full_attention"`` or ``"sliding_attention"`` (default: all
            sliding when ``sliding_window`` is set, else all full).
        query_pre_attn_scalar: scores are scaled by ``query_pre_attn_scalar ** -0.5``
            (Gemma 2; default ``head_dim``).
        attn_logit_softcapping / final_logit_softcapping: ``tanh`` caps (Gemma 2).
        sandwich_norm: Gemma 2's extra norms around attention and MLP.
        initializer_range: standard deviation of the random initial weights.

    Example:
        >>> model = DecoderLM(vocabulary_size=100, num_layers=2, num_heads=4, hidden_dim=32,
        ...                   intermediate_dim=64, num_key_value_heads=2)
        >>> model(np.array([[1, 2, 3]])).shape
        (1, 3, 100)
        >>> from model_zoo.text.generation import generate
        >>> generate(model, np.array([[1, 2, 3]]), max_new_tokens=4).shape
        (1, 7)
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 num_key_value_heads=None, head_dim=None, activation="silu",
                 rms_norm_epsilon=1e-6, norm_offset=False, scale_embeddings=False,
                 tie_embeddings=False, rope_theta=10000.0, rope_scaling=None,
                 partial_rotary_factor=1.0, max_position_embeddings=2048, qkv_bias=False,
                 output_bias=False, mlp_bias=False, qk_norm=False, sliding_window=None,
                 layer_types=None, query_pre_attn_scalar=None, attn_logit_softcapping=None,
                 final_logit_softcapping=None, sandwich_norm=False, initializer_range=0.02,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.num_layers = int(vocabulary_size), int(num_layers)
        self.num_heads, self.hidden_dim = int(num_heads), int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.num_key_value_heads = int(num_key_value_heads or num_heads)
        self.head_dim = int(head_dim or self.hidden_dim // self.num_heads)
        self.activation, self.rms_norm_epsilon = activation, float(rms_norm_epsilon)
        self.norm_offset, self.scale_embeddings = bool(norm_offset), bool(scale_embeddings)
        self.tie_embeddings = bool(tie_embeddings)
        self.rope_theta = float(rope_theta)
        self.rope_scaling = dict(rope_scaling) if rope_scaling else None
        self.partial_rotary_factor = float(partial_rotary_factor)
        self.max_position_embeddings = int(max_position_embeddings)
        self.qkv_bias, self.output_bias = bool(qkv_bias), bool(output_bias)
        self.mlp_bias, self.qk_norm = bool(mlp_bias), bool(qk_norm)
        self.sliding_window = None if sliding_window is None else int(sliding_window)
        if layer_types is None:
            layer_types = [LAYER_TYPES[self.sliding_window is not None]] * self.num_layers
        self.layer_types = [str(t) for t in layer_types]
        if len(self.layer_types) != self.num_layers or not set(self.layer_types) <= set(
                LAYER_TYPES):
            raise KbridgeError(f"`layer_types` must list {self.num_layers} of {LAYER_TYPES}. "
                               f"Received: {layer_types!r}")
        if "sliding_attention" in self.layer_types and self.sliding_window is None:
            raise KbridgeError("`layer_types` has sliding_attention layers but "
                               "`sliding_window` is None")
        self.query_pre_attn_scalar = query_pre_attn_scalar
        self.attn_logit_softcapping = attn_logit_softcapping
        self.final_logit_softcapping = final_logit_softcapping
        self.sandwich_norm = bool(sandwich_norm)
        self.initializer_range = float(initializer_range)
        self.rotary_dim = int(self.head_dim * self.partial_rotary_factor)
        self._inv_freq = rope_inverse_frequencies(self.rotary_dim, self.rope_theta,
                                                  self.rope_scaling)
        kind = (self.rope_scaling or {}).get("rope_type", "default")
        self._dynamic = kind == "dynamic"
        if self._dynamic and "factor" not in self.rope_scaling:
            raise KbridgeError("dynamic rope_scaling needs a `factor`. "
                               f"Received: {self.rope_scaling}")

        init, policy = RandomNormal(stddev=self.initializer_range), self.dtype_policy
        attention = {
            "num_heads": self.num_heads, "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim, "qkv_bias": self.qkv_bias,
            "output_bias": self.output_bias, "qk_norm": self.qk_norm,
            "query_scale": (None if query_pre_attn_scalar is None
                            else float(query_pre_attn_scalar) ** -0.5),
            "attn_logit_softcapping": attn_logit_softcapping}
        self.embed_tokens = Embedding(self.vocabulary_size, self.hidden_dim,
                                      embeddings_initializer=init, name="embed_tokens",
                                      dtype=policy)
        self.blocks = [
            DecoderBlock(self.hidden_dim, self.intermediate_dim, self.activation,
                         self.mlp_bias, self.sandwich_norm, self.rms_norm_epsilon,
                         self.norm_offset, self.initializer_range, attention=attention,
                         name=f"layers_{i}", dtype=policy)
            for i in range(self.num_layers)]
        self.norm = RMSNorm(self.rms_norm_epsilon, self.norm_offset, name="norm", dtype=policy)
        self.lm_head = None if self.tie_embeddings else Dense(
            self.vocabulary_size, use_bias=False, kernel_initializer=init, name="lm_head",
            dtype=policy)
        build_child(self.embed_tokens, None)
        for layer in self.blocks + [self.norm] + ([self.lm_head] if self.lm_head else []):
            build_child(layer, (None, None, self.hidden_dim))
        self.built = True

    # --- cache ----------------------------------------------------------------------
    def init_cache(self, batch_size, capacity, dtype=None):
        """An empty key/value cache: per layer ``[keys, values]`` of zeros, each
        ``[batch_size, capacity, num_key_value_heads, head_dim]`` on the model's backend.

        Example:
            >>> cache = model.init_cache(2, 64)
            >>> logits, cache = model(ids, cache=cache, cache_index=np.int32(0))
        """
        shape = (int(batch_size), int(capacity), self.num_key_value_heads, self.head_dim)
        dtype = dtype or self.compute_dtype
        with context.use(self.backend_name):
            return [[ops.zeros(shape, dtype=dtype), ops.zeros(shape, dtype=dtype)]
                    for _ in range(self.num_layers)]

    # --- forward --------------------------------------------------------------------
    def call(self, input_ids, attention_mask=None, position_ids=None, cache=None,
             cache_index=None):
        """Logits ``[batch, new, vocabulary]`` (and the updated cache when ``cache`` is given).

        Args:
            input_ids: int ``[batch, new]``.
            attention_mask: ``[batch, keys]``, 1 for tokens to attend to, 0 for padding; keys
                are ``new`` without a cache and the cache's ``capacity`` with one.
            position_ids: int ``[batch, new]`` RoPE positions (default ``cache_index +
                arange(new)``, as Hugging Face's forward does).
            cache: ``None`` or :meth:`init_cache`'s list (or a previous call's).
            cache_index: the cache slot of ``input_ids[:, 0]`` (a scalar; a tensor in
                compiled steps, so that its value does not retrace them).
        """
        input_ids = ops.convert_to_tensor(input_ids)
        if "int" not in ops.dtype(input_ids):
            input_ids = ops.cast(input_ids, "int32")
        b, t = input_ids.shape
        if cache is not None and len(cache) != self.num_layers:
            raise KbridgeError(f"`cache` must hold {self.num_layers} layers (init_cache). "
                               f"Received: {len(cache)}")
        start = ops.cast(0 if cache_index is None else cache_index, "int32")
        keys = t if cache is None else cache[0][0].shape[1]
        query_slots = ops.add(ops.arange(t, dtype="int32"), start)
        if position_ids is None:
            position_ids = ops.broadcast_to(ops.expand_dims(query_slots, 0), (b, t))
        positions = ops.cast(ops.convert_to_tensor(position_ids), "float32")
        x = self.embed_tokens(input_ids)
        if self.scale_embeddings:
            x = ops.multiply(x, ops.cast(np.float32(self.hidden_dim ** 0.5), ops.dtype(x)))
        cos, sin = self._rope(positions)

        # Key slot s is visible from query slot q if s <= q (and s > q - window).
        key_slots = ops.arange(keys, dtype="int32")
        causal = ops.less_equal(key_slots[None, :], query_slots[:, None])  # [t, keys]
        keep = None
        if attention_mask is not None:
            keep = ops.not_equal(ops.convert_to_tensor(attention_mask), 0)
            if tuple(keep.shape) != (b, keys):
                raise KbridgeError(f"`attention_mask` must be [batch, {keys}] (one column per "
                                   f"{'cache slot' if cache is not None else 'token'}). "
                                   f"Received: shape={tuple(keep.shape)}")
            keep = keep[:, None, None, None, :]

        def visible(window):
            allowed = causal if window is None else ops.logical_and(
                causal, ops.greater(key_slots[None, :], ops.subtract(query_slots[:, None], window)))
            allowed = allowed[None, None, None]  # [1, 1, 1, t, keys]
            return allowed if keep is None else ops.logical_and(allowed, keep)

        masks = {"full_attention": visible(None)}
        if "sliding_attention" in self.layer_types:
            masks["sliding_attention"] = visible(self.sliding_window)
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, cos, sin, masks[self.layer_types[i]],
                                   cache=None if cache is None else cache[i], cache_index=start)
            new_cache.append(list(layer_cache))
        x = self.norm(x)
        if self.lm_head is None:
            logits = ops.matmul(x, ops.transpose(ops.cast(self.embed_tokens.embeddings,
                                                          ops.dtype(x))))
        else:
            logits = self.lm_head(x)
        if self.final_logit_softcapping is not None:
            logits = _softcap(logits, self.final_logit_softcapping)
        return logits if cache is None else (logits, new_cache)

    def _rope(self, positions):
        """``cos, sin [batch, new, 1, rotary_dim]`` of float ``positions [batch, new]``."""
        inv = ops.convert_to_tensor(self._inv_freq)
        if self._dynamic:
            # Dynamic NTK: past max_position_embeddings, the base grows with the length seen.
            factor, dim = float(self.rope_scaling["factor"]), self.rotary_dim
            length = ops.maximum(ops.add(ops.max(positions), 1.0),
                                 float(self.max_position_embeddings))
            base = ops.multiply(self.rope_theta, ops.power(
                factor * length / self.max_position_embeddings - (factor - 1), dim / (dim - 2)))
            exponents = ops.convert_to_tensor(
                np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim)
            inv = ops.divide(1.0, ops.power(base, exponents))
        freqs = ops.multiply(positions[..., None], inv)
        emb = ops.concatenate([freqs, freqs], axis=-1)[:, :, None, :]
        return ops.cos(emb), ops.sin(emb)

    def get_config(self):
        config = super().get_config()
        config.update({k: getattr(self, k) for k in (
            "vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim",
            "num_key_value_heads", "head_dim", "activation", "rms_norm_epsilon", "norm_offset",
            "scale_embeddings", "tie_embeddings", "rope_theta", "rope_scaling",
            "partial_rotary_factor", "max_position_embeddings", "qkv_bias", "output_bias",
            "mlp_bias", "qk_norm", "sliding_window", "layer_types", "query_pre_attn_scalar",
            "attn_logit_softcapping", "final_logit_softcapping", "sandwich_norm",
            "initializer_range")})
        return config

    def generate(self, input_ids, max_new_tokens, **kwargs):
        """Decode with a fixed-capacity cache; see :func:`model_zoo.text.generation.generate`.

        Example:
            >>> model.generate(np.array([[1, 2, 3]]), max_new_tokens=5)
        """
        from model_zoo.text.generation import generate

        return generate(self, input_ids, max_new_tokens, **kwargs)


for _cls in (RMSNorm, DecoderAttention, DecoderBlock, DecoderLM):
    registry.register_kbridge_serializable(package=PACKAGE)(_cls)
