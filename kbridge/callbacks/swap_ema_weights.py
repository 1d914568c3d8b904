"""``SwapEMAWeights``: evaluate and predict with the optimizer's moving-average weights."""

from kbridge import ops
from kbridge.backend.common import context
from kbridge.callbacks.callback import Callback
from kbridge.errors import ArgumentError


class SwapEMAWeights(Callback):
    """Swap the model's weights with the optimizer's exponential moving averages around
    evaluation and prediction (and, with ``swap_on_epoch``, around each epoch's end).

    The optimizer needs ``use_ema=True`` (inside a ``LossScaleOptimizer``, or for at least
    one inner optimizer of a ``MultiOptimizer``). The two sets of values trade places, so
    the model's own weights come back unchanged after the swap back.

    Args:
        swap_on_epoch: also hold the moving averages in the model from each epoch's end
            to the next epoch's start, so epoch-end callbacks (``ModelCheckpoint``) and
            validation see them. After the last epoch the model keeps the averages.

    Example:
        >>> model.compile(optimizer=kbridge.optimizers.SGD(use_ema=True), loss="mse")
        >>> model.fit(x, y, epochs=3, callbacks=[kbridge.callbacks.SwapEMAWeights()])
        >>> model.evaluate(x, y, callbacks=[kbridge.callbacks.SwapEMAWeights()])  # EMA
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _ema_optimizers(self):
        optimizer = getattr(self.model, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if hasattr(optimizer, "optimizers"):  # MultiOptimizer
            found = [o for o in optimizer.optimizers if getattr(o, "use_ema", False)]
            if not found:
                raise ArgumentError(
                    "SwapEMAWeights needs `use_ema=True` on at least one inner optimizer of "
                    "the MultiOptimizer. Received: use_ema=False on all of them.")
        else:
            if not getattr(optimizer, "use_ema", False):
                raise ArgumentError(
                    "SwapEMAWeights needs an optimizer created with `use_ema=True`. Received: "
                    f"use_ema={getattr(optimizer, 'use_ema', None)} on {optimizer!r}.")
            found = [optimizer]
        return [o for o in found if o.built]  # nothing to swap before the first step

    def _swap(self):
        from kbridge.optimizers.base_optimizer import _NoGrad

        for optimizer in self._ema_optimizers():
            with context.use(optimizer._backend), _NoGrad(optimizer._backend):
                for var, average in zip(optimizer._trainable_variables,
                                        optimizer._ema_averages):
                    model_value = ops.copy(var.value)  # torch / tf assign in place
                    var.assign(average.value)
                    average.assign(model_value)
        self._resync_runners()

    def _finalize_ema_values(self):
        for optimizer in self._ema_optimizers():
            with context.use(optimizer._backend):
                for var, average in zip(optimizer._trainable_variables,
                                        optimizer._ema_averages):
                    average.assign(ops.copy(var.value))

    def _resync_runners(self):
        # The jax trainer holds the model state in its step runner and reads the Variables
        # before on_test_begin / on_predict_begin run; re-read them so the swap is seen.
        # (Eager runners of torch / tensorflow read the Variables directly: a no-op there.)
        for kind in ("test", "predict"):
            runner = vars(self.model).get(f"_{kind}_function")
            if runner is not None and getattr(runner, "state", None) is not None:
                runner.sync_from_model()

    def _hold_averages(self, averages):
        """Swap so that the model holds the averages (``averages``) or its own weights."""
        if self._ema_weights_in_model != averages:
            self._swap()
            self._ema_weights_in_model = averages

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._hold_averages(False)

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._hold_averages(True)
            if epoch == self.params.get("epochs", 0) - 1:
                # Training ends with the averages in the model; keep the optimizer's copy
                # equal to them so finalize_variable_values() leaves them in place.
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        self._hold_averages(True)

    def on_test_end(self, logs=None):
        self._hold_averages(False)

    def on_predict_begin(self, logs=None):
        self._hold_averages(True)

    def on_predict_end(self, logs=None):
        # Keras 3.15 tests `not self._ema_weights_in_model` here and so never swaps back
        # after predict; kbridge restores the model's weights, as after evaluate.
        self._hold_averages(False)
