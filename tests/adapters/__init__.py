"""Adapter tests."""


def torch_net():
    """A seeded torch module with parameters and buffers: Linear, BatchNorm1d, ReLU, Linear
    (5 features in, 2 out)."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.BatchNorm1d(16),
                               torch.nn.ReLU(), torch.nn.Linear(16, 2))
