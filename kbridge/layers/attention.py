"""Attention layers: MultiHeadAttention, GroupedQueryAttention, Attention, AdditiveAttention.

The projections of the multi-head layers are einsums over weights with Keras 3's shapes
(query/key/value kernels ``(dim, heads, head_dim)``, biases ``(heads, head_dim)``, output kernel
``(heads, head_dim, *output_shape)``), created in Keras's order and under the same paths
(``query/kernel`` ...), so Keras weights load unchanged.
"""

import math
import string

from kbridge import initializers, ops
from kbridge.backend.common import naming
from kbridge.layers.convolution import LayerArgumentError
from kbridge.layers.layer import Layer, _get_constraint, _get_regularizer
from kbridge.saving import registry

__all__ = [
    "MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention", "Attention",
    "AdditiveAttention",
]

# Large negative logit for masked positions (as Keras; float16 cannot hold -1e9).
_LARGE_NEGATIVE = -1e9
_LARGE_NEGATIVE_F16 = -3e4


def _large_negative(dtype):
    return _LARGE_NEGATIVE_F16 if dtype == "float16" else _LARGE_NEGATIVE


def _masked_softmax(scores, mask, axes):
    """Softmax over ``axes``; positions where ``mask`` is False get weight exactly 0."""
    if mask is not None:
        mask = ops.cast(mask, "bool")
        scores = ops.where(mask, scores, _large_negative(ops.dtype(scores)))
    if len(axes) == 1:
        probs = ops.softmax(scores, axis=axes[0])
    else:
        probs = ops.exp(ops.subtract(scores, ops.logsumexp(scores, axis=axes, keepdims=True)))
    if mask is not None:
        # A fully masked row would otherwise come out uniform.
        probs = ops.where(mask, probs, ops.zeros_like(probs))
    return probs


def _causal_mask(q_len, v_len):
    """Boolean ``(1, q_len, v_len)``: position t attends to positions <= t."""
    rows = ops.reshape(ops.arange(q_len, dtype="int32"), (1, q_len, 1))
    cols = ops.reshape(ops.arange(v_len, dtype="int32"), (1, 1, v_len))
    return ops.greater_equal(rows, cols)


def _sliding_window_mask(q_len, v_len, window):
    rows = ops.reshape(ops.arange(q_len, dtype="int32"), (1, q_len, 1))
    cols = ops.reshape(ops.arange(v_len, dtype="int32"), (1, 1, v_len))
    return ops.less(ops.abs(ops.subtract(rows, cols)), window)


def _combine_masks(query, value, query_mask, value_mask, key_mask, attention_mask,
                   use_causal_mask, sliding_window):
    """One boolean ``(B, T, S)``-broadcastable mask from every mask source (logical AND)."""
    masks = []
    if query_mask is not None:
        masks.append(ops.expand_dims(ops.cast(query_mask, "bool"), -1))
    if value_mask is not None:
        masks.append(ops.expand_dims(ops.cast(value_mask, "bool"), -2))
    if key_mask is not None:
        masks.append(ops.expand_dims(ops.cast(key_mask, "bool"), -2))
    q_len, v_len = ops.shape(query)[1], ops.shape(value)[1]
    if use_causal_mask:
        masks.append(_causal_mask(q_len, v_len))
    if sliding_window is not None:
        masks.append(_sliding_window_mask(q_len, v_len, sliding_window))
    if attention_mask is not None:
        masks.insert(0, ops.cast(attention_mask, "bool"))
    if not masks:
        return None
    combined = masks[0]
    for m in masks[1:]:
        combined = ops.logical_and(combined, m)
    return combined


def _letters(start, count):
    return string.ascii_lowercase[start:start + count]


def _projection_equation(free_dims, bound_dims, output_dims):
    """Einsum for a dense projection: ``free + bound`` input dims -> ``free + output`` dims."""
    free = _letters(0, free_dims)
    bound = _letters(free_dims, bound_dims)
    out = _letters(free_dims + bound_dims, output_dims)
    return f"{free}{bound},{bound}{out}->{free}{out}"


