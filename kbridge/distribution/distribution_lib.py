"""The framework-neutral distribution objects (Keras 3's ``keras.distribution``).

Nothing here imports a framework: device lists, meshes and process start-up are asked of
``kbridge/backend/<name>/distribution_lib.py`` for the active backend, and the training
steps of each backend read :func:`distribution` to shard their work.
"""

import contextlib
import math
import os
import re
import sys

from kbridge.errors import KbridgeError
from kbridge.utils.path_map import PathMap

_state = {"distribution": None, "processes": None}  # processes: (engine, rank, world)


class DistributionError(KbridgeError, ValueError):
    """A distribution object was given arguments it cannot work with."""


def _backend_lib(backend=None):
    from kbridge.backend.common import context
    from kbridge.backend.common.dispatch import backend_module

    name = backend or context.get()
    if name == "numpy":
        raise DistributionError("The numpy backend runs on one CPU and cannot distribute. "
                                "Received: backend='numpy'; use jax, torch or tensorflow.")
    return backend_module(name, "distribution_lib")


def list_devices(device_type=None):
    """The devices of the active backend as ``"<type>:<id>"`` strings (all processes').

    Example:
        >>> kbridge.distribution.list_devices()        # ['cpu:0', 'cpu:1', ...]
    """
    if device_type is not None and str(device_type).lower() not in ("cpu", "gpu", "tpu"):
        raise DistributionError(f"device_type must be 'cpu', 'gpu', 'tpu' or None. "
                                f"Received: {device_type!r}")
    return _backend_lib().list_devices(None if device_type is None else device_type.lower())


def get_device_count(device_type=None):
    """The number of devices of the active backend (of ``device_type`` if given).

    Example:
        >>> kbridge.distribution.get_device_count("cpu")
    """
    return len(list_devices(device_type))


