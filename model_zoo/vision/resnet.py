"""ResNet (He et al., 2016), laid out as Hugging Face's ``ResNetModel``.

The embedder (7x7 stride-2 convolution, batch norm, activation, 3x3 stride-2 max pooling), then
stages of bottleneck (1x1 reduce, 3x3, 1x1 expand) or basic (3x3, 3x3) residual layers, each
stage but the first (unless ``downsample_in_first_stage``) halving the resolution in its first
layer, and a global average pool.

``model(pixel_values)`` takes HF's channels-first ``[batch, channels, height, width]`` and
returns ``{"last_hidden_state": [batch, C, h, w], "pooler_output": [batch, C, 1, 1]}``, as HF
does. Inside, the model runs channels-last (the layout every backend convolves fastest on
CPU); torch's symmetric ``kernel // 2`` padding is explicit, since Keras's ``"same"`` pads
asymmetrically at stride 2. Weights exist from construction on.
"""

import numpy as np

from kbridge import ops
from kbridge.errors import KbridgeError
from kbridge.layers.convolution import Conv2D
from kbridge.layers.layer import Layer
from kbridge.layers.normalization import BatchNormalization
from kbridge.models.model import Model
from kbridge.saving import registry
from model_zoo._blocks import ACTIVATIONS, PACKAGE, build_child, check_activation

__all__ = ["ResNetBackbone", "ResNetConvLayer", "ResNetResidualLayer"]

BATCH_NORM_EPSILON = 1e-5  # torch.nn.BatchNorm2d's default, which HF ResNet keeps
BATCH_NORM_MOMENTUM = 0.9  # torch's momentum 0.1, in Keras's convention


class ResNetConvLayer(Layer):
    """Convolution (no bias, torch-style symmetric padding) + batch norm + optional activation.

    Takes and returns channels-last tensors. ``activation=None``: no activation (the last
    convolution of a residual layer and the shortcut).
    """

    def __init__(self, filters, kernel_size=3, strides=1, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = int(filters), int(kernel_size), int(strides)
        self.activation = None if activation is None else check_activation(activation)
        self.convolution = Conv2D(self.filters, self.kernel_size, strides=self.strides,
                                  use_bias=False, kernel_initializer="he_normal",
                                  name="convolution", dtype=self.dtype_policy)
        self.normalization = BatchNormalization(epsilon=BATCH_NORM_EPSILON,
                                                momentum=BATCH_NORM_MOMENTUM,
                                                name="normalization", dtype=self.dtype_policy)

    def build(self, input_shape):
        build_child(self.convolution, input_shape)
        build_child(self.normalization, tuple(input_shape[:-1]) + (self.filters,))
        self.built = True

    def call(self, x, training=None):
        pad = self.kernel_size // 2
        if pad:
            x = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        x = self.normalization(self.convolution(x), training=training)
        return x if self.activation is None else ACTIVATIONS[self.activation](x)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size,
                       "strides": self.strides, "activation": self.activation})
        return config


