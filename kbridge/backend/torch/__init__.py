"""The PyTorch backend."""

NAME = "torch"
