"""``TerminateOnNaN``: stop training as soon as the loss is NaN or infinite."""

import math

from kbridge.callbacks.callback import Callback
from kbridge.errors import KbridgeError


class TerminateOnNaN(Callback):
    """Stop ``fit`` after a batch whose loss is NaN or inf (or raise, with ``raise_error``).

    Example:
        >>> model.fit(x, y, callbacks=[kbridge.callbacks.TerminateOnNaN()])
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise KbridgeError(f"Batch {batch}: the loss is {float(loss)}; training stopped "
                               "by TerminateOnNaN(raise_error=True).")
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
