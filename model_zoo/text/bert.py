"""BERT encoder (Devlin et al., 2019) written with kbridge layers, laid out as Hugging Face's.

``BertEncoder`` is a Functional model: :class:`BertEmbeddings` (word + position + token-type
embeddings, LayerNorm, dropout), then ``num_layers`` post-LN :class:`BertTransformerBlock`
layers (multi-head self-attention, dropout, residual, LayerNorm; GELU feed-forward, dropout,
residual, LayerNorm). It takes ``{"input_ids", "attention_mask", "token_type_ids"}`` (int32
``[batch, seq]``) and returns the last hidden state ``[batch, seq, hidden_dim]`` -- what
``transformers.BertModel(...).last_hidden_state`` gives.

Two options cover the BERT family's other encoders: ``padding_index`` (RoBERTa, XLM-RoBERTa)
numbers positions from the input ids as fairseq does -- non-padding tokens count from
``padding_index + 1``, padding tokens take ``padding_index`` -- and ``type_vocabulary_size``
of 0 (DistilBERT) drops the token-type embedding. With fewer than two token types the model
has no ``token_type_ids`` input (a dict that has one anyway is accepted; the key is ignored).

The two composite layers build their sub-layers (``Embedding``, ``LayerNormalization``,
``MultiHeadAttention``, ``Dense``, ``Dropout``) from shapes and report their output shape
directly, so constructing the model does not run the network on placeholder data.

Its config is its hyperparameters, so ``kbridge.hub.save`` / ``kbridge.hub.load`` round-trip
it (importing ``model_zoo`` registers the classes).
"""

from kbridge import initializers, ops
from kbridge.backend.common import naming
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import KbridgeError
from kbridge.layers.input_layer import Input
from kbridge.layers.layer import Layer
from kbridge.models.functional import Functional
from kbridge.saving import registry
from model_zoo._blocks import PACKAGE, check_heads

__all__ = ["ACTIVATIONS", "BertEmbeddings", "BertEncoder", "BertTransformerBlock",
           "INPUT_NAMES", "gelu_tanh"]

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def gelu_tanh(x):
    """The tanh approximation of GELU (Hugging Face's ``gelu_new`` / ``gelu_pytorch_tanh``)."""
    return ops.gelu(x, approximate=True)


# Registered by plain name so a Dense layer using it serialises to "gelu_tanh".
registry.register(gelu_tanh)

# Hugging Face ``hidden_act`` -> kbridge activation. "gelu" in HF BERT is the exact (erf) GELU.
ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_new": gelu_tanh,
               "gelu_pytorch_tanh": gelu_tanh, "gelu_fast": gelu_tanh, "silu": "silu",
               "swish": "silu", "tanh": "tanh"}


def _truncated_normal(stddev):
    return initializers.get({"class_name": "TruncatedNormal",
                             "config": {"mean": 0.0, "stddev": stddev}})


def _build_sublayer(layer, *shapes):
    """Build ``layer`` for ``shapes`` under its own name scope (paths ``parent/layer/w``)."""
    with naming.name_scope(layer.name):
        layer.build(*shapes)
    layer.built = True


