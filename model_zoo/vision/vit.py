"""Vision Transformer (Dosovitskiy et al., 2021), laid out as Hugging Face's ``ViTModel``.

Patch embedding (a ``patch x patch`` convolution with the same stride), a learned CLS token,
learned position embeddings, ``num_layers`` pre-LN encoder blocks (LayerNorm, multi-head
self-attention, residual; LayerNorm, GELU feed-forward, residual), a final LayerNorm and,
with ``add_pooling_layer``, HF's pooler (dense + tanh on the CLS position).

``model(pixel_values)`` takes HF's channels-first ``[batch, channels, height, width]`` and
returns ``{"last_hidden_state": [batch, 1 + patches, hidden], "pooler_output": [batch,
pooler_dim]}`` (no ``pooler_output`` without the pooling layer). Weights exist from
construction on, with paths that do not depend on the model's name.
"""

from kbridge import ops
from kbridge.backend.common import naming
from kbridge.errors import KbridgeError
from kbridge.initializers import TruncatedNormal
from kbridge.layers.convolution import Conv2D
from kbridge.layers.core import Dense
from kbridge.layers.layer import Layer
from kbridge.layers.normalization import LayerNormalization
from kbridge.models.model import Model
from kbridge.saving import registry
from model_zoo._blocks import (ACTIVATIONS, PACKAGE, TransformerBlock, attend, build_child,
                               check_activation, merge_heads, split_heads)

__all__ = ["ViTBackbone", "ViTEmbeddings", "ViTLayer"]


def _pair(value, name):
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise KbridgeError(f"`{name}` must be a positive int or a pair of them. "
                           f"Received: {name}={value!r}")
    return pair


class ViTEmbeddings(Layer):
    """Patches -> ``[CLS] + patch embeddings + position embeddings`` (``[B, 1 + N, hidden]``).

    Takes channels-last images ``[B, H, W, C]``.
    """

    def __init__(self, image_size, patch_size, num_channels, hidden_dim, initializer_range=0.02,
                 **kwargs):
        super().__init__(**kwargs)
        self.image_size = _pair(image_size, "image_size")
        self.patch_size = _pair(patch_size, "patch_size")
        if any(i % p for i, p in zip(self.image_size, self.patch_size)):
            raise KbridgeError("`image_size` must be a multiple of `patch_size`. Received: "
                               f"image_size={image_size}, patch_size={patch_size}")
        self.num_channels, self.hidden_dim = int(num_channels), int(hidden_dim)
        self.initializer_range = float(initializer_range)
        self.grid = tuple(i // p for i, p in zip(self.image_size, self.patch_size))
        self.projection = Conv2D(self.hidden_dim, self.patch_size, strides=self.patch_size,
                                 kernel_initializer=TruncatedNormal(stddev=initializer_range),
                                 name="projection", dtype=self.dtype_policy)

    def build(self, input_shape=None):
        init = TruncatedNormal(stddev=self.initializer_range)
        self.cls_token = self.add_weight(shape=(1, 1, self.hidden_dim), initializer=init,
                                         name="cls_token")
        self.position_embeddings = self.add_weight(
            shape=(1, 1 + self.grid[0] * self.grid[1], self.hidden_dim), initializer=init,
            name="position_embeddings")
        build_child(self.projection, (None,) + self.image_size + (self.num_channels,))
        self.built = True

    def call(self, images):
        if tuple(images.shape[1:3]) != self.image_size:
            raise KbridgeError(f"ViT expects {self.image_size[0]}x{self.image_size[1]} images "
                               "(its position embeddings are for that grid). Received: "
                               f"{images.shape[1]}x{images.shape[2]}")
        patches = self.projection(images)  # [B, h, w, hidden]: row-major, as HF flattens
        batch = patches.shape[0]
        patches = ops.reshape(patches, (batch, self.grid[0] * self.grid[1], self.hidden_dim))
        cls = ops.broadcast_to(ops.cast(self.cls_token, patches.dtype),
                               (batch, 1, self.hidden_dim))
        x = ops.concatenate([cls, patches], axis=1)
        return ops.add(x, ops.cast(self.position_embeddings, x.dtype))

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": list(self.image_size), "patch_size": list(self.patch_size),
                       "num_channels": self.num_channels, "hidden_dim": self.hidden_dim,
                       "initializer_range": self.initializer_range})
        return config


class ViTLayer(TransformerBlock):
    """``x + attention(layernorm_before(x))``, then ``x + mlp(layernorm_after(x))``."""

    def __init__(self, hidden_dim, num_heads, intermediate_dim, activation="gelu",
                 layer_norm_epsilon=1e-12, qkv_bias=True, initializer_range=0.02, **kwargs):
        super().__init__(hidden_dim, num_heads, intermediate_dim, activation, layer_norm_epsilon,
                         initializer_range, **kwargs)
        self.qkv_bias = bool(qkv_bias)
        policy = self.dtype_policy

        def dense(units, name, use_bias=True):
            return Dense(units, use_bias=use_bias, name=name, dtype=policy,
                         kernel_initializer=TruncatedNormal(stddev=self.initializer_range))

        self.query = dense(self.hidden_dim, "query", self.qkv_bias)
        self.key = dense(self.hidden_dim, "key", self.qkv_bias)
        self.value = dense(self.hidden_dim, "value", self.qkv_bias)
        self.attention_output = dense(self.hidden_dim, "output")
        self.intermediate = dense(self.intermediate_dim, "intermediate")
        self.output_dense = dense(self.hidden_dim, "output")
        self.layernorm_before = LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                   name="layernorm_before", dtype=policy)
        self.layernorm_after = LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                  name="layernorm_after", dtype=policy)

    def build(self, input_shape=None):
        shape = (None, None, self.hidden_dim)
        # Paths as HF nests them: attention/{query,key,value,output}, intermediate, output.
        with naming.name_scope("attention"):
            for layer in (self.query, self.key, self.value, self.attention_output):
                build_child(layer, shape)
        build_child(self.intermediate, shape)
        build_child(self.output_dense, (None, None, self.intermediate_dim))
        build_child(self.layernorm_before, shape)
        build_child(self.layernorm_after, shape)
        self.built = True

    def call(self, x):
        h = self.layernorm_before(x)
        q, k, v = (split_heads(proj(h), self.num_heads)
                   for proj in (self.query, self.key, self.value))
        x = ops.add(x, self.attention_output(merge_heads(attend(q, k, v))))
        hidden = ACTIVATIONS[self.activation](self.intermediate(self.layernorm_after(x)))
        return ops.add(x, self.output_dense(hidden))

    def get_config(self):
        return {**super().get_config(), "qkv_bias": self.qkv_bias}


