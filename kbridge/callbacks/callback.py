"""The Callback base class and the list that drives callbacks during fit/evaluate/predict."""


class Callback:
    """Hooks called by ``fit`` / ``evaluate`` / ``predict``; override the ones you need.

    ``self.model`` is the model being trained; ``self.params`` has ``epochs``, ``steps``,
    ``verbose``.

    Example:
        >>> class PrintLoss(kbridge.callbacks.Callback):
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         print(epoch, logs["loss"])
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    @property
    def _implements_batch_hooks(self):
        base = Callback
        return any(getattr(type(self), name) is not getattr(base, name) for name in (
            "on_train_batch_end", "on_test_batch_end", "on_predict_batch_end",
            "on_train_batch_begin", "on_test_batch_begin", "on_predict_batch_begin"))


class CallbackList(Callback):
    """Calls each hook on every callback in order (the user's, then History, then the bar)."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        super().__init__()
        from kbridge.callbacks.history import History
        from kbridge.callbacks.progbar_logger import ProgbarLogger

        self.callbacks = list(callbacks or [])
        if add_history:
            # After the user's callbacks, as in Keras: values they add to the epoch logs
            # (ReduceLROnPlateau's learning_rate) are recorded.
            model.history = History()
            self.callbacks.append(model.history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        for c in self.callbacks:
            c.set_model(model)
            c.set_params(dict(params))
        self.model = model
        self.needs_batch_logs = any(c._implements_batch_hooks for c in self.callbacks)

    def __iter__(self):
        return iter(self.callbacks)

    def _call(self, name, *args):
        for c in self.callbacks:
            getattr(c, name)(*args)

    def on_train_begin(self, logs=None): self._call("on_train_begin", logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None): self._call("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._call("on_train_batch_end", batch, logs)
    def on_test_begin(self, logs=None): self._call("on_test_begin", logs)
    def on_test_end(self, logs=None): self._call("on_test_end", logs)
    def on_test_batch_begin(self, batch, logs=None): self._call("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._call("on_test_batch_end", batch, logs)
    def on_predict_begin(self, logs=None): self._call("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._call("on_predict_end", logs)
    def on_predict_batch_begin(self, batch, logs=None): self._call("on_predict_batch_begin", batch, logs)
    def on_predict_batch_end(self, batch, logs=None): self._call("on_predict_batch_end", batch, logs)
