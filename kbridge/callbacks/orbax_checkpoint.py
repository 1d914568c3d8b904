"""``OrbaxCheckpoint``: save model and optimizer state with Orbax during ``fit``.

Needs the ``orbax-checkpoint`` package (imported when the callback is created, never by
``import kbridge``). Each checkpoint is an Orbax step directory ``<directory>/<step>`` with
the checkpointables ``pytree`` (Keras's state tree: ``trainable_variables``,
``non_trainable_variables`` and, unless ``save_weights_only``, ``optimizer_variables`` and
``metrics_variables``, each nested by variable path) and ``model_config`` (the model's Keras
config as JSON, unless ``save_weights_only``).
"""

import json
import warnings

import numpy as np

from kbridge.callbacks.callback import Callback
from kbridge.callbacks.model_checkpoint import check_save_freq
from kbridge.callbacks.monitor import Monitor
from kbridge.errors import KbridgeError

_MISSING_ORBAX = (
    "OrbaxCheckpoint requires the 'orbax-checkpoint' package. You can install it via "
    "`pip install orbax-checkpoint`. To checkpoint without it, use "
    "kbridge.callbacks.ModelCheckpoint or kbridge.callbacks.BackupAndRestore.")


class OrbaxCheckpointError(KbridgeError, ImportError):
    """``orbax-checkpoint`` is not installed."""


def _orbax():
    try:
        from orbax.checkpoint import v1
    except ImportError:
        raise OrbaxCheckpointError(_MISSING_ORBAX) from None
    return v1


def _nested(variables):
    """``{"layer": {"kernel": array}}`` from the variables' paths (numpy leaves; 0-d arrays
    as Python scalars, which Orbax stores as scalars)."""
    from kbridge.backend.common.variables import unique_paths

    tree = {}
    for path, variable in unique_paths(variables).items():
        value = np.array(variable.numpy())  # a copy: torch shares memory with numpy()
        *parents, leaf = path.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value.item() if value.ndim == 0 else value
    return tree


def state_tree(model, weights_only=False):
    """The model's state as Keras's ``get_state_tree(value_format="numpy_array")`` lays it
    out (without the optimizer and metrics with ``weights_only``)."""
    tree = {"trainable_variables": _nested(model.trainable_variables),
            "non_trainable_variables": _nested(model.non_trainable_variables)}
    if not weights_only:
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and getattr(optimizer, "built", False):
            tree["optimizer_variables"] = _nested(optimizer.variables)
        tree["metrics_variables"] = _nested(getattr(model, "metrics_variables", []))
    return tree


class OrbaxCheckpoint(Callback):
    """Save the model's weights (and optimizer and metric state) with Orbax, by epoch or
    every ``save_freq`` batches; optionally only when ``monitor`` improves.

    Args:
        directory: the checkpoint directory (one Orbax step directory per save).
        monitor: the logged quantity for ``save_best_only``.
        verbose: 1 prints a line per save.
        save_best_only: save only when ``monitor`` improves on the best value so far.
        mode: "auto", "min" or "max": the better direction of ``monitor``.
        save_freq: "epoch" (the step is the epoch index) or a number of batches (the step
            is the number of batches trained).
        initial_value_threshold: the best value to beat at the start.
        max_to_keep: keep only this many most recent checkpoints (None: all).
        save_on_background: write asynchronously while training goes on.
        save_weights_only: leave out the optimizer and metric state and the model config.

    Example:
        >>> ckpt = kbridge.callbacks.OrbaxCheckpoint("/tmp/ckpt", save_freq=100)
        >>> model.fit(x, y, epochs=3, callbacks=[ckpt])
        >>> import orbax.checkpoint as ocp
        >>> state = ocp.v1.training.Checkpointer("/tmp/ckpt").load_checkpointables(
        ...     2)["pytree"]
    """

    def __init__(self, directory, monitor="val_loss", verbose=0, save_best_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None, max_to_keep=1,
                 save_on_background=True, save_weights_only=False):
        super().__init__()
        ocp = _orbax()
        self.directory = str(directory)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_freq = check_save_freq(save_freq)
        self.max_to_keep = max_to_keep
        self.save_on_background = save_on_background
        self.save_weights_only = save_weights_only
        self.best = initial_value_threshold
        self._monitor = Monitor(monitor, mode)
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._total_batches_seen = 0
        self._async_futures = []
        policies = ocp.training.preservation_policies
        self.checkpointer = ocp.training.Checkpointer(
            directory=self.directory,
            preservation_policy=None if max_to_keep is None else policies.LatestN(max_to_keep),
            # Every requested save happens (this callback decides when to save).
            save_decision_policy=ocp.training.save_decision_policies.FixedIntervalPolicy(1))

    @property
    def _implements_batch_hooks(self):
        return self.save_freq != "epoch"

    def set_model(self, model):
        super().set_model(model)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and getattr(optimizer, "built", False):
            # A resumed model continues the batch count of its earlier training.
            from kbridge import ops

            self._total_batches_seen = int(ops.convert_to_numpy(optimizer.iterations))

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            added = batch + 1  # a new epoch
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        self._total_batches_seen += added
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _improved(self, logs, where):
        if not self.save_best_only:
            return True
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available, skipping "
                          f"save at {where}.", stacklevel=3)
            return False
        self._monitor.resolve(self.model)
        if not self._monitor.is_improvement(current, self.best):
            return False
        self.best = float(current)
        return True

    def _save_checkpoint(self, step, logs=None):
        ocp = _orbax()
        self.model._sync_state_for_callbacks()  # jax keeps mid-epoch state in its runner
        payload = {"pytree": state_tree(self.model, self.save_weights_only)}
        if not self.save_weights_only:
            from kbridge.saving import registry

            try:
                config = json.dumps(registry.serialize_keras_format(self.model))
            except (KbridgeError, TypeError, ValueError) as e:
                warnings.warn(f"OrbaxCheckpoint: the model config is not serialisable ({e}); "
                              "saving the state only.", stacklevel=3)
            else:
                payload["model_config"] = {"config": config}
        if self.verbose:
            print(f"OrbaxCheckpoint: saving step {step} to {self.directory}")
        with ocp.Context():
            if self.save_on_background:
                self._async_futures.append(
                    self.checkpointer.save_checkpointables_async(step, payload))
            else:
                self.checkpointer.save_checkpointables(step, payload)

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch) and self._improved(logs, f"batch {batch}"):
            self._save_checkpoint(self._total_batches_seen, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch" and self._improved(logs, f"epoch {epoch}"):
            self._save_checkpoint(epoch, logs)

    def on_train_end(self, logs=None):
        self.wait_until_finished()

    def wait_until_finished(self):
        """Block until every asynchronous save has been written."""
        for future in self._async_futures:
            future.result()
        self._async_futures.clear()
        self.checkpointer.wait()
