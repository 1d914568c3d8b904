"""``ProgbarLogger``: the progress bar ``fit(verbose=1)`` prints."""

from kbridge.callbacks.callback import Callback
from kbridge.utils.progbar import Progbar


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a live bar with ETA and running metrics."""

    def __init__(self):
        super().__init__()
        self._bar = None
        self._seen = 0
        self._in_fit = False

    @property
    def _implements_batch_hooks(self):
        return self.params.get("verbose", 1) == 1

    def _start(self):
        # The logs are running results already: nothing is averaged again (as Keras).
        self._bar = Progbar(self.params.get("steps"), verbose=self.params.get("verbose", 1),
                            stateless_metrics=set())
        self._seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.params.get("verbose", 1):
            print(f"Epoch {epoch + 1}/{self.params.get('epochs', 1)}")
        self._start()

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        self._bar.update(self._seen, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._bar.update(self._seen, logs, finalize=True)

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_test_begin(self, logs=None):
        if not self._in_fit:  # fit's validation keeps the epoch's bar
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if self._in_fit:
            return
        self._seen = batch + 1
        self._bar.update(self._seen, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._bar.update(self._seen, logs, finalize=True)

    def on_predict_begin(self, logs=None):
        self._start()

    def on_predict_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        self._bar.update(self._seen)

    def on_predict_end(self, logs=None):
        self._bar.update(self._seen, finalize=True)
