"""JAX distribution: ``jax.sharding.Mesh`` and ``NamedSharding`` for kbridge's layouts.

Variables are placed with ``jax.device_put(value, NamedSharding(mesh, PartitionSpec(*axes)))``
when they are created or loaded under a distribution, and again when ``fit`` starts (a model
built before ``set_distribution``); batches are split along the batch axis; the jitted step
constrains the state it returns to the same shardings (``jax.lax.with_sharding_constraint``),
so XLA inserts the collectives (gradient all-reduce, model-axis all-gathers) itself.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from kbridge.backend.common.shared import include
from kbridge.backend.jax import core
from kbridge.distribution import distribution_lib as dist_lib

_MESHES = {}  # id(DeviceMesh) -> (DeviceMesh, jax Mesh)


include("distribution", globals(), dist_lib=dist_lib)


def list_devices(device_type=None):
    devices = jax.devices(device_type) if device_type else jax.devices()
    return [f"{d.platform}:{d.id}" for d in devices]


def initialize(job_addresses, num_processes, process_id):
    coordinator = job_addresses.split(",")[0] if job_addresses else None
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)


def process_info():
    return jax.process_index(), jax.process_count()


def to_jax_mesh(device_mesh):
    """The ``jax.sharding.Mesh`` of a kbridge DeviceMesh (built once per mesh)."""
    cached = _MESHES.get(id(device_mesh))
    if cached is not None and cached[0] is device_mesh:
        return cached[1]
    by_name = {f"{d.platform}:{d.id}": d for d in jax.devices()}
    names = mesh_device_names(device_mesh, by_name)
    devices = np.array([by_name[n] for n in names], dtype=object).reshape(device_mesh.shape)
    mesh = Mesh(devices, tuple(device_mesh.axis_names))
    _MESHES[id(device_mesh)] = (device_mesh, mesh)
    return mesh


def to_sharding(layout):
    return NamedSharding(to_jax_mesh(layout.device_mesh), PartitionSpec(*layout.axes))


def distribute_tensor(tensor, layout):
    sharding = to_sharding(layout)
    if isinstance(tensor, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(tensor, sharding)
    if getattr(tensor, "sharding", None) == sharding:
        return tensor
    return jax.device_put(tensor, sharding)


def variable_sharding(variable, distribution):
    return to_sharding(distribution.get_variable_layout(variable))


def distribute_variable(variable, value):
    """``value`` placed as the current distribution lays out ``variable`` (as it is)."""
    distribution = dist_lib.distribution()
    if distribution is None or isinstance(value, jax.core.Tracer):
        return value
    sharding = variable_sharding(variable, distribution)
    if getattr(value, "sharding", None) == sharding:
        return value
    return jax.device_put(value, sharding)


def state_shardings(groups, distribution):
    """The NamedShardings of a runner's state (lists of Variables), or None without a
    distribution."""
    if distribution is None:
        return None
    return tuple([variable_sharding(v, distribution) for v in group] for group in groups)


def constrain(state, shardings):
    """Inside a jitted step: pin the returned state to the shardings it came in with."""
    return jax.tree.map(jax.lax.with_sharding_constraint, state, shardings)


def distribute_batch(batch, distribution):
    """Each array of ``batch`` split along the batch axis (a process's local rows in a
    multi-process job, assembled into one global array)."""
    def shard(x):
        if x is None or not len(getattr(x, "shape", ())) or x.dtype.kind in "USO":
            return x  # strings stay numpy for the text layers
        layout = distribution.get_data_layout(x.shape)
        sharding = to_sharding(layout)
        parts = sharding.mesh.shape[distribution.batch_dim_name]
        local = parts // jax.process_count() if jax.process_count() > 1 else parts
        if x.shape[0] % local:
            raise dist_lib.DistributionError(
                f"A batch of {x.shape[0]} samples cannot be split over the {local} devices "
                f"of the '{distribution.batch_dim_name}' axis; use a batch size divisible by "
                f"{local} (for the last batch too: steps_per_epoch or drop the remainder).")
        if jax.process_count() > 1:
            return jax.make_array_from_process_local_data(sharding, np.asarray(x))
        return jax.device_put(x, sharding)

    return jax.tree.map(shard, batch, is_leaf=lambda x: x is None)


# jax Variables place themselves through this hook (kbridge.backend.jax.core imports nothing
# above the backend); set_distribution imports this module for a jax backend in use.
core._distribution_hook = distribute_variable
