"""Ceilings on what loading a release may cost, checked before anything is built or read.

Without limits, a load is already bounded by the release itself: the architecture may not
create more weight memory than its weight files hold, files are regular and JSON is
bounded in size and depth. A service that loads releases from strangers can set ceilings
of its own too:

    >>> limits = kbridge.hub.Limits(max_total_bytes=2 * 2**30, max_layers=500)
    >>> kbridge.hub.load("hf://someone/model", limits=limits)

Every ceiling is checked against the safetensors headers and config.json, before a byte of
weights is read or a layer is constructed; the error names the file and the ceiling.
"""

import dataclasses

from kbridge.hub.errors import ReleaseError

__all__ = ["LimitExceeded", "Limits"]


class LimitExceeded(ReleaseError):
    """A release asks for more than the :class:`Limits` of this load allow."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Ceilings on a load (``None``: no ceiling of this kind).

    Args:
        max_tensor_bytes: the largest single weight tensor, in bytes.
        max_total_bytes: all weight tensors together, in bytes.
        max_tensors: the number of weight tensors.
        max_layers: the number of layer (and other serialised object) entries in the config.
    """

    max_tensor_bytes: int | None = None
    max_total_bytes: int | None = None
    max_tensors: int | None = None
    max_layers: int | None = None

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise ValueError(f"Limits.{field.name} must be a non-negative int or None. "
                                 f"Received: {value!r}")

    def check_tensors(self, where, sizes):
        """``sizes``: ``(name, nbytes)`` of every weight tensor, from the headers."""
        total = count = 0
        for name, nbytes in sizes:
            count += 1
            total += nbytes
            if self.max_tensor_bytes is not None and nbytes > self.max_tensor_bytes:
                raise LimitExceeded(f"{where}: tensor '{str(name)[:100]}' is {nbytes} bytes, "
                                   f"above limits.max_tensor_bytes={self.max_tensor_bytes}")
        if self.max_total_bytes is not None and total > self.max_total_bytes:
            raise LimitExceeded(f"{where}: the weights are {total} bytes, above "
                               f"limits.max_total_bytes={self.max_total_bytes}")
        if self.max_tensors is not None and count > self.max_tensors:
            raise LimitExceeded(f"{where}: {count} weight tensors, above "
                               f"limits.max_tensors={self.max_tensors}")

    def check_config(self, where, config):
        """Count the serialised objects (``{"class_name": ...}`` entries) in ``config``."""
        if self.max_layers is None:
            return
        count, stack = 0, [config]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                count += "class_name" in item
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        if count > self.max_layers:
            raise LimitExceeded(f"{where}: the config describes {count} layers and other "
                               f"objects, above limits.max_layers={self.max_layers}")


NONE = Limits()


def standardize(limits):
    if limits is None:
        return NONE
    if not isinstance(limits, Limits):
        raise TypeError(f"`limits` must be a kbridge.hub.Limits or None. Received: "
                        f"{type(limits).__name__}")
    return limits
