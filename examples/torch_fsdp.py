"""Shard a kbridge model's parameters over processes with PyTorch FSDP2 (``fully_shard``).

kbridge's own ``fit`` distributes torch with DDP (``kbridge.distribution.DataParallel``);
to *shard* the parameters, hand the model to torch: ``kbridge.adapters.to_torch(model)`` is a
``torch.nn.Module`` whose parameters are the model's, ``fully_shard`` shards it, and a plain
torch loop trains it. At the end the full weights are gathered back into the kbridge model.

Run (CPU, gloo; 2 processes started here with torch.multiprocessing)::

    python examples/torch_fsdp.py

or under torchrun (one process per GPU, nccl)::

    torchrun --nproc-per-node=2 examples/torch_fsdp.py

It prints the largest difference between the FSDP-trained weights and the same steps taken
by one process on the whole batch (expected below 1e-5).
"""

import os
import socket

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard

import kbridge

STEPS, BATCH = 5, 16


def build_model():
    kbridge.backend.set("torch")
    kbridge.utils.set_random_seed(0)  # the same initial weights in every process
    return kbridge.Sequential([kbridge.layers.Input((6,)),
                               kbridge.layers.Dense(16, activation="relu"),
                               kbridge.layers.Dense(4)])


def data():
    rng = np.random.default_rng(0)
    return (torch.tensor(rng.normal(size=(STEPS, BATCH, 6)), dtype=torch.float32),
            torch.tensor(rng.normal(size=(STEPS, BATCH, 4)), dtype=torch.float32))


def train(module, xs, ys, rank=0, world=1):
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    part = BATCH // world
    for x, y in zip(xs, ys):
        x, y = x[rank * part:(rank + 1) * part], y[rank * part:(rank + 1) * part]
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(module(x), y)
        loss.backward()  # FSDP reduce-scatters the gradients (averaged over processes)
        optimizer.step()


def worker(rank, world, port):
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo",
                                init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world)
    model = build_model()
    module = kbridge.adapters.to_torch(model)
    fully_shard(module)  # each parameter becomes a DTensor sharded over the processes
    param = next(iter(module.parameters()))
    sharding = f"{type(param).__name__} {list(getattr(param, 'placements', []))}"
    xs, ys = data()
    train(module, xs, ys, rank, world)
    # Gather the full weights (every process takes part) into the kbridge model.
    full = {k: v.full_tensor() if hasattr(v, "full_tensor") else v
            for k, v in module.state_dict().items()}
    model.set_weights([full[module.key_of(v)].detach().cpu().numpy() for v in model.weights])
    if rank == 0:
        reference = build_model()
        train(kbridge.adapters.to_torch(reference), xs, ys)
        diff = max(float(np.abs(a - b).max())
                   for a, b in zip(model.get_weights(), reference.get_weights()))
        print(f"parameters: {sharding}")
        print(f"FSDP2 over {world} processes vs one process: max weight difference {diff:.2e}")
    dist.barrier()  # tear down together: gloo aborts a process whose peer left
    dist.destroy_process_group()


def main():
    if "RANK" in os.environ:  # torchrun
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
        return worker(rank, world, None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(worker, args=(2, port), nprocs=2)


if __name__ == "__main__":
    main()