def distribute_tensor(tensor, layout):
    """``tensor`` laid out as ``layout`` (a :class:`TensorLayout`) says, on JAX: placed with
    ``jax.device_put`` eagerly, a sharding constraint inside ``jax.jit``. A KerasTensor is
    returned as it is. torch and TensorFlow place tensors through their own engines (DDP,
    ``MirroredStrategy``), so they refuse the call.

    Example:
        >>> mesh = kbridge.distribution.DeviceMesh((8,), ["batch"])
        >>> x = kbridge.distribution.distribute_tensor(x, TensorLayout(["batch", None], mesh))
    """
    from kbridge.backend.common.keras_tensor import KerasTensor

    if isinstance(tensor, KerasTensor):
        return tensor
    if not isinstance(layout, TensorLayout):
        raise DistributionError(f"distribute_tensor expects a TensorLayout. Received: "
                                f"{type(layout).__name__}")
    lib = _backend_lib()
    if not hasattr(lib, "distribute_tensor"):
        from kbridge.backend.common import context

        raise DistributionError(f"distribute_tensor lays tensors out on the jax backend only. "
                                f"Received: backend={context.get()!r}")
    return lib.distribute_tensor(tensor, layout)


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Start this process's part of a multi-process job (before any other computation).

    Arguments default to ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (comma-separated
    ``host:port``, the first being the coordinator), ``KERAS_DISTRIBUTION_NUM_PROCESSES``
    and ``KERAS_DISTRIBUTION_PROCESS_ID``, then to torchrun's ``MASTER_ADDR``/``MASTER_PORT``,
    ``WORLD_SIZE`` and ``RANK``. jax calls ``jax.distributed.initialize``; torch
    ``torch.distributed.init_process_group`` (gloo on CPU, nccl on GPU); tensorflow writes
    ``TF_CONFIG`` (unless set) for ``MultiWorkerMirroredStrategy``.

    Example:
        >>> kbridge.distribution.initialize("10.0.0.1:1234,10.0.0.2:1234", 2, 0)
    """
    env = os.environ
    if job_addresses is None:
        job_addresses = env.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    if job_addresses is None and "MASTER_ADDR" in env:
        job_addresses = f"{env['MASTER_ADDR']}:{env.get('MASTER_PORT', '29500')}"
    if num_processes is None:
        num_processes = env.get("KERAS_DISTRIBUTION_NUM_PROCESSES", env.get("WORLD_SIZE"))
    if process_id is None:
        process_id = env.get("KERAS_DISTRIBUTION_PROCESS_ID", env.get("RANK"))
    try:
        num_processes = None if num_processes is None else int(num_processes)
        process_id = None if process_id is None else int(process_id)
    except ValueError:
        raise DistributionError(f"num_processes and process_id must be integers. Received: "
                                f"num_processes={num_processes!r}, process_id={process_id!r}"
                                ) from None
    if num_processes is not None and process_id is not None and not (
            0 <= process_id < num_processes):
        raise DistributionError(f"process_id must be in [0, {num_processes}). Received: "
                                f"process_id={process_id}")
    if isinstance(job_addresses, (list, tuple)):
        job_addresses = ",".join(job_addresses)
    lib = _backend_lib()
    lib.initialize(job_addresses, num_processes, process_id)
    _state["processes"] = (lib.__name__.split(".")[-2], *lib.process_info())


def process_info():
    """``(rank, world_size)`` of this process in a multi-process job; ``(0, 1)`` alone.

    Asks the engines already imported and started (``torch.distributed`` process group,
    ``jax.distributed``), so jobs a user started without :func:`initialize` count too.
    """
    if "torch.distributed" in sys.modules:
        import torch.distributed as tdist

        if tdist.is_available() and tdist.is_initialized():
            return tdist.get_rank(), tdist.get_world_size()
    if "jax" in sys.modules and _state["processes"] and _state["processes"][0] == "jax":
        import jax

        return jax.process_index(), jax.process_count()
    return 0, 1


def barrier(name="kbridge"):
    """Wait until every process of the job reaches this point (no-op when alone)."""
    if process_info()[1] == 1:
        return
    if "torch.distributed" in sys.modules:
        import torch.distributed as tdist

        if tdist.is_initialized():
            tdist.barrier()
            return
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def rank_zero_writes(save):
    """Decorate a save function: in a multi-process job only rank 0 writes, every process
    waits at a barrier until it is done, and all of them return what rank 0 returned
    (its path)."""
    import functools

    @functools.wraps(save)
    def wrapper(model, path, *args, **kwargs):
        rank, world = process_info()
        if world == 1:
            return save(model, path, *args, **kwargs)
        try:
            if rank == 0:
                return save(model, path, *args, **kwargs)
            return os.path.abspath(os.fspath(path))
        finally:
            barrier("kbridge.hub.save")

    return wrapper


# --- meshes and layouts -------------------------------------------------------------------
class DeviceMesh:
    """A grid of devices with named axes (e.g. ``("batch", "model")``).

    Example:
        >>> mesh = DeviceMesh((2, 4), ["batch", "model"], devices=list_devices())
    """

    def __init__(self, shape, axis_names, devices=None):
        shape, axis_names = tuple(shape), list(axis_names)
        if not shape or len(shape) != len(axis_names):
            raise DistributionError(f"shape and axis_names must have the same, non-zero length. "
                                    f"Received: shape={shape}, axis_names={axis_names}")
        if len(set(axis_names)) != len(axis_names):
            raise DistributionError(f"axis_names must be unique. Received: {axis_names}")
        if devices is None:
            devices = list_devices()
        import numpy as np

        devices = np.array(devices, dtype=object)
        if devices.size != math.prod(shape):
            raise DistributionError(f"A mesh of shape {shape} needs {math.prod(shape)} devices. "
                                    f"Received: {devices.size} devices")
        self._shape, self._axis_names = shape, axis_names
        self._devices = devices.reshape(shape)

    shape = property(lambda self: self._shape)
    axis_names = property(lambda self: self._axis_names)
    devices = property(lambda self: self._devices)

    def __repr__(self):
        return (f"<DeviceMesh shape={self.shape}, axis_names={self.axis_names}, "
                f"devices={self.devices.size}>")


class TensorLayout:
    """How a tensor's dimensions map to mesh axes: one axis name (or None, replicated) per
    dimension.

    Example:
        >>> TensorLayout((None, "model"), mesh)    # columns split over the "model" axis
    """

    def __init__(self, axes, device_mesh=None):
        self._axes = tuple(axes)
        self._device_mesh = None
        if device_mesh is not None:
            self.device_mesh = device_mesh

    axes = property(lambda self: self._axes)

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh):
        if self._device_mesh is not None:
            raise DistributionError(f"This TensorLayout already has a device mesh "
                                    f"({self._device_mesh}); it cannot be set again.")
        unknown = [a for a in self._axes if a is not None and a not in device_mesh.axis_names]
        if unknown:
            raise DistributionError(f"TensorLayout axes {list(self._axes)} name axes the mesh "
                                    f"does not have: {unknown}. Expected names among "
                                    f"{device_mesh.axis_names}")
        self._device_mesh = device_mesh

    def __repr__(self):
        return f"<TensorLayout axes={self.axes}, device_mesh={self.device_mesh}>"


class Distribution:
    """What :class:`DataParallel` and :class:`ModelParallel` share: a mesh, the name of its
    batch axis, the layouts of data and variables, and a scope."""

    def __init__(self, device_mesh, batch_dim_name=None, auto_shard_dataset=True):
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name
        self.auto_shard_dataset = auto_shard_dataset

    device_mesh = property(lambda self: self._device_mesh)
    batch_dim_name = property(lambda self: self._batch_dim_name)

    @property
    def num_processes(self):
        return process_info()[1]

    def get_data_layout(self, data_shape):
        """The layout of an input batch: split along the batch axis, the rest whole."""
        return TensorLayout([self._batch_dim_name] + [None] * (len(data_shape) - 1),
                            self._device_mesh)

    def get_variable_layout(self, variable):
        raise NotImplementedError

    def get_tensor_layout(self, path):
        return None

    @contextlib.contextmanager
    def scope(self):
        """Make this the distribution inside ``with`` (restoring the previous one after)."""
        previous = _state["distribution"]
        set_distribution(self)
        try:
            yield self
        finally:
            set_distribution(previous)

    def __repr__(self):
        return (f"<{type(self).__name__} device_mesh={self._device_mesh}, "
                f"batch_dim_name={self._batch_dim_name!r}>")


def _replicated(variable, mesh):
    layout = getattr(variable, "_layout", None)
    if isinstance(layout, TensorLayout):
        return layout
    if layout is not None:  # axes given without a mesh
        return TensorLayout(layout, mesh)
    return TensorLayout([None] * len(variable.shape), mesh)


class DataParallel(Distribution):
    """Each device holds a full copy of the variables and takes a slice of every batch.

    Args:
        device_mesh: a 1D mesh (its axis is the batch axis); or
        devices: the devices to use (default: :func:`list_devices`).

    Example:
        >>> kbridge.distribution.set_distribution(kbridge.distribution.DataParallel())
        >>> model.fit(x, y, batch_size=64)     # each of 8 devices takes 8 samples a step
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        if device_mesh is not None and devices is not None:
            raise DistributionError("Pass device_mesh or devices, not both. Received: "
                                    f"device_mesh={device_mesh}, devices={list(devices)}")
        if device_mesh is not None:
            if not isinstance(device_mesh, DeviceMesh):
                raise DistributionError(f"device_mesh must be a DeviceMesh. Received: "
                                        f"{type(device_mesh).__name__}")
            if len(device_mesh.shape) != 1:
                raise DistributionError(f"DataParallel expects a 1D device mesh. Received a "
                                        f"mesh of shape {device_mesh.shape}")
        else:
            devices = list_devices() if devices is None else list(devices)
            device_mesh = DeviceMesh((len(devices),), ["batch"], devices)
        super().__init__(device_mesh, device_mesh.axis_names[0], auto_shard_dataset)

    @property
    def num_model_replicas(self):
        return self.device_mesh.devices.size

    def get_variable_layout(self, variable):
        """Replicated on every device (unless the variable carries its own layout)."""
        return _replicated(variable, self.device_mesh)


