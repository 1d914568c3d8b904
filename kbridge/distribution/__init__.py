"""``kbridge.distribution``: data- and model-parallel training on the frameworks' own engines
(Keras 3's ``keras.distribution`` API).

* jax: ``jax.sharding.Mesh`` / ``NamedSharding``; variables placed by their layout, batches
  split along the batch axis, the jitted step keeping both shardings.
* torch: ``DistributedDataParallel`` in a torchrun-style multi-process job (DataParallel).
* tensorflow: ``tf.distribute.MirroredStrategy`` over the mesh's devices (DataParallel).

See ``docs/distribution.md``.

Example:
    >>> from kbridge import distribution
    >>> distribution.set_distribution(distribution.DataParallel())
    >>> model.fit(x, y, batch_size=64)
"""

from kbridge.distribution.distribution_lib import (
    DataParallel,
    DeviceMesh,
    Distribution,
    DistributionError,
    LayoutMap,
    ModelParallel,
    TensorLayout,
    barrier,
    distribute_tensor,
    distribution,
    get_device_count,
    initialize,
    list_devices,
    process_info,
    set_distribution,
)

__all__ = [
    "DataParallel", "DeviceMesh", "Distribution", "DistributionError", "LayoutMap",
    "ModelParallel", "TensorLayout", "barrier", "distribute_tensor", "distribution",
    "get_device_count", "initialize", "list_devices",
    "process_info", "set_distribution",
]