@registry.register_kbridge_serializable(package=PACKAGE)
class BertEmbeddings(Layer):
    """Word + learned absolute position + token-type embeddings, LayerNorm, dropout.

    ``layer(input_ids, token_type_ids=None)`` with int ``(batch, seq)`` ids returns
    ``(batch, seq, hidden_dim)``. Positions count from 0, as in BERT; with ``padding_index``
    (RoBERTa) they come from the ids: ``cumsum(ids != pad) * (ids != pad) + pad``. Without
    ``token_type_ids`` every token has type 0; ``type_vocabulary_size=0`` (DistilBERT) means
    no token-type embedding at all.

    Example:
        >>> layer = BertEmbeddings(100, 8, max_sequence_length=16)
        >>> layer(np.array([[2, 7, 3]]), np.zeros((1, 3), "int32")).shape
        (1, 3, 8)
    """

    def __init__(self, vocabulary_size, hidden_dim, max_sequence_length=512,
                 type_vocabulary_size=2, dropout=0.1, layer_norm_epsilon=1e-12,
                 initializer_range=0.02, padding_index=None, **kwargs):
        from kbridge import layers

        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.hidden_dim = int(hidden_dim)
        self.max_sequence_length = int(max_sequence_length)
        self.type_vocabulary_size = int(type_vocabulary_size)
        self.dropout_rate = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer_range = float(initializer_range)
        self.padding_index = None if padding_index is None else int(padding_index)
        sub = {"dtype": self.dtype_policy}
        self.word_embeddings = layers.Embedding(
            self.vocabulary_size, self.hidden_dim, name="word_embeddings",
            embeddings_initializer=_truncated_normal(self.initializer_range), **sub)
        self.token_type_embeddings = None
        if self.type_vocabulary_size:
            self.token_type_embeddings = layers.Embedding(
                self.type_vocabulary_size, self.hidden_dim, name="token_type_embeddings",
                embeddings_initializer=_truncated_normal(self.initializer_range), **sub)
        self.layer_norm = layers.LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                    name="layer_norm", **sub)
        self.dropout = layers.Dropout(self.dropout_rate, name="dropout", **sub)

    def build(self, input_shape):
        _build_sublayer(self.word_embeddings)
        self.position_embeddings = self.add_weight(
            name="position_embeddings", shape=(self.max_sequence_length, self.hidden_dim),
            initializer=_truncated_normal(self.initializer_range))
        if self.token_type_embeddings is not None:
            _build_sublayer(self.token_type_embeddings)
        _build_sublayer(self.layer_norm, tuple(input_shape) + (self.hidden_dim,))
        self.built = True

    def call(self, input_ids, token_type_ids=None, training=None):
        x = self.word_embeddings(input_ids)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = ops.zeros_like(input_ids)
            x = ops.add(x, self.token_type_embeddings(token_type_ids))
        if self.padding_index is None:
            seq_len = ops.shape(input_ids)[1]
            positions = ops.slice(self.position_embeddings, (0, 0), (seq_len, self.hidden_dim))
        else:
            seq_len = ops.shape(input_ids)[1]
            if seq_len + self.padding_index >= self.max_sequence_length:
                most = self.max_sequence_length - self.padding_index - 1
                raise KbridgeError(
                    f"Sequences may hold at most {most} tokens (max_sequence_length="
                    f"{self.max_sequence_length}, positions start after padding_index="
                    f"{self.padding_index}). Received: {seq_len} tokens")
            real = ops.cast(ops.not_equal(input_ids, self.padding_index), "int32")
            ids = ops.add(ops.multiply(ops.cumsum(real, axis=1), real), self.padding_index)
            positions = ops.take(self.position_embeddings, ids, axis=0)
        x = ops.add(x, ops.cast(positions, ops.dtype(x)))
        x = self.layer_norm(x)
        return self.dropout(x, training=training)

    def compute_output_spec(self, input_ids, token_type_ids=None, training=None):
        return KerasTensor(tuple(input_ids.shape) + (self.hidden_dim,), self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size, "hidden_dim": self.hidden_dim,
            "max_sequence_length": self.max_sequence_length,
            "type_vocabulary_size": self.type_vocabulary_size, "dropout": self.dropout_rate,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range, "padding_index": self.padding_index,
        })
        return config


