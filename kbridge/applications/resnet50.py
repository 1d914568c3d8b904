"""``keras.applications.resnet50``: ResNet50 with caffe-style preprocessing."""

from kbridge.applications.resnet import ResNet50, decode_predictions, preprocess_input

__all__ = ["ResNet50", "decode_predictions", "preprocess_input"]
