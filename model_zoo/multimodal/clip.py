"""CLIP (Radford et al., 2021): a text and an image transformer trained contrastively, laid out
as Hugging Face's ``CLIPModel``.

* Text tower (:class:`CLIPTextTransformer`): token + learned position embeddings, pre-LN blocks
  with a causal (and padding) attention mask, a final LayerNorm; the pooled output is the
  hidden state at the end-of-text token -- the argmax of the ids for old configs
  (``eos_token_id == 2``), else the first ``eos_token_id``.
* Vision tower (:class:`CLIPVisionTransformer`): a patch convolution without bias, a class
  embedding, learned position embeddings, a LayerNorm before the blocks (HF's
  ``pre_layrnorm``) and one on the class token after them (``post_layernorm``).
* :class:`CLIPModel`: both towers, bias-free ``text_projection`` / ``visual_projection`` and
  the learned temperature ``logit_scale`` (logits are ``exp(logit_scale)`` times the cosine
  similarity of the projected features).

Blocks are ``x + attn(LN1(x))`` then ``x + fc2(act(fc1(LN2(x))))`` with ``quick_gelu``
(``x * sigmoid(1.702 x)``) by default. Images are HF's channels-first ``[batch, channels,
height, width]`` unless ``data_format="channels_last"`` is passed. Weights exist from
construction on, with paths that do not depend on the model's name.
"""

import numpy as np

from kbridge import ops
from kbridge.backend.common import context, naming
from kbridge.errors import KbridgeError
from kbridge.initializers import Constant, RandomNormal
from kbridge.layers.convolution import Conv2D
from kbridge.layers.core import Dense, Embedding
from kbridge.layers.layer import Layer
from kbridge.layers.normalization import LayerNormalization
from kbridge.models.model import Model
from kbridge.saving import registry
from model_zoo._blocks import (ACTIVATIONS, PACKAGE, TransformerBlock, attend, build_child,
                               check_activation, merge_heads, quick_gelu, split_heads)

__all__ = ["ACTIVATIONS", "CLIPEncoderLayer", "CLIPModel", "CLIPTextTransformer",
           "CLIPVisionTransformer", "quick_gelu"]


def _normal(stddev):
    return RandomNormal(mean=0.0, stddev=stddev)