@registry.register_kbridge_serializable(package=PACKAGE)
class BertTransformerBlock(Layer):
    """One post-LN BERT block: ``LN(x + attention(x))``, then ``LN(h + FFN(h))``.

    ``layer(x, attention_mask=None)``: ``x`` is ``(batch, seq, hidden_dim)``;
    ``attention_mask`` is boolean, broadcastable to ``(batch, seq, seq)``, True where a query
    may attend to a key. The attention is ``kbridge.layers.MultiHeadAttention`` with
    ``key_dim = hidden_dim // num_heads``; the FFN is ``Dense(intermediate_dim, activation)``
    then ``Dense(hidden_dim)``.

    Example:
        >>> block = BertTransformerBlock(num_heads=2, intermediate_dim=16)
        >>> block(np.ones((1, 3, 8), "float32")).shape
        (1, 3, 8)
    """

    def __init__(self, num_heads, intermediate_dim, hidden_activation="gelu", dropout=0.1,
                 attention_dropout=0.1, layer_norm_epsilon=1e-12, initializer_range=0.02,
                 **kwargs):
        super().__init__(**kwargs)
        if hidden_activation not in ACTIVATIONS:
            raise KbridgeError(f"`hidden_activation` must be one of {sorted(ACTIVATIONS)}. "
                               f"Received: hidden_activation={hidden_activation!r}")
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.hidden_activation = hidden_activation
        self.dropout_rate = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer_range = float(initializer_range)

    def build(self, input_shape):
        from kbridge import layers

        hidden_dim = input_shape[-1]
        if hidden_dim is None or hidden_dim % self.num_heads:
            raise KbridgeError("The last dimension of the input to BertTransformerBlock must be "
                               f"a multiple of num_heads={self.num_heads}. Received: "
                               f"input_shape={tuple(input_shape)}")
        shape = tuple(input_shape)
        sub = {"dtype": self.dtype_policy}
        self.self_attention = layers.MultiHeadAttention(
            num_heads=self.num_heads, key_dim=hidden_dim // self.num_heads,
            dropout=self.attention_dropout, name="self_attention",
            kernel_initializer=_truncated_normal(self.initializer_range), **sub)
        self.attention_dropout_layer = layers.Dropout(self.dropout_rate,
                                                      name="attention_dropout", **sub)
        self.attention_layer_norm = layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="attention_layer_norm", **sub)
        self.intermediate = layers.Dense(
            self.intermediate_dim, activation=ACTIVATIONS[self.hidden_activation],
            name="intermediate", kernel_initializer=_truncated_normal(self.initializer_range),
            **sub)
        self.output_dense = layers.Dense(
            hidden_dim, name="output", **sub,
            kernel_initializer=_truncated_normal(self.initializer_range))
        self.output_dropout = layers.Dropout(self.dropout_rate, name="output_dropout", **sub)
        self.output_layer_norm = layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="output_layer_norm", **sub)
        _build_sublayer(self.self_attention, shape, shape)
        _build_sublayer(self.attention_layer_norm, shape)
        _build_sublayer(self.intermediate, shape)
        _build_sublayer(self.output_dense, shape[:-1] + (self.intermediate_dim,))
        _build_sublayer(self.output_layer_norm, shape)
        self.built = True

    def call(self, x, attention_mask=None, training=None):
        attended = self.self_attention(x, x, attention_mask=attention_mask, training=training)
        attended = self.attention_dropout_layer(attended, training=training)
        x = self.attention_layer_norm(ops.add(x, attended))
        ffn = self.output_dense(self.intermediate(x))
        ffn = self.output_dropout(ffn, training=training)
        return self.output_layer_norm(ops.add(x, ffn))

    def compute_output_spec(self, x, attention_mask=None, training=None):
        return KerasTensor(tuple(x.shape), self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
            "hidden_activation": self.hidden_activation, "dropout": self.dropout_rate,
            "attention_dropout": self.attention_dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range,
        })
        return config


