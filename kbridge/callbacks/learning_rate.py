"""Callbacks that set the optimizer's learning rate: a schedule per epoch, or on plateaus."""

import numpy as np

from kbridge.callbacks.callback import Callback
from kbridge.callbacks.monitor import Monitor
from kbridge.errors import KbridgeError


def _current_lr(optimizer):
    from kbridge import ops

    lr = optimizer.learning_rate
    return float(np.asarray(lr.numpy() if hasattr(lr, "numpy") else ops.convert_to_numpy(lr)))


def _optimizer(model, who):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise KbridgeError(f"{who} needs a compiled model whose optimizer has a "
                           "`learning_rate`.")
    return optimizer


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``.

    Args:
        schedule: ``f(epoch, lr) -> new_lr`` (epoch is 0-based; ``f(epoch)`` also works).
        verbose: 1 prints each change.

    Example:
        >>> cb = kbridge.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer(self.model, "LearningRateScheduler")
        lr = _current_lr(optimizer)
        try:
            new_lr = self.schedule(epoch, lr)
        except TypeError:  # a schedule of the epoch alone
            new_lr = self.schedule(epoch)
        try:
            new_lr = float(np.asarray(new_lr))
        except (TypeError, ValueError):
            raise KbridgeError("The LearningRateScheduler schedule must return a float. "
                               f"Received: {new_lr!r}") from None
        if not np.isfinite(new_lr):
            raise KbridgeError(f"The LearningRateScheduler schedule returned {new_lr} for "
                               f"epoch {epoch}.")
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{new_lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _current_lr(self.model.optimizer)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    Args:
        monitor: the logged value to watch ("val_loss").
        factor: the multiplier, below 1.
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: "auto", "min" or "max".
        min_delta: a change smaller than this is not an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate never goes below this.

    Example:
        >>> cb = kbridge.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2)
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise KbridgeError("ReduceLROnPlateau does not support a factor >= 1.0. "
                               f"Received: factor={factor}")
        if "epsilon" in kwargs:  # the old name of min_delta
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise KbridgeError(f"Unknown ReduceLROnPlateau arguments: {sorted(kwargs)}")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._monitor = Monitor(monitor, mode, min_delta)
        self._reset()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        optimizer = _optimizer(self.model, "ReduceLROnPlateau")
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _current_lr(optimizer)
        self._monitor.resolve(self.model)
        current = self._monitor.value(logs, "ReduceLROnPlateau")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._monitor.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old_lr = logs["learning_rate"]
        if old_lr > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                      f"{new_lr}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0
