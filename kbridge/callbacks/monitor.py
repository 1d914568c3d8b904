"""Watching one logged quantity: which direction is better, and whether a value improved.

Shared by ModelCheckpoint, EarlyStopping and ReduceLROnPlateau.
"""

import warnings

from kbridge.errors import KbridgeError

_MAX_HINTS = ("acc", "auc", "precision", "recall", "fmeasure", "f1", "iou", "r2")


def check_mode(mode):
    if mode not in ("auto", "min", "max"):
        raise KbridgeError(f"`mode` must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
    return mode


def direction(monitor, mode, model=None):
    """'min' or 'max' for ``monitor`` under ``mode`` ('auto' infers it from the name).

    'auto': a loss is minimised; a compiled metric with a ``_direction`` of "up"/"down" says
    so itself; otherwise names containing acc/auc/precision/recall/f1/iou are maximised.
    """
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss" or name.endswith("_loss"):
        return "min"
    for metric in getattr(model, "metrics", None) or []:
        if getattr(metric, "name", None) == name and getattr(metric, "_direction", None):
            return "max" if metric._direction == "up" else "min"
    return "max" if any(h in name for h in _MAX_HINTS) else "min"


class Monitor:
    """Tracks the best value of ``monitor``; ``improved(value)`` compares with ``min_delta``."""

    def __init__(self, monitor, mode="auto", min_delta=0.0):
        self.monitor = monitor
        self.mode = check_mode(mode)
        self.min_delta = abs(float(min_delta))
        self.sign = None  # +1: larger is better, -1: smaller is better

    def resolve(self, model):
        if self.sign is None:
            self.sign = 1.0 if direction(self.monitor, self.mode, model) == "max" else -1.0
        return self.sign

    def is_improvement(self, value, reference):
        """``value`` beats ``reference`` by more than ``min_delta`` (always, if no reference)."""
        if reference is None:
            return True
        return self.sign * (float(value) - float(reference)) > self.min_delta

    def value(self, logs, who):
        """``logs[monitor]`` or None with a warning naming the available keys."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"{who} monitors `{self.monitor}`, which is not in the logs. "
                          f"Available: {', '.join(logs) or '(none)'}", stacklevel=3)
        return value
