"""PyTorch distribution: ``torch.distributed`` process groups and DistributedDataParallel.

One process per device (torchrun's model). Under ``DataParallel`` in a job of several
processes, ``fit`` runs the model through ``DistributedDataParallel(to_torch(model))``:
every process is given the same global batch, takes its contiguous slice of
``batch_size / world_size`` samples, and DDP's all-reduce averages the gradients before
kbridge's optimizer applies them, so each step equals one step on the global batch.
Model parallelism on torch is FSDP2 (``torch.distributed.fsdp.fully_shard``) on the
``to_torch`` module in a plain torch loop: see ``examples/torch_fsdp.py``.
"""

import torch
import torch.distributed as tdist

from kbridge.backend.common.structure import map_structure
from kbridge.backend.common.trainer_utils import batch_size_of
from kbridge.distribution import distribution_lib as dist_lib


def list_devices(device_type=None):
    """Local devices, or one per process (``"<type>:<rank>"``) once a process group runs."""
    kind = device_type or ("gpu" if torch.cuda.is_available() else "cpu")
    if kind not in ("cpu", "gpu"):
        raise dist_lib.DistributionError(f"torch has 'cpu' and 'gpu' devices. Received: "
                                         f"device_type={device_type!r}")
    if tdist.is_available() and tdist.is_initialized():
        return [f"{kind}:{rank}" for rank in range(tdist.get_world_size())]
    count = torch.cuda.device_count() if kind == "gpu" else 1
    return [f"{kind}:{i}" for i in range(count)]


def initialize(job_addresses, num_processes, process_id):
    if tdist.is_initialized():
        return
    if not job_addresses or num_processes is None or process_id is None:
        raise dist_lib.DistributionError(
            "torch needs the coordinator address, the number of processes and this "
            "process's rank (torchrun sets MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK). "
            f"Received: job_addresses={job_addresses!r}, num_processes={num_processes!r}, "
            f"process_id={process_id!r}")
    address = job_addresses.split(",")[0]
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(process_id % torch.cuda.device_count())
    tdist.init_process_group(backend, init_method=f"tcp://{address}", rank=process_id,
                             world_size=num_processes)


def process_info():
    return tdist.get_rank(), tdist.get_world_size()


def ddp_active(model):
    """Whether ``fit`` on ``model`` trains with DDP: a DataParallel distribution, a process
    group of several processes, and the default train step."""
    distribution = dist_lib.distribution()
    if distribution is None or not (tdist.is_available() and tdist.is_initialized()):
        return False
    if not isinstance(distribution, dist_lib.DataParallel):
        raise dist_lib.DistributionError(
            f"On torch, fit distributes with DataParallel (DDP). Received: "
            f"{type(distribution).__name__}; shard a model with FSDP2 instead: "
            "torch.distributed.fsdp.fully_shard(kbridge.adapters.to_torch(model)) "
            "(docs/distribution.md)")
    world = tdist.get_world_size()
    if distribution.num_model_replicas != world:
        raise dist_lib.DistributionError(
            f"The DataParallel mesh has {distribution.num_model_replicas} devices; this torch "
            f"job has {world} processes. Expected one device per process: DataParallel() "
            "after kbridge.distribution.initialize().")
    from kbridge.trainers.trainer import Trainer

    return world > 1 and type(model).train_step is Trainer.train_step


class DDPTrainStep:
    """The default train step through ``DistributedDataParallel``, on this process's
    slice of each global batch (logs are this process's)."""

    def __init__(self, model):
        from torch.nn.parallel import DistributedDataParallel

        from kbridge.adapters.torch_adapter import to_torch

        self.model = model
        self.module = to_torch(model)
        device = next(iter(self.module.parameters()), torch.empty(0)).device
        self.ddp = DistributedDataParallel(
            self.module, device_ids=[device.index] if device.type == "cuda" else None)
        self.rank, self.world = tdist.get_rank(), tdist.get_world_size()

    def local(self, data):
        size = batch_size_of(data[0] if isinstance(data, tuple) else data)
        if size % self.world:
            raise dist_lib.DistributionError(
                f"A global batch of {size} samples cannot be split over {self.world} "
                f"processes; use a batch size divisible by {self.world} (for the last batch "
                "too: steps_per_epoch or drop the remainder).")
        part = size // self.world
        start = self.rank * part
        return map_structure(
            lambda a: a[start:start + part] if torch.is_tensor(a) and a.ndim else a, data)

    def __call__(self, data):
        from kbridge.trainers.trainer import unpack_x_y_sample_weight

        model = self.model
        x, y, sample_weight = unpack_x_y_sample_weight(self.local(tuple(data) if isinstance(
            data, list) else data))
        model.zero_grad()
        self.module.train()
        y_pred = self.ddp(x)  # DDP's hooks all-reduce the gradients in backward
        loss = model._compute_loss(x, y, y_pred, sample_weight, training=True)
        model._loss_tracker.update_state(loss.detach(), sample_weight=batch_size_of(x))
        trainable = model.trainable_weights
        model.optimizer.scale_loss(loss).backward()
        with torch.no_grad():
            model.optimizer.apply([v.value.grad for v in trainable], trainable)
            y_pred = map_structure(lambda t: t.detach() if torch.is_tensor(t) else t, y_pred)
            return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