class ModelParallel(Distribution):
    """Variables are split over the mesh as a :class:`LayoutMap` says (replicated where it
    says nothing); batches are split along ``batch_dim_name``.

    Example:
        >>> mesh = DeviceMesh((2, 4), ["batch", "model"])
        >>> layout_map = LayoutMap(mesh)
        >>> layout_map["dense.*kernel"] = (None, "model")
        >>> kbridge.distribution.set_distribution(
        ...     ModelParallel(layout_map=layout_map, batch_dim_name="batch"))
    """

    def __init__(self, *, layout_map=None, batch_dim_name=None, auto_shard_dataset=True,
                 **kwargs):
        if "device_mesh" in kwargs:  # Keras's older signature
            kwargs.pop("device_mesh")
        if kwargs:
            raise DistributionError(f"Unexpected arguments: {sorted(kwargs)}")
        if not isinstance(layout_map, LayoutMap):
            raise DistributionError(f"ModelParallel needs layout_map=LayoutMap(...). Received: "
                                    f"{type(layout_map).__name__}")
        mesh = layout_map.device_mesh
        batch_dim_name = batch_dim_name or mesh.axis_names[0]
        if batch_dim_name not in mesh.axis_names:
            raise DistributionError(f"batch_dim_name must be one of the mesh's axes "
                                    f"{mesh.axis_names}. Received: {batch_dim_name!r}")
        super().__init__(mesh, batch_dim_name, auto_shard_dataset)
        self._layout_map = layout_map

    @property
    def num_model_replicas(self):
        return self.device_mesh.shape[self.device_mesh.axis_names.index(self.batch_dim_name)]

    def get_variable_layout(self, variable):
        """The layout map's entry for ``variable.path``; replicated when none matches."""
        if getattr(variable, "_layout", None) is not None:
            return _replicated(variable, self.device_mesh)
        layout = self._layout_map[variable.path]
        if layout is None:
            return _replicated(variable, self.device_mesh)
        if len(layout.axes) != len(variable.shape):
            raise DistributionError(f"The layout {layout.axes} for '{variable.path}' has "
                                    f"{len(layout.axes)} axes; the variable has shape "
                                    f"{tuple(variable.shape)}")
        return layout

    def get_tensor_layout(self, path):
        return self._layout_map[path]


