"""TensorFlow distribution: ``tf.distribute.MirroredStrategy`` over the mesh's devices.

Under ``DataParallel``, ``fit`` moves the model's, optimizer's and metrics' variables into
``MirroredVariable``s of a strategy over the mesh's devices (once; they stay mirrored), and
the train step runs ``strategy.run``: each replica takes its contiguous slice of the batch
and computes gradients, ``strategy.reduce(MEAN)`` averages them (TF's own cross-device
reduction), and the optimizer and metrics update the mirrored variables in cross-replica
context on the global batch, so a step equals one step on one device. With ``TF_CONFIG``
naming several workers, the strategy is ``MultiWorkerMirroredStrategy``.
"""

import json
import os

import tensorflow as tf

from kbridge.backend.common.shared import include
from kbridge.backend.common.structure import map_structure
from kbridge.backend.common.trainer_utils import batch_size_of
from kbridge.distribution import distribution_lib as dist_lib

_STRATEGIES = {}  # id(DeviceMesh) -> (DeviceMesh, strategy)


include("distribution", globals(), dist_lib=dist_lib)


def list_devices(device_type=None):
    kinds = [device_type.upper()] if device_type else ["GPU", "CPU"]
    for kind in kinds:
        devices = tf.config.list_logical_devices(kind)
        if devices:
            return [f"{kind.lower()}:{d.name.rsplit(':', 1)[-1]}" for d in devices]
    return []


def initialize(job_addresses, num_processes, process_id):
    """Write ``TF_CONFIG`` for ``MultiWorkerMirroredStrategy`` (unless it is set)."""
    if "TF_CONFIG" in os.environ:
        return
    workers = job_addresses.split(",") if job_addresses else []
    if len(workers) != num_processes or process_id is None:
        raise dist_lib.DistributionError(
            f"tensorflow needs one address per process and this process's index. Received: "
            f"job_addresses={job_addresses!r}, num_processes={num_processes!r}, "
            f"process_id={process_id!r}")
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers},
                                          "task": {"type": "worker", "index": process_id}})


def process_info():
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    return (config.get("task", {}).get("index", 0),
            len(config.get("cluster", {}).get("worker", [])) or 1)


def strategy_for(distribution):
    """The strategy of a DataParallel distribution (built once per mesh)."""
    if not isinstance(distribution, dist_lib.DataParallel):
        raise dist_lib.DistributionError(
            f"On tensorflow, fit distributes with DataParallel (MirroredStrategy). Received: "
            f"{type(distribution).__name__}; ModelParallel layouts are for the jax backend.")
    mesh = distribution.device_mesh
    cached = _STRATEGIES.get(id(mesh))
    if cached is not None and cached[0] is mesh:
        return cached[1]
    if process_info()[1] > 1:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        names = mesh_device_names(mesh, set(list_devices("cpu") + list_devices("gpu")))
        strategy = tf.distribute.MirroredStrategy(
            [f"/{n.split(':')[0].upper()}:{n.split(':')[1]}" for n in names])
    _STRATEGIES[id(mesh)] = (mesh, strategy)
    return strategy


def mirror_variables(model, strategy):
    """Make every variable ``fit`` touches a MirroredVariable of ``strategy`` (in place:
    the kbridge Variables keep their identity)."""
    seen = set()
    groups = (model.trainable_variables, model.non_trainable_variables,
              model.optimizer.variables, model.metrics_variables)
    for v in (v for group in groups for v in group):
        if id(v) in seen or isinstance(v.value, tf.distribute.DistributedValues):
            continue
        seen.add(id(v))
        # Variables assigned inside a replica (batch-norm statistics) take the replicas'
        # mean; integer states (seeds) the first replica's.
        aggregation = (tf.VariableAggregation.MEAN if v.value.dtype.is_floating
                       else tf.VariableAggregation.ONLY_FIRST_REPLICA)
        with strategy.scope():
            mirrored = tf.Variable(v.value.read_value(), trainable=v.trainable, name=v.name,
                                   aggregation=aggregation)
        v._share(mirrored)


def make_train_step(model, distribution):
    """The default train step under ``strategy.run`` (a callable taking one batch)."""
    from kbridge.backend.common import context
    from kbridge.trainers.trainer import unpack_x_y_sample_weight

    strategy = strategy_for(distribution)
    mirror_variables(model, strategy)
    replicas = strategy.num_replicas_in_sync
    mean = tf.distribute.ReduceOp.MEAN

    def replica_step(x, y, sample_weight):
        ctx = tf.distribute.get_replica_context()
        part = tf.shape(tf.nest.flatten(x)[0])[0] // replicas
        start = ctx.replica_id_in_sync_group * part
        local = map_structure(lambda a: None if a is None else a[start:start + part],
                              (x, y, sample_weight))
        with context.use(model.backend_name):  # replicas run in threads of their own
            with tf.GradientTape() as tape:
                y_pred = model(local[0], training=True)
                loss = model._compute_loss(*local[:2], y_pred, local[2], training=True)
                scaled = model.optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, [v.value for v in model.trainable_weights])
        return loss, y_pred, grads

    def step(data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        loss, y_pred, grads = strategy.run(replica_step, args=(x, y, sample_weight))
        grads = [strategy.reduce(mean, g, axis=None) for g in grads]
        model.optimizer.apply(grads, model.trainable_weights)
        y_pred = tf.nest.map_structure(lambda t: strategy.gather(t, axis=0), y_pred)
        model._loss_tracker.update_state(strategy.reduce(mean, loss, axis=None),
                                         sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def checked(data):
        size = batch_size_of(data)
        if size % replicas:
            raise dist_lib.DistributionError(
                f"A batch of {size} samples cannot be split over {replicas} replicas; use a "
                f"batch size divisible by {replicas} (for the last batch too: "
                "steps_per_epoch or drop the remainder).")
        with strategy.scope():
            return compiled(data)

    compiled = step if model.run_eagerly else tf.function(step, autograph=False,
                                                          reduce_retracing=True)
    return checked
