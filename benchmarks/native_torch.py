"""Hand-written ``torch.nn`` versions of the workloads and the plain torch training loop.

The loop is also what drives a ``kbridge.adapters.to_torch`` module, so the two differ only
in the module.
"""

import torch
from torch import nn


class _Transformer(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.embed = nn.Embedding(spec["vocab"], spec["width"])
        block = nn.TransformerEncoderLayer(spec["width"], spec["heads"], spec["ff"],
                                           dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(block, spec["layers"], enable_nested_tensor=False)
        self.head = nn.Linear(spec["width"], spec["classes"])

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)).mean(dim=1))


def build(workload, spec):
    """The ``workload`` network in ``torch.nn``, mirroring :func:`workloads.build`."""
    if workload in ("mlp", "latency"):
        dims = spec["dims"]
        layers = []
        for a, b in zip(dims[:-2], dims[1:-1]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(dims[-2], dims[-1]))
    if workload == "cnn":
        f1, f2 = spec["filters"]
        h, w, c = spec["image"]
        flat = f2 * ((h - 4) // 2) * ((w - 4) // 2)
        # Channels-last input (as Keras), moved to channels-first once per batch.
        return nn.Sequential(_ChannelsFirst(), nn.Conv2d(c, f1, 3), nn.ReLU(),
                             nn.Conv2d(f1, f2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(flat, spec["classes"]))
    if workload == "transformer":
        return _Transformer(spec)
    raise ValueError(f"No torch version of workload {workload!r}")


class _ChannelsFirst(nn.Module):
    def forward(self, x):
        return x.permute(0, 3, 1, 2)


def tensors(x, y):
    """numpy ``(x, y)`` as torch tensors (labels as int64, as cross_entropy wants)."""
    return torch.from_numpy(x), torch.from_numpy(y).long()


def train_chunk(module, x, y, batch):
    """A callable running one Adam step per ``batch`` rows of ``(x, y)`` (torch tensors)."""
    optimizer = torch.optim.Adam(module.parameters(), 1e-3)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]
    loss_fn = nn.functional.cross_entropy

    def run():
        for xb, yb in batches:
            optimizer.zero_grad(set_to_none=True)
            out = module(xb)
            if isinstance(out, (list, tuple)):
                out = out[0]
            loss_fn(out, yb).backward()
            optimizer.step()

    return run


def call_chunk(module, x, calls):
    """A callable making ``calls`` forward calls of ``module`` on ``x`` without autograd."""

    def run():
        with torch.inference_mode():
            for _ in range(calls):
                module(x)

    return run