def _attention_equations(rank, attn_axes):
    """(scores equation, combine equation, scores rank) for projected tensors of ``rank``.

    Projected tensors are ``(batch, <other dims>, <attention dims>, heads, channels)``; the
    scores are ``(<batch and other dims>, heads, <query attention dims>, <key attention dims>)``.
    """
    target = _letters(0, rank)
    batch_dims = [i for i in range(rank) if i not in attn_axes and i != rank - 1]
    source, offset = "", rank
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += target[i]
        else:
            source += string.ascii_lowercase[offset]
            offset += 1
    product = ("".join(target[i] for i in batch_dims) + "".join(target[i] for i in attn_axes)
               + "".join(source[i] for i in attn_axes))
    return (f"{source},{target}->{product}", f"{product},{source}->{target}", len(product))


class _ProjectingAttention(Layer):
    """Weights, masks and call shared by MultiHeadAttention and GroupedQueryAttention."""

    # Whether a query without ``query_mask`` is masked by its own Keras mask.
    _query_mask_from_input = False

    def _init_common(self, dropout, use_bias, sliding_window, kernel_initializer,
                     bias_initializer, kernel_regularizer, bias_regularizer,
                     activity_regularizer, kernel_constraint, bias_constraint, use_gate, seed):
        self.supports_masking = True
        if sliding_window is not None and (not isinstance(sliding_window, int)
                                           or sliding_window <= 0):
            raise LayerArgumentError("`sliding_window` must be None or a positive int. "
                               f"Received: sliding_window={sliding_window!r}")
        self._dropout = float(dropout)
        self._use_bias = bool(use_bias)
        self._use_gate = bool(use_gate)
        self._sliding_window = sliding_window
        self._kernel_initializer = initializers.get(kernel_initializer)
        self._bias_initializer = initializers.get(bias_initializer)
        self._kernel_regularizer = _get_regularizer(kernel_regularizer)
        self._bias_regularizer = _get_regularizer(bias_regularizer)
        # As in Keras, the activity regulariser applies to each projection's output.
        self._projection_activity_regularizer = _get_regularizer(activity_regularizer)
        self._kernel_constraint = _get_constraint(kernel_constraint)
        self._bias_constraint = _get_constraint(bias_constraint)
        self.seed = seed
        self._projections = None
        self.seed_generator = None
        if self._dropout > 0:
            from kbridge import random

            self.seed_generator = random.SeedGenerator(seed=seed)

    def _add_projection(self, name, kernel_shape, bias_shape, equation, activation=None):
        """The projection ``name`` as an EinsumDense sublayer, built now (Keras's
        ``_query_dense`` ...): its weights are ``<layer>/<name>/kernel`` and ``bias``, and
        ``enable_lora`` / ``quantize`` reach it like any EinsumDense."""
        from kbridge.layers.core import EinsumDense

        out = equation.split("->")[1]
        free = len(out) - len(bias_shape)  # batch and other leading dims of the output
        bound = tuple(kernel_shape[:len(kernel_shape) - len(bias_shape)])
        layer = EinsumDense(
            equation, output_shape=(None,) * (free - 1) + tuple(bias_shape),
            activation=activation, bias_axes=out[free:] if self._use_bias else None,
            kernel_initializer=self._kernel_initializer.clone(),
            bias_initializer=self._bias_initializer.clone(),
            kernel_regularizer=self._kernel_regularizer, bias_regularizer=self._bias_regularizer,
            kernel_constraint=self._kernel_constraint, bias_constraint=self._bias_constraint,
            activity_regularizer=self._projection_activity_regularizer, name=name,
            dtype=self.dtype_policy)
        with naming.layer_scope(name):
            layer.build((None,) * free + bound)
        return layer

    dropout = property(lambda self: self._dropout)
    use_bias = property(lambda self: self._use_bias)

    def _project(self, name, x):
        return self._projections[name](x)

    # Keras's names for the projection sublayers.
    _query_dense = property(lambda self: self._projections["query"])
    _key_dense = property(lambda self: self._projections["key"])
    _value_dense = property(lambda self: self._projections["value"])
    _output_dense = property(lambda self: self._projections["attention_output"])

    def _dropout_scores(self, scores, training):
        if training and self._dropout > 0:
            from kbridge import random

            return random.dropout(scores, self._dropout, seed=self.seed_generator)
        return scores

    def _attend(self, query, key, value, mask, training, return_scores, causal_only, scale,
                attn_axes, dot_equation, combine_equation, scores_rank):
        """Scaled dot-product attention of projected tensors, taking Keras's two routes.

        Keras uses the fused ``dot_product_attention`` op when it can (no dropout, no scores
        returned, rank-4 projections) and an explicit einsum + masked softmax otherwise; the
        two differ only for fully masked rows (uniform weights vs. zeros), which is kept.
        """
        # At inference dropout is a no-op, so a layer with dropout takes the fused op too
        # (Keras keeps the explicit route there; the numbers are the same).
        fused = not ((self._dropout > 0 and training) or return_scores
                     or len(query.shape) != 4)
        if fused:
            if mask is not None:
                for _ in range(4 - len(mask.shape)):
                    mask = ops.expand_dims(mask, -3)
                mask = ops.cast(mask, "bool")
            out = ops.dot_product_attention(query, key, value, mask=mask, scale=scale,
                                            is_causal=bool(causal_only))
            if mask is not None and self._dropout > 0:
                # The explicit route gives a fully masked row zero weights: keep that.
                attends = ops.transpose(ops.any(mask, axis=-1, keepdims=True), (0, 2, 1, 3))
                out = ops.where(attends, out, ops.zeros_like(out))
            return out, None
        if causal_only:
            mask = _causal_mask(ops.shape(query)[1], ops.shape(value)[1])
        query = ops.multiply(query, ops.cast(scale, ops.dtype(query)))
        scores = ops.einsum(dot_equation, key, query)
        if mask is not None:
            for _ in range(len(scores.shape) - len(mask.shape)):
                mask = ops.expand_dims(mask, -len(attn_axes) * 2 - 1)
        norm_axes = tuple(range(scores_rank - len(attn_axes), scores_rank))
        scores = _masked_softmax(scores, mask, norm_axes)
        out = ops.einsum(combine_equation, self._dropout_scores(scores, training), value)
        return out, scores

    def _project_key_value(self, key, value):
        return self._project("key", key), self._project("value", value)

    def _attention_layout(self):
        """``_attend``'s ``(scale, attn_axes, dot_equation, combine_equation, scores_rank)``."""
        raise NotImplementedError

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        if key is None:
            key = value
        if self._projections is None:
            self.build(tuple(query.shape), tuple(value.shape), tuple(key.shape))
        if query_mask is None and self._query_mask_from_input:
            query_mask = getattr(query, "_keras_mask", None)
        causal_only = (use_causal_mask and query_mask is None and value_mask is None
                       and key_mask is None and attention_mask is None
                       and self._sliding_window is None)
        mask = None if causal_only else _combine_masks(
            query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask,
            self._sliding_window)
        gate = self._project("gate", query) if self._use_gate else None
        q = self._project("query", query)
        k, v = self._project_key_value(key, value)
        out, scores = self._attend(q, k, v, mask, training, return_attention_scores,
                                   causal_only, *self._attention_layout())
        if gate is not None:
            out = ops.multiply(out, gate)
        out = self._project("attention_output", out)
        if return_attention_scores:
            return out, scores
        return out

    def compute_mask(self, inputs, previous_mask):
        return previous_mask

    def _common_config(self):
        return {
            "kernel_initializer": registry.serialize(self._kernel_initializer),
            "bias_initializer": registry.serialize(self._bias_initializer),
            "kernel_regularizer": registry.serialize(self._kernel_regularizer),
            "bias_regularizer": registry.serialize(self._bias_regularizer),
            "activity_regularizer": registry.serialize(self._projection_activity_regularizer),
            "kernel_constraint": registry.serialize(self._kernel_constraint),
            "bias_constraint": registry.serialize(self._bias_constraint),
            "seed": self.seed,
        }

    def get_build_config(self):
        # Only the tensors that determine the weights (masks passed by keyword do not).
        shapes = {k: v for k, v in (self._build_shapes_dict or {}).items()
                  if k in ("query_shape", "value_shape", "key_shape")}
        return {"shapes_dict": shapes} if shapes else None


