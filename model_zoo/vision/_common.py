"""Convolution kernel layouts the vision converters share (the models' shared pieces are in
``model_zoo._blocks``; HF checkpoint files are read and written by ``model_zoo.hf_checkpoint``)."""

import numpy as np


def torch_conv_to_kbridge(kernel):
    """``[out, in, kh, kw]`` (torch) -> ``[kh, kw, in, out]`` (kbridge, channels_last)."""
    return np.transpose(kernel, (2, 3, 1, 0))


def kbridge_conv_to_torch(kernel):
    return np.transpose(kernel, (3, 2, 0, 1))