class ViTBackbone(Model):
    """A ViT encoder; ``model(pixel_values)`` returns ``last_hidden_state`` (and pooler).

    Args:
        image_size, patch_size: ints or ``(height, width)`` pairs (HF ``image_size``,
            ``patch_size``).
        num_channels: input channels.
        hidden_dim, num_layers, num_heads, intermediate_dim: HF ``hidden_size``,
            ``num_hidden_layers``, ``num_attention_heads``, ``intermediate_size``.
        activation: HF ``hidden_act`` (``"gelu"`` is exact GELU).
        layer_norm_epsilon: HF ``layer_norm_eps``.
        qkv_bias: biases on the query/key/value projections.
        add_pooling_layer: add HF's pooler (dense + ``pooler_activation`` on the CLS token).
        pooler_dim: pooler width (HF ``pooler_output_size``; default ``hidden_dim``).

    Example:
        >>> model = ViTBackbone(image_size=16, patch_size=4, num_channels=3, hidden_dim=32,
        ...                     num_layers=2, num_heads=4, intermediate_dim=37)
        >>> model(np.zeros((1, 3, 16, 16), "float32"))["last_hidden_state"].shape
        (1, 17, 32)
    """

    def __init__(self, image_size=224, patch_size=16, num_channels=3, hidden_dim=768,
                 num_layers=12, num_heads=12, intermediate_dim=3072, activation="gelu",
                 layer_norm_epsilon=1e-12, qkv_bias=True, add_pooling_layer=True,
                 pooler_dim=None, pooler_activation="tanh", initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        policy = self.dtype_policy
        self.embeddings = ViTEmbeddings(image_size, patch_size, num_channels, hidden_dim,
                                        initializer_range, name="embeddings", dtype=policy)
        self.image_size, self.patch_size = self.embeddings.image_size, self.embeddings.patch_size
        self.num_channels, self.hidden_dim = int(num_channels), int(hidden_dim)
        self.num_layers, self.num_heads = int(num_layers), int(num_heads)
        self.intermediate_dim, self.activation = int(intermediate_dim), activation
        self.layer_norm_epsilon, self.qkv_bias = float(layer_norm_epsilon), bool(qkv_bias)
        self.add_pooling_layer = bool(add_pooling_layer)
        self.pooler_dim = int(pooler_dim or hidden_dim)
        self.pooler_activation = check_activation(pooler_activation, "pooler_activation")
        self.initializer_range = float(initializer_range)
        self.encoder_layers = [
            ViTLayer(self.hidden_dim, self.num_heads, self.intermediate_dim, activation,
                     self.layer_norm_epsilon, self.qkv_bias, self.initializer_range,
                     name=f"layer_{i}", dtype=policy)
            for i in range(self.num_layers)]
        self.layernorm = LayerNormalization(epsilon=self.layer_norm_epsilon, name="layernorm",
                                            dtype=policy)
        self.pooler = None
        if self.add_pooling_layer:
            self.pooler = Dense(self.pooler_dim, name="pooler", dtype=policy,
                                kernel_initializer=TruncatedNormal(stddev=initializer_range))
        build_child(self.embeddings, None)
        for layer in self.encoder_layers + [self.layernorm]:
            build_child(layer, (None, None, self.hidden_dim))
        if self.pooler is not None:
            build_child(self.pooler, (None, self.hidden_dim))
        self.built = True

    def call(self, pixel_values):
        # HF's channels-first input; the convolution runs channels-last on every backend.
        x = self.embeddings(ops.transpose(pixel_values, (0, 2, 3, 1)))
        for layer in self.encoder_layers:
            x = layer(x)
        x = self.layernorm(x)
        outputs = {"last_hidden_state": x}
        if self.pooler is not None:
            pooled = self.pooler(x[:, 0])
            outputs["pooler_output"] = ACTIVATIONS[self.pooler_activation](pooled)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({
            "image_size": list(self.image_size), "patch_size": list(self.patch_size),
            "num_channels": self.num_channels, "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers, "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim, "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon, "qkv_bias": self.qkv_bias,
            "add_pooling_layer": self.add_pooling_layer, "pooler_dim": self.pooler_dim,
            "pooler_activation": self.pooler_activation,
            "initializer_range": self.initializer_range,
        })
        return config


for _cls in (ViTEmbeddings, ViTLayer, ViTBackbone):
    registry.register_kbridge_serializable(package=PACKAGE)(_cls)