def _sigmoid(x):
    return ops.sigmoid(x)


class MultiHeadAttention(_ProjectingAttention):
    """Multi-head attention (Vaswani et al.) with Keras 3's weights, masks and arguments.

    ``layer(query, value, key=None, attention_mask=None, use_causal_mask=False,
    return_attention_scores=False)``; ``attention_mask`` is boolean ``(B, T, S)`` with True
    where attention is allowed, combined (AND) with ``query_mask``/``value_mask``/``key_mask``,
    the causal mask and the sliding window.

    Example:
        >>> mha = kbridge.layers.MultiHeadAttention(num_heads=2, key_dim=4)
        >>> mha(np.ones((1, 5, 8)), np.ones((1, 3, 8))).shape
        (1, 5, 8)
    """

    _query_mask_from_input = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if not isinstance(value, int) or value <= 0:
                raise LayerArgumentError(f"`{name}` must be a positive int. Received: {name}={value!r}")
        if value_dim is not None and (not isinstance(value_dim, int) or value_dim <= 0):
            raise LayerArgumentError("`value_dim` must be a positive int or None. "
                               f"Received: value_dim={value_dim!r}")
        super().__init__(**kwargs)
        self._init_common(dropout, use_bias, sliding_window, kernel_initializer,
                          bias_initializer, kernel_regularizer, bias_regularizer,
                          activity_regularizer, kernel_constraint, bias_constraint, use_gate,
                          seed)
        self._num_heads = num_heads
        self._key_dim = key_dim
        self._value_dim = value_dim if value_dim else key_dim
        if output_shape:
            output_shape = (output_shape,) if isinstance(output_shape, int) else output_shape
            output_shape = tuple(int(d) for d in output_shape)
        self._output_shape = output_shape or None
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes is not None and not isinstance(attention_axes, (list, tuple)):
            raise LayerArgumentError("`attention_axes` must be an int, a list or a tuple. "
                               f"Received: attention_axes={attention_axes!r}")
        self._attention_axes = None if attention_axes is None else tuple(attention_axes)
        # The fused op's flash variant is a backend detail; results are the same without it.
        self._flash_attention = flash_attention
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(key_dim))

    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    attention_axes = property(lambda self: self._attention_axes)

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            # Built lazily from the first call, which sees every input (see call()).
            return
        key_shape = value_shape if key_shape is None else key_shape
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise LayerArgumentError("All dimensions of `value` and `key`, except the last one, must "
                               f"be equal. Received: value_shape={tuple(value_shape)}, "
                               f"key_shape={tuple(key_shape)}")
        q_rank, h = len(query_shape), self._num_heads
        q_dim, k_dim, v_dim = query_shape[-1], key_shape[-1], value_shape[-1]
        out_shape = self._output_shape or (query_shape[-1],)
        projections = {}
        projections["query"] = self._add_projection(
            "query", (q_dim, h, self._key_dim), (h, self._key_dim),
            _projection_equation(q_rank - 1, 1, 2))
        projections["key"] = self._add_projection(
            "key", (k_dim, h, self._key_dim), (h, self._key_dim),
            _projection_equation(len(key_shape) - 1, 1, 2))
        if self._use_gate:
            projections["gate"] = self._add_projection(
                "gate", (q_dim, h, self._value_dim), (h, self._value_dim),
                _projection_equation(q_rank - 1, 1, 2), activation=_sigmoid)
        projections["value"] = self._add_projection(
            "value", (v_dim, h, self._value_dim), (h, self._value_dim),
            _projection_equation(len(value_shape) - 1, 1, 2))
        projections["attention_output"] = self._add_projection(
            "attention_output", (h, self._value_dim) + tuple(out_shape), tuple(out_shape),
            _projection_equation(q_rank - 1, 2, len(out_shape)))
        self._projections = projections
        rank = len(value_shape) + 1
        if self._attention_axes is None:
            axes = tuple(range(1, rank - 2))
        else:
            axes = tuple(a if a >= 0 else (rank - 1) + a for a in self._attention_axes)
        self._attn_axes_resolved = axes
        self._equations = _attention_equations(rank, axes)
        self.built = True

    def _attention_layout(self):
        return (self._inverse_sqrt_key_dim, self._attn_axes_resolved) + self._equations

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self._num_heads,
            "key_dim": self._key_dim,
            "value_dim": self._value_dim,
            "dropout": self._dropout,
            "use_bias": self._use_bias,
            "use_gate": self._use_gate,
            "output_shape": self._output_shape,
            "attention_axes": self._attention_axes,
            "sliding_window": self._sliding_window,
        })
        config.update(self._common_config())
        return config