class CLIPEncoderLayer(TransformerBlock):
    """One pre-LN block: ``x + attention(layer_norm1(x))``, then ``x + mlp(layer_norm2(x))``.

    ``layer(x, allowed=None)``: ``x`` is ``[batch, seq, hidden_dim]``; ``allowed`` is boolean,
    broadcastable to ``[batch, heads, seq, seq]``, True where a query may attend to a key.

    Example:
        >>> CLIPEncoderLayer(8, 2, 16)(np.ones((1, 3, 8), "float32")).shape
        (1, 3, 8)
    """

    def __init__(self, hidden_dim, num_heads, intermediate_dim, activation="quick_gelu",
                 layer_norm_epsilon=1e-5, initializer_range=0.02, **kwargs):
        super().__init__(hidden_dim, num_heads, intermediate_dim, activation, layer_norm_epsilon,
                         initializer_range, **kwargs)
        policy = self.dtype_policy

        def dense(units, name):
            return Dense(units, name=name, dtype=policy,
                         kernel_initializer=_normal(self.initializer_range))

        self.q_proj, self.k_proj = dense(hidden_dim, "q_proj"), dense(hidden_dim, "k_proj")
        self.v_proj, self.out_proj = dense(hidden_dim, "v_proj"), dense(hidden_dim, "out_proj")
        self.fc1, self.fc2 = dense(intermediate_dim, "fc1"), dense(hidden_dim, "fc2")
        self.layer_norm1 = LayerNormalization(epsilon=self.layer_norm_epsilon,
                                              name="layer_norm1", dtype=policy)
        self.layer_norm2 = LayerNormalization(epsilon=self.layer_norm_epsilon,
                                              name="layer_norm2", dtype=policy)

    def build(self, input_shape=None):
        shape = (None, None, self.hidden_dim)
        with naming.name_scope("self_attn"):  # paths as HF nests them: self_attn/q_proj ...
            for layer in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
                build_child(layer, shape)
        with naming.name_scope("mlp"):
            build_child(self.fc1, shape)
            build_child(self.fc2, (None, None, self.intermediate_dim))
        build_child(self.layer_norm1, shape)
        build_child(self.layer_norm2, shape)
        self.built = True

    def call(self, x, allowed=None):
        h = self.layer_norm1(x)
        q, k, v = (split_heads(proj(h), self.num_heads)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        x = ops.add(x, self.out_proj(merge_heads(attend(q, k, v, allowed))))
        hidden = ACTIVATIONS[self.activation](self.fc1(self.layer_norm2(x)))
        return ops.add(x, self.fc2(hidden))


def _blocks(owner, policy):
    return [CLIPEncoderLayer(owner.hidden_dim, owner.num_heads, owner.intermediate_dim,
                             owner.activation, owner.layer_norm_epsilon,
                             owner.initializer_range, name=f"layer_{i}", dtype=policy)
            for i in range(owner.num_layers)]


class CLIPTextTransformer(Layer):
    """CLIP's text tower: ``layer(input_ids, attention_mask=None)`` returns
    ``(last_hidden_state [B, T, hidden], pooled [B, hidden])`` (pooled at end-of-text).

    Example:
        >>> tower = CLIPTextTransformer(vocabulary_size=100, max_sequence_length=16,
        ...                             hidden_dim=8, num_layers=1, num_heads=2,
        ...                             intermediate_dim=16, eos_token_id=2)
        >>> tower(np.array([[5, 7, 2]]))[1].shape
        (1, 8)
    """

    def __init__(self, vocabulary_size=49408, max_sequence_length=77, hidden_dim=512,
                 num_layers=12, num_heads=8, intermediate_dim=2048, activation="quick_gelu",
                 layer_norm_epsilon=1e-5, eos_token_id=49407, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.max_sequence_length = int(max_sequence_length)
        self.hidden_dim, self.num_layers = int(hidden_dim), int(num_layers)
        self.num_heads, self.intermediate_dim = int(num_heads), int(intermediate_dim)
        self.activation = check_activation(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.eos_token_id = int(eos_token_id)
        self.initializer_range = float(initializer_range)
        policy = self.dtype_policy
        self.token_embedding = Embedding(self.vocabulary_size, self.hidden_dim,
                                         embeddings_initializer=_normal(initializer_range),
                                         name="token_embedding", dtype=policy)
        self.encoder_layers = _blocks(self, policy)
        self.final_layer_norm = LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                   name="final_layer_norm", dtype=policy)

    def build(self, input_shape=None):
        self.position_embedding = self.add_weight(
            shape=(self.max_sequence_length, self.hidden_dim), name="position_embedding",
            initializer=_normal(self.initializer_range))
        build_child(self.token_embedding, (None, None))
        for layer in self.encoder_layers + [self.final_layer_norm]:
            build_child(layer, (None, None, self.hidden_dim))
        self.built = True

    def call(self, input_ids, attention_mask=None):
        batch, seq = input_ids.shape
        if seq > self.max_sequence_length:
            raise KbridgeError(f"CLIP text sequences may hold at most {self.max_sequence_length}"
                               f" tokens (max_position_embeddings). Received: {seq}")
        x = self.token_embedding(input_ids)
        positions = ops.slice(self.position_embedding, (0, 0), (seq, self.hidden_dim))
        x = ops.add(x, ops.cast(positions, ops.dtype(x)))
        allowed = ops.convert_to_tensor(np.tril(np.ones((seq, seq), bool))[None, None])
        if attention_mask is not None:
            keys = ops.cast(ops.reshape(attention_mask, (batch, 1, 1, seq)), "bool")
            allowed = ops.logical_and(allowed, keys)
        for layer in self.encoder_layers:
            x = layer(x, allowed)
        x = self.final_layer_norm(x)
        if self.eos_token_id == 2:  # configs older than the eos_token_id fix: the largest id
            eos = ops.argmax(input_ids, axis=-1)
        else:  # the first end-of-text token
            eos = ops.argmax(ops.cast(ops.equal(input_ids, self.eos_token_id), "int32"), axis=-1)
        pick = ops.one_hot(eos, seq, dtype=ops.dtype(x))  # [B, T]: exact gather by a 0/1 sum
        return x, ops.sum(ops.multiply(x, ops.expand_dims(pick, -1)), axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "max_sequence_length": self.max_sequence_length, "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers, "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim, "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon, "eos_token_id": self.eos_token_id,
            "initializer_range": self.initializer_range})
        return config


class CLIPVisionTransformer(Layer):
    """CLIP's image tower: ``layer(images)`` with channels-last ``[B, H, W, C]`` images returns
    ``(last_hidden_state [B, 1 + patches, hidden], pooled [B, hidden])`` (pooled: the
    post-LayerNorm class token).

    Example:
        >>> tower = CLIPVisionTransformer(image_size=8, patch_size=4, hidden_dim=8,
        ...                               num_layers=1, num_heads=2, intermediate_dim=16)
        >>> tower(np.zeros((1, 8, 8, 3), "float32"))[0].shape
        (1, 5, 8)
    """

    def __init__(self, image_size=224, patch_size=32, num_channels=3, hidden_dim=768,
                 num_layers=12, num_heads=12, intermediate_dim=3072, activation="quick_gelu",
                 layer_norm_epsilon=1e-5, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.patch_size = int(image_size), int(patch_size)
        if self.image_size % self.patch_size:
            raise KbridgeError("`image_size` must be a multiple of `patch_size`. Received: "
                               f"image_size={image_size}, patch_size={patch_size}")
        self.grid = self.image_size // self.patch_size
        self.num_channels, self.hidden_dim = int(num_channels), int(hidden_dim)
        self.num_layers, self.num_heads = int(num_layers), int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.activation = check_activation(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.initializer_range = float(initializer_range)
        policy = self.dtype_policy
        self.patch_embedding = Conv2D(self.hidden_dim, self.patch_size, strides=self.patch_size,
                                      use_bias=False, name="patch_embedding", dtype=policy,
                                      kernel_initializer=_normal(initializer_range))
        self.encoder_layers = _blocks(self, policy)
        norm = {"epsilon": self.layer_norm_epsilon, "dtype": policy}
        self.pre_layernorm = LayerNormalization(name="pre_layernorm", **norm)
        self.post_layernorm = LayerNormalization(name="post_layernorm", **norm)

    def build(self, input_shape=None):
        init = _normal(self.initializer_range)
        self.class_embedding = self.add_weight(shape=(self.hidden_dim,), initializer=init,
                                               name="class_embedding")
        self.position_embedding = self.add_weight(
            shape=(1 + self.grid * self.grid, self.hidden_dim), initializer=init,
            name="position_embedding")
        build_child(self.patch_embedding,
                    (None, self.image_size, self.image_size, self.num_channels))
        for layer in self.encoder_layers + [self.pre_layernorm]:
            build_child(layer, (None, None, self.hidden_dim))
        build_child(self.post_layernorm, (None, self.hidden_dim))
        self.built = True

    def call(self, images):
        expected = (self.image_size, self.image_size, self.num_channels)
        if tuple(images.shape[1:]) != expected:
            raise KbridgeError(f"CLIP expects channels-last images of shape (batch, {expected[0]}"
                               f", {expected[1]}, {expected[2]}) here. Received: "
                               f"{tuple(images.shape)}")
        patches = self.patch_embedding(images)  # [B, h, w, hidden], row-major as HF flattens
        batch = patches.shape[0]
        patches = ops.reshape(patches, (batch, self.grid * self.grid, self.hidden_dim))
        cls = ops.broadcast_to(ops.cast(self.class_embedding, ops.dtype(patches)),
                               (batch, 1, self.hidden_dim))
        x = ops.concatenate([cls, patches], axis=1)
        x = self.pre_layernorm(ops.add(x, ops.cast(self.position_embedding, ops.dtype(x))))
        for layer in self.encoder_layers:
            x = layer(x)
        return x, self.post_layernorm(x[:, 0])

    def get_config(self):
        config = super().get_config()
        config.update({
            "image_size": self.image_size, "patch_size": self.patch_size,
            "num_channels": self.num_channels, "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers, "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim, "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range})
        return config


class CLIPModel(Model):
    """CLIP: ``model(inputs)`` scores every image against every text.

    ``inputs`` is ``{"input_ids": [T, seq] ints, "attention_mask": optional [T, seq],
    "pixel_values": [I, C, H, W]}`` (channels-first, as HF's image processor gives); it returns
    ``{"logits_per_image": [I, T], "logits_per_text": [T, I], "text_embeds", "image_embeds"}``
    (embeds L2-normalised, as HF's ``CLIPOutput``).

    Args:
        text_config: :class:`CLIPTextTransformer` keyword arguments (a dict).
        vision_config: :class:`CLIPVisionTransformer` keyword arguments (a dict).
        projection_dim: width of the shared embedding space.
        logit_scale_init_value: initial ``logit_scale`` (log of the inverse temperature).

    Example:
        >>> model = CLIPModel(
        ...     text_config=dict(vocabulary_size=100, max_sequence_length=16, hidden_dim=8,
        ...                      num_layers=1, num_heads=2, intermediate_dim=16),
        ...     vision_config=dict(image_size=8, patch_size=4, hidden_dim=8, num_layers=1,
        ...                        num_heads=2, intermediate_dim=16), projection_dim=4)
        >>> model.get_image_features(np.zeros((2, 3, 8, 8), "float32")).shape
        (2, 4)
    """

    def __init__(self, text_config=None, vision_config=None, projection_dim=512,
                 logit_scale_init_value=2.6592, **kwargs):
        super().__init__(**kwargs)
        policy = self.dtype_policy
        self.text_model = CLIPTextTransformer(**dict(text_config or {}), name="text_model",
                                              dtype=policy)
        self.vision_model = CLIPVisionTransformer(**dict(vision_config or {}),
                                                  name="vision_model", dtype=policy)
        self.projection_dim = int(projection_dim)
        self.logit_scale_init_value = float(logit_scale_init_value)
        self.text_projection = Dense(self.projection_dim, use_bias=False, dtype=policy,
                                     name="text_projection")
        self.visual_projection = Dense(self.projection_dim, use_bias=False, dtype=policy,
                                       name="visual_projection")
        build_child(self.text_model, None)
        build_child(self.vision_model, None)
        build_child(self.text_projection, (None, self.text_model.hidden_dim))
        build_child(self.visual_projection, (None, self.vision_model.hidden_dim))
        self.logit_scale = self.add_weight(shape=(), name="logit_scale",
                                           initializer=Constant(self.logit_scale_init_value))
        self.built = True

    def get_text_features(self, input_ids, attention_mask=None):
        """Projected (not normalised) text features ``[batch, projection_dim]``, as HF's
        ``get_text_features``; ``input_ids`` / ``attention_mask`` are ``[batch, seq]``."""
        with context.use(self.backend_name):
            input_ids = ops.convert_to_tensor(input_ids, "int32")
            if attention_mask is not None:
                attention_mask = ops.convert_to_tensor(attention_mask, "int32")
            return self.text_projection(self.text_model(input_ids, attention_mask)[1])

    def get_image_features(self, pixel_values, data_format="channels_first"):
        """Projected (not normalised) image features ``[batch, projection_dim]``.

        ``pixel_values`` are ``[B, C, H, W]`` (HF's layout) or, with
        ``data_format="channels_last"``, ``[B, H, W, C]``.
        """
        if data_format not in ("channels_first", "channels_last"):
            raise KbridgeError("`data_format` must be 'channels_first' or 'channels_last'. "
                               f"Received: data_format={data_format!r}")
        with context.use(self.backend_name):
            images = ops.convert_to_tensor(pixel_values, self.compute_dtype)
            if data_format == "channels_first":
                images = ops.transpose(images, (0, 2, 3, 1))
            return self.visual_projection(self.vision_model(images)[1])

    def call(self, inputs, data_format="channels_first"):
        missing = [k for k in ("input_ids", "pixel_values") if k not in inputs]
        if not isinstance(inputs, dict) or missing:
            raise KbridgeError("CLIPModel expects a dict with 'input_ids', 'pixel_values' and "
                               f"optionally 'attention_mask'. Missing: {missing}")
        text = _normalize(self.get_text_features(inputs["input_ids"],
                                                 inputs.get("attention_mask")))
        image = _normalize(self.get_image_features(inputs["pixel_values"], data_format))
        scale = ops.exp(ops.cast(self.logit_scale, ops.dtype(text)))
        logits_per_text = ops.multiply(ops.matmul(text, ops.transpose(image)), scale)
        return {"logits_per_image": ops.transpose(logits_per_text),
                "logits_per_text": logits_per_text, "text_embeds": text, "image_embeds": image}

    def get_config(self):
        config = super().get_config()
        text, vision = self.text_model.get_config(), self.vision_model.get_config()
        drop = ("name", "trainable", "dtype")
        config.update({
            "text_config": {k: v for k, v in text.items() if k not in drop},
            "vision_config": {k: v for k, v in vision.items() if k not in drop},
            "projection_dim": self.projection_dim,
            "logit_scale_init_value": self.logit_scale_init_value})
        return config


def _normalize(x):
    return ops.divide(x, ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True)))


for _cls in (CLIPEncoderLayer, CLIPTextTransformer, CLIPVisionTransformer, CLIPModel):
    registry.register_kbridge_serializable(package=PACKAGE)(_cls)
