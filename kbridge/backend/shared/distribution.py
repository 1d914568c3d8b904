"""Distribution helpers shared by the jax and tensorflow backends' ``distribution_lib``: the
current distribution and the check of a DeviceMesh's device names.

Bindings: ``dist_lib`` (``kbridge.distribution.distribution_lib``, which a backend module
may import and a shared one may not).
"""

from kbridge.backend.common.shared import bound

dist_lib = bound("dist_lib")

_BACKEND = __name__.split(".")[2]


def current():
    """The current ``kbridge.distribution`` (None without one)."""
    return dist_lib.distribution()


def mesh_device_names(device_mesh, known):
    """The names ("cpu:0") of ``device_mesh``'s devices, each one of the ``known`` names."""
    names = [str(d).lower() for d in device_mesh.devices.flat]
    missing = [n for n in names if n not in known]
    if missing:
        raise dist_lib.DistributionError(f"The mesh names devices {_BACKEND} does not have: "
                                         f"{missing[:4]}. Expected names among "
                                         f"{sorted(known)[:8]}")
    return names
