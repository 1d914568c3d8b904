"""``LambdaCallback``: a callback made of plain functions."""

from kbridge.callbacks.callback import Callback
from kbridge.errors import KbridgeError

_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
          "on_predict_batch_begin", "on_predict_batch_end")


class LambdaCallback(Callback):
    """Call the given functions from the matching hooks.

    Epoch and batch hooks get ``(epoch_or_batch, logs)``; begin/end hooks get ``(logs)``.

    Example:
        >>> printer = kbridge.callbacks.LambdaCallback(
        ...     on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise KbridgeError(f"LambdaCallback got unknown hooks {unknown}. Known: "
                               f"{list(_HOOKS)}")
        given = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        self._batch_hooks = False
        for name, fn in given.items():
            if fn is not None:
                setattr(self, name, fn)  # an instance attribute shadows the no-op method
                self._batch_hooks = self._batch_hooks or "batch" in name

    @property
    def _implements_batch_hooks(self):
        return self._batch_hooks