class LayoutMap(PathMap):
    """``{regex: TensorLayout}``: a variable takes the layout whose key matches its path
    (``re.search``); an exact key wins; two matching keys are an error.

    Example:
        >>> layout_map = LayoutMap(mesh)
        >>> layout_map["dense.*kernel"] = (None, "model")    # a tuple becomes a TensorLayout
        >>> layout_map["sequential/dense/kernel"].axes       # (None, 'model')
    """

    _error = DistributionError
    _match = staticmethod(re.search)

    def __init__(self, device_mesh):
        if not isinstance(device_mesh, DeviceMesh):
            raise DistributionError(f"LayoutMap needs a DeviceMesh. Received: "
                                    f"{type(device_mesh).__name__}")
        self._device_mesh = device_mesh
        super().__init__()

    device_mesh = property(lambda self: self._device_mesh)

    def _check(self, key, layout):
        if isinstance(layout, (tuple, list)):
            layout = TensorLayout(layout)
        if not isinstance(layout, TensorLayout):
            raise DistributionError(f"A layout map value must be a TensorLayout or a tuple of "
                                    f"axis names. Received: {type(layout).__name__}")
        if layout.device_mesh is None:
            layout.device_mesh = self._device_mesh
        elif layout.device_mesh is not self._device_mesh:
            raise DistributionError(f"The layout for '{key}' is on another mesh "
                                    f"({layout.device_mesh}) than the layout map's "
                                    f"({self._device_mesh}).")
        return layout


def set_distribution(value):
    """Make ``value`` (a DataParallel / ModelParallel, or None) the distribution that
    variables are created with and ``fit`` trains with."""
    if value is not None and not isinstance(value, Distribution):
        raise DistributionError(f"set_distribution expects a Distribution or None. Received: "
                                f"{type(value).__name__}")
    _state["distribution"] = value
    if value is not None:
        _install_variable_hooks()


def _install_variable_hooks():
    """jax Variables place themselves through a hook of kbridge.backend.jax.core that the
    jax half of this package installs when imported: import it for a jax backend in use."""
    from kbridge.backend.common import context

    if "kbridge.backend.jax.core" in sys.modules or context.get() == "jax":
        import importlib

        importlib.import_module("kbridge.backend.jax.distribution_lib")


def distribution():
    """The current distribution, or None."""
    return _state["distribution"]
