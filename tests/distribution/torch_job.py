"""One process of the 2-process DDP job of test_torch_ddp.py (torchrun's environment:
RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). Trains under DataParallel from the initial
weights in ``<dir>/init.npz``; rank 0 writes ``<dir>/final.npz``; every process saves the
hub release ``<dir>/release`` (only rank 0 may write it)."""

import os
import sys

import numpy as np

import kbridge
from kbridge import distribution as kd
from mlp import build


def main(directory):
    import torch.distributed as tdist

    kbridge.backend.set("torch")
    kd.initialize()  # reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    rank, world = kd.process_info()
    data = np.load(os.path.join(directory, "init.npz"))
    weights = [data[f"w{i}"] for i in range(4)]
    kd.set_distribution(kd.DataParallel())
    model = build(weights)
    model.fit(data["x"], data["y"], batch_size=16, epochs=2, shuffle=False, verbose=0)
    from kbridge.backend.torch.distribution_lib import DDPTrainStep

    assert isinstance(model._runner("train").step, DDPTrainStep), model._runner("train").step
    from kbridge.hub import release

    writes, write = [], release._write_release
    release._write_release = lambda *a, **k: (writes.append(rank), write(*a, **k))[1]
    saved = kbridge.hub.save(model, os.path.join(directory, "release"))
    assert os.path.isdir(saved), saved  # every rank returns after rank 0 has written it
    assert writes == ([0] if rank == 0 else []), (rank, writes)
    if rank == 0:
        np.savez(os.path.join(directory, "final.npz"),
                 *[np.asarray(w) for w in model.get_weights()])
    print(f"rank {rank}/{world} devices={kd.list_devices()} done", flush=True)
    tdist.barrier()  # tear down together: gloo aborts a process whose peer left
    tdist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