class ResNetResidualLayer(Layer):
    """``activation(layers(x) + shortcut(x))``; ``bottleneck`` or basic (two 3x3) layers.

    The shortcut is a strided 1x1 convolution + batch norm when the channels or the
    resolution change, else the identity.
    """

    def __init__(self, in_channels, out_channels, strides=1, bottleneck=True, activation="relu",
                 reduction=4, downsample_in_bottleneck=False, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.strides, self.bottleneck = int(strides), bool(bottleneck)
        self.activation = check_activation(activation)
        self.reduction = int(reduction)
        self.downsample_in_bottleneck = bool(downsample_in_bottleneck)
        policy = self.dtype_policy
        self.shortcut = None
        if self.in_channels != self.out_channels or self.strides != 1:
            self.shortcut = ResNetConvLayer(self.out_channels, 1, self.strides, None,
                                            name="shortcut", dtype=policy)
        # As in HF, the convolutions inside use ReLU whatever `activation` (the stem's and
        # the one after the residual sum) is.
        if self.bottleneck:
            reduced = self.out_channels // self.reduction
            first, middle = ((self.strides, 1) if self.downsample_in_bottleneck
                             else (1, self.strides))
            specs = [(reduced, 1, first, "relu"), (reduced, 3, middle, "relu"),
                     (self.out_channels, 1, 1, None)]
        else:
            specs = [(self.out_channels, 3, self.strides, "relu"),
                     (self.out_channels, 3, 1, None)]
        self.convs = [ResNetConvLayer(*spec, name=f"layer_{i}", dtype=policy)
                      for i, spec in enumerate(specs)]

    def build(self, input_shape):
        if self.shortcut is not None:
            build_child(self.shortcut, input_shape)
        shape = tuple(input_shape)
        for conv in self.convs:
            build_child(conv, shape)
            shape = shape[:-1] + (conv.filters,)
        self.built = True

    def call(self, x, training=None):
        residual = x if self.shortcut is None else self.shortcut(x, training=training)
        for conv in self.convs:
            x = conv(x, training=training)
        return ACTIVATIONS[self.activation](ops.add(x, residual))

    def get_config(self):
        config = super().get_config()
        config.update({"in_channels": self.in_channels, "out_channels": self.out_channels,
                       "strides": self.strides, "bottleneck": self.bottleneck,
                       "activation": self.activation, "reduction": self.reduction,
                       "downsample_in_bottleneck": self.downsample_in_bottleneck})
        return config


class ResNetBackbone(Model):
    """A ResNet; ``model(pixel_values)`` returns ``last_hidden_state`` and ``pooler_output``.

    Args:
        num_channels: input channels.
        embedding_size: channels of the stem convolution.
        hidden_sizes: output channels of each stage.
        depths: residual layers per stage.
        layer_type: ``"bottleneck"`` or ``"basic"``.
        activation: HF ``hidden_act``: after the stem and after each residual sum (the
            convolutions inside a residual layer use ReLU, as in HF).
        downsample_in_first_stage: the first stage also halves the resolution.
        downsample_in_bottleneck: downsample in the 1x1 (not the 3x3) convolution.

    Example:
        >>> model = ResNetBackbone(embedding_size=8, hidden_sizes=[16, 32], depths=[1, 1])
        >>> model(np.zeros((1, 3, 32, 32), "float32"))["last_hidden_state"].shape
        (1, 32, 4, 4)
    """

    def __init__(self, num_channels=3, embedding_size=64, hidden_sizes=(256, 512, 1024, 2048),
                 depths=(3, 4, 6, 3), layer_type="bottleneck", activation="relu",
                 downsample_in_first_stage=False, downsample_in_bottleneck=False, **kwargs):
        super().__init__(**kwargs)
        if layer_type not in ("bottleneck", "basic"):
            raise KbridgeError("`layer_type` must be 'bottleneck' or 'basic'. "
                               f"Received: layer_type={layer_type!r}")
        if len(hidden_sizes) != len(depths) or not depths:
            raise KbridgeError("`hidden_sizes` and `depths` need one entry per stage. "
                               f"Received: hidden_sizes={hidden_sizes}, depths={depths}")
        self.num_channels, self.embedding_size = int(num_channels), int(embedding_size)
        self.hidden_sizes = [int(h) for h in hidden_sizes]
        self.depths = [int(d) for d in depths]
        self.layer_type, self.activation = layer_type, check_activation(activation)
        self.downsample_in_first_stage = bool(downsample_in_first_stage)
        self.downsample_in_bottleneck = bool(downsample_in_bottleneck)
        policy = self.dtype_policy
        self.embedder = ResNetConvLayer(self.embedding_size, 7, 2, activation, name="embedder",
                                        dtype=policy)
        residual_layers = []
        in_channels = self.embedding_size
        for s, (channels, depth) in enumerate(zip(self.hidden_sizes, self.depths)):
            for i in range(depth):
                first_stride = 2 if (s > 0 or self.downsample_in_first_stage) else 1
                residual_layers.append(ResNetResidualLayer(
                    in_channels if i == 0 else channels, channels,
                    strides=first_stride if i == 0 else 1,
                    bottleneck=layer_type == "bottleneck", activation=activation,
                    downsample_in_bottleneck=self.downsample_in_bottleneck,
                    name=f"stage_{s}_layer_{i}", dtype=policy))
            in_channels = channels
        self.residual_layers = residual_layers  # assigned whole: Layer tracks it on assignment
        build_child(self.embedder, (None, None, None, self.num_channels))
        for layer in self.residual_layers:
            build_child(layer, (None, None, None, layer.in_channels))
        self.built = True

    def call(self, pixel_values, training=None):
        if pixel_values.shape[1] != self.num_channels:
            raise KbridgeError(f"ResNet expects pixel_values [batch, {self.num_channels}, "
                               "height, width] (channels first, as Hugging Face). Received: "
                               f"shape={tuple(pixel_values.shape)}")
        x = self.embedder(ops.transpose(pixel_values, (0, 2, 3, 1)), training=training)
        # torch's MaxPool2d(3, stride 2, padding 1) pads with -inf: pad with the lowest float.
        lowest = float(np.finfo(np.float32).min)
        x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=lowest)
        x = ops.max_pool(x, 3, strides=2, padding="valid", data_format="channels_last")
        for layer in self.residual_layers:
            x = layer(x, training=training)
        pooled = ops.mean(x, axis=(1, 2), keepdims=True)
        return {"last_hidden_state": ops.transpose(x, (0, 3, 1, 2)),
                "pooler_output": ops.transpose(pooled, (0, 3, 1, 2))}

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_channels": self.num_channels, "embedding_size": self.embedding_size,
            "hidden_sizes": self.hidden_sizes, "depths": self.depths,
            "layer_type": self.layer_type, "activation": self.activation,
            "downsample_in_first_stage": self.downsample_in_first_stage,
            "downsample_in_bottleneck": self.downsample_in_bottleneck,
        })
        return config


for _cls in (ResNetConvLayer, ResNetResidualLayer, ResNetBackbone):
    registry.register_kbridge_serializable(package=PACKAGE)(_cls)
