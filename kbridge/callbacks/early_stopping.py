"""``EarlyStopping``: stop training when a monitored value stops improving."""

from kbridge.callbacks.callback import Callback
from kbridge.callbacks.monitor import Monitor


class EarlyStopping(Callback):
    """Stop ``fit`` after ``patience`` epochs without improvement of ``monitor``.

    Args:
        monitor: the logged value to watch ("val_loss").
        min_delta: a change smaller than this is not an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops and when it restores weights.
        mode: "auto", "min" or "max".
        baseline: training stops unless the value beats this within ``patience`` epochs.
        restore_best_weights: at the end of training, set the weights of the best epoch.
        start_from_epoch: epochs to wait before watching at all (warm-up).

    Example:
        >>> stop = kbridge.callbacks.EarlyStopping(monitor="loss", patience=3)
        >>> model.fit(x, y, epochs=100, callbacks=[stop])
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._monitor = Monitor(monitor, mode, min_delta)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        self._monitor.resolve(self.model)
        current = self._monitor.value(logs, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Something to restore even if no epoch ever improves on the baseline.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._monitor.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._monitor.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)