class GroupedQueryAttention(_ProjectingAttention):
    """Grouped-query attention: ``num_query_heads`` query heads share ``num_key_value_heads``.

    Inputs are ``(batch, seq, dim)``. Weights: query/key/value kernels ``(dim, heads,
    head_dim)`` and the output kernel ``(num_query_heads, head_dim, dim)``. Exported under
    Keras 3's public name ``GroupQueryAttention`` too.

    Example:
        >>> gqa = kbridge.layers.GroupedQueryAttention(8, num_query_heads=4,
        ...                                            num_key_value_heads=2)
        >>> gqa(np.ones((1, 5, 16)), np.ones((1, 6, 16))).shape
        (1, 5, 16)
    """

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, sliding_window=None, flash_attention=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        if num_query_heads % num_key_value_heads:
            raise LayerArgumentError("`num_query_heads` must be a multiple of `num_key_value_heads`. "
                               f"Received: num_query_heads={num_query_heads}, "
                               f"num_key_value_heads={num_key_value_heads}")
        self._init_common(dropout, use_bias, sliding_window, kernel_initializer,
                          bias_initializer, kernel_regularizer, bias_regularizer,
                          activity_regularizer, kernel_constraint, bias_constraint, use_gate,
                          seed)
        self.head_dim = int(head_dim)
        self.num_query_heads = int(num_query_heads)
        self.num_key_value_heads = int(num_key_value_heads)
        self.num_repeats = self.num_query_heads // self.num_key_value_heads
        self._flash_attention = flash_attention
        self._inverse_sqrt_head_dim = 1.0 / math.sqrt(float(self.head_dim))

    use_gate = property(lambda self: self._use_gate)
    sliding_window = property(lambda self: self._sliding_window)

    def build(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is None:
            return  # built from the first call, which sees every input
        key_shape = value_shape if key_shape is None else key_shape
        hq, hkv, d = self.num_query_heads, self.num_key_value_heads, self.head_dim
        self.feature_dim = query_shape[-1]
        p = {}
        p["query"] = self._add_projection("query", (query_shape[-1], hq, d), (hq, d),
                                          "bqm,muh->bquh")
        p["key"] = self._add_projection("key", (key_shape[-1], hkv, d), (hkv, d),
                                        "bkm,mvh->bkvh")
        if self._use_gate:
            p["gate"] = self._add_projection("gate", (query_shape[-1], hq, d), (hq, d),
                                             "bqm,muh->bquh", activation=_sigmoid)
        p["value"] = self._add_projection("value", (value_shape[-1], hkv, d), (hkv, d),
                                          "bkm,mvh->bkvh")
        p["attention_output"] = self._add_projection(
            "attention_output", (hq, d, self.feature_dim), (self.feature_dim,),
            "bquh,uhm->bqm")
        self._projections = p
        self.built = True

    def _project_key_value(self, key, value):
        k = ops.repeat(self._project("key", key), self.num_repeats, axis=2)
        return k, ops.repeat(self._project("value", value), self.num_repeats, axis=2)

    def _attention_layout(self):
        return (self._inverse_sqrt_head_dim, (1,), "bkuh,bquh->buqk", "buqk,bkuh->bquh", 4)

    def get_config(self):
        config = super().get_config()
        config.update({
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self._use_bias,
            "use_gate": self._use_gate,
            "sliding_window": self._sliding_window,
            "dropout": self._dropout,
        })
        config.update(self._common_config())
        return config


GroupQueryAttention = GroupedQueryAttention  # Keras 3's public name


class Attention(Layer):
    """Dot-product (Luong) attention over ``[query, value]`` or ``[query, value, key]``.

    ``score_mode="dot"``: scores ``query @ key^T`` (times a learned scalar with ``use_scale``);
    ``"concat"``: ``w * sum(tanh(query + key))``. ``mask=[query_mask, value_mask]`` and
    ``use_causal_mask`` restrict which values each query sees.

    Example:
        >>> kbridge.layers.Attention()([np.ones((2, 4, 3)), np.ones((2, 6, 3))]).shape
        (2, 4, 3)
    """

    _config_attrs = ("use_scale", "score_mode", "dropout", "seed")

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise LayerArgumentError("`score_mode` must be 'dot' or 'concat'. "
                               f"Received: score_mode={score_mode!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = seed
        self.seed_generator = None
        if self.dropout > 0:
            from kbridge import random

            self.seed_generator = random.SeedGenerator(seed=seed)
        self.supports_masking = True

    def _validate(self, inputs, mask=None):
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise LayerArgumentError(f"{name} must be called on a list [query, value] or "
                               f"[query, value, key]. Received: {inputs!r}")
        if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
            raise LayerArgumentError(f"{name} takes a mask list [query_mask, value_mask]. "
                               f"Received: mask={mask!r}")

    def build(self, input_shape):
        self._validate(input_shape)
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(name="concat_score_weight", shape=(),
                                                       initializer="ones")
        self.built = True

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -2, -1))
            if self.scale is not None:
                scores = ops.multiply(scores, self.scale)
            return scores
        summed = ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3))
        if self.scale is not None:
            summed = ops.multiply(self.scale, summed)
        return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(summed), axis=-1))

    def call(self, inputs, mask=None, training=False, return_attention_scores=False,
             use_causal_mask=False):
        self._validate(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._calculate_scores(query, key)
        scores_mask = None
        if v_mask is not None:
            scores_mask = ops.expand_dims(ops.cast(v_mask, "bool"), -2)
        if use_causal_mask:
            causal = _causal_mask(ops.shape(scores)[-2], ops.shape(scores)[-1])
            scores_mask = causal if scores_mask is None else ops.logical_and(scores_mask, causal)
        if scores_mask is not None:
            # Keras subtracts a large number rather than replacing the score.
            big = 65504.0 if ops.dtype(scores) == "float16" else 1.0e9
            scores = ops.where(scores_mask, scores, ops.subtract(scores, big))
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            from kbridge import random

            weights = random.dropout(weights, self.dropout, seed=self.seed_generator)
        outputs = ops.matmul(weights, value)
        if q_mask is not None:
            q_mask = ops.expand_dims(ops.cast(q_mask, "bool"), -1)
            outputs = ops.where(q_mask, outputs, ops.zeros_like(outputs))
        if return_attention_scores:
            return outputs, weights
        return outputs

    def compute_mask(self, inputs, previous_mask):
        if previous_mask is None or previous_mask[0] is None:
            return None
        return previous_mask[0]


class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention: scores ``sum(scale * tanh(query + key))``.

    Example:
        >>> kbridge.layers.AdditiveAttention()([np.ones((2, 4, 3)), np.ones((2, 6, 3))]).shape
        (2, 4, 3)
    """

    _config_attrs = ("use_scale", "dropout", "seed")

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        kwargs.pop("score_mode", None)
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._validate(input_shape)
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(input_shape[0][-1],),
                                         initializer="glorot_uniform")
        self.built = True

    def _calculate_scores(self, query, key):
        summed = ops.tanh(ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3)))
        if self.scale is not None:
            summed = ops.multiply(self.scale, summed)
        return ops.sum(summed, axis=-1)
