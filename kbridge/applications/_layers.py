"""The layer classes the applications use, imported from their family modules.

``kbridge.layers`` loads every family on first attribute use; the applications need only
these, so building a model does not import the rest (preprocessing pipelines, RNNs...).
"""

from kbridge.layers.activation_layers import ReLU
from kbridge.layers.convolution import Conv2D, DepthwiseConv2D, SeparableConv2D
from kbridge.layers.core import Activation, Dense
from kbridge.layers.input_layer import Input
from kbridge.layers.merging import Add, Concatenate, Multiply
from kbridge.layers.normalization import BatchNormalization, LayerNormalization
from kbridge.layers.pooling import (AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D,
                                    MaxPooling2D)
from kbridge.layers.preprocessing import Normalization, Rescaling
from kbridge.layers.regularization import Dropout
from kbridge.layers.reshaping import Cropping2D, Flatten, Reshape, ZeroPadding2D

__all__ = ["Activation", "Add", "AveragePooling2D", "BatchNormalization", "Concatenate",
           "Conv2D", "Cropping2D", "Dense", "DepthwiseConv2D", "Dropout", "Flatten",
           "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Input", "LayerNormalization",
           "MaxPooling2D", "Multiply", "Normalization", "ReLU", "Rescaling", "Reshape",
           "SeparableConv2D", "ZeroPadding2D"]
