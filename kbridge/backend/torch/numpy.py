"""torch backend: numpy ops."""

import torch

from kbridge.backend.torch.core import promote


def add(x1, x2):
    x1, x2 = promote(x1, x2)
    return torch.add(x1, x2)


def matmul(x1, x2):
    x1, x2 = promote(x1, x2)
    return torch.matmul(x1, x2)