@registry.register_kbridge_serializable(package=PACKAGE)
class BertEncoder(Functional):
    """A BERT encoder; ``model(inputs)`` returns the last hidden state.

    Args:
        vocabulary_size: number of word pieces (HF ``vocab_size``).
        num_layers: transformer blocks (``num_hidden_layers``).
        num_heads: attention heads (``num_attention_heads``).
        hidden_dim: model width (``hidden_size``); a multiple of ``num_heads``.
        intermediate_dim: feed-forward width (``intermediate_size``).
        max_sequence_length: rows of the position table (``max_position_embeddings``).
        type_vocabulary_size: segment ids (``type_vocab_size``); 0 for none (DistilBERT).
            Below 2 the model takes no ``token_type_ids`` input.
        hidden_activation: HF ``hidden_act`` name (``"gelu"`` is exact GELU).
        dropout: dropout after embeddings, attention output and feed-forward output.
        attention_dropout: dropout on the attention weights.
        layer_norm_epsilon: LayerNorm epsilon (BERT: 1e-12).
        initializer_range: stddev of the truncated-normal initial weights.
        padding_index: ``None`` (BERT: positions 0, 1, ...) or the padding token id from
            which positions are numbered (RoBERTa / XLM-R: ``pad_token_id``, positions start
            at ``padding_index + 1``).
        dtype: dtype policy of every layer (default float32).

    Example:
        >>> model = BertEncoder(vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8,
        ...                     intermediate_dim=16)
        >>> ids = np.array([[2, 7, 3, 0]], "int32")
        >>> model({"input_ids": ids, "attention_mask": (ids > 0).astype("int32"),
        ...        "token_type_ids": np.zeros_like(ids)}).shape
        (1, 4, 8)
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 max_sequence_length=512, type_vocabulary_size=2, hidden_activation="gelu",
                 dropout=0.1, attention_dropout=0.1, layer_norm_epsilon=1e-12,
                 initializer_range=0.02, padding_index=None, dtype=None, name=None,
                 trainable=True, **kwargs):
        check_heads(hidden_dim, num_heads)
        self._hyper = {
            "vocabulary_size": int(vocabulary_size), "num_layers": int(num_layers),
            "num_heads": int(num_heads), "hidden_dim": int(hidden_dim),
            "intermediate_dim": int(intermediate_dim),
            "max_sequence_length": int(max_sequence_length),
            "type_vocabulary_size": int(type_vocabulary_size),
            "hidden_activation": hidden_activation, "dropout": float(dropout),
            "attention_dropout": float(attention_dropout),
            "layer_norm_epsilon": float(layer_norm_epsilon),
            "initializer_range": float(initializer_range),
            "padding_index": None if padding_index is None else int(padding_index),
        }
        self._dtype_arg = dtype
        h = self._hyper
        names = INPUT_NAMES if h["type_vocabulary_size"] > 1 else INPUT_NAMES[:2]
        inputs = {key: Input(shape=(None,), dtype="int32", name=key) for key in names}
        embeddings = BertEmbeddings(
            h["vocabulary_size"], h["hidden_dim"], max_sequence_length=h["max_sequence_length"],
            type_vocabulary_size=h["type_vocabulary_size"], dropout=h["dropout"],
            layer_norm_epsilon=h["layer_norm_epsilon"], initializer_range=h["initializer_range"],
            padding_index=h["padding_index"], name="embeddings", dtype=dtype)
        if "token_type_ids" in inputs:
            x = embeddings(inputs["input_ids"], inputs["token_type_ids"])
        else:
            x = embeddings(inputs["input_ids"])
        # (batch, 1, seq) boolean: every query may attend to the non-padding keys.
        attention_mask = ops.expand_dims(ops.cast(inputs["attention_mask"], "bool"), 1)
        for i in range(h["num_layers"]):
            x = BertTransformerBlock(
                h["num_heads"], h["intermediate_dim"], hidden_activation=h["hidden_activation"],
                dropout=h["dropout"], attention_dropout=h["attention_dropout"],
                layer_norm_epsilon=h["layer_norm_epsilon"],
                initializer_range=h["initializer_range"], name=f"transformer_layer_{i}",
                dtype=dtype,
            )(x, attention_mask=attention_mask)
        super().__init__(inputs, x, name=name or "bert_encoder", trainable=trainable, **kwargs)

    def get_config(self):
        dtype = self._dtype_arg
        if dtype is not None and not isinstance(dtype, str):
            dtype = registry.serialize(dtype)
        return {"name": self.name, "trainable": self.trainable, "dtype": dtype, **self._hyper}

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = registry.deserialize(config["dtype"], custom_objects=custom_objects)
        return cls(**config)
