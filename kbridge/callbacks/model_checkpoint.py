"""``ModelCheckpoint``: save the model during training, as Keras files or kbridge releases."""

import contextlib
import os
import re
import shutil
import tempfile

from kbridge.callbacks.callback import Callback
from kbridge.callbacks.monitor import Monitor
from kbridge.errors import ArgumentError, KbridgeError

_KERAS_SUFFIXES = (".keras", ".h5")
_FORMAT_FIELD = re.compile(r"\{[^{}]*\}")


def _is_release_path(filepath):
    """True for a path without a file extension (format fields aside): kbridge's release
    directory. ``ckpt/epoch{epoch:02d}-{loss:.2f}`` is one; ``ckpt/model.pt`` is not."""
    name = _FORMAT_FIELD.sub("", os.path.basename(filepath.rstrip("/\\")))
    return os.path.splitext(name)[1] == ""


def save_weights(model, path):
    """Write ``model``'s weights as ``model.safetensors`` in directory ``path``, atomically.

    The layout is the weights half of a release: ``model.load_weights(path)`` reads it back,
    and no architecture config is needed (subclassed models save too).
    """
    import numpy as np

    from kbridge.hub import release, safetensors_io

    path = os.path.abspath(os.fspath(path))
    arrays = {k: np.asarray(v.numpy()) for k, v in release.weight_map(model).items()}
    with staged_dir(path) as tmp:
        safetensors_io.write(os.path.join(tmp, release.WEIGHTS_FILE), arrays,
                             {"format": release.FORMAT})
    return path


@contextlib.contextmanager
def staged_dir(path):
    """A new directory beside ``path`` to write into; it replaces ``path`` when the block
    ends, and is removed instead if the block raises."""
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        yield tmp
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(src, dst):
    """Move directory ``src`` to ``dst``, replacing what is there with one rename each."""
    if os.path.exists(dst):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(dst)}.old-",
                               dir=os.path.dirname(dst))
        os.rename(dst, os.path.join(old, "previous"))
        os.rename(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(src, dst)


def check_save_freq(save_freq, allow_never=False):
    """``save_freq`` if it is "epoch", a positive number of batches, or (with ``allow_never``)
    False; else an ``ArgumentError`` naming what was expected."""
    if save_freq == "epoch" or (allow_never and save_freq is False) or (
            isinstance(save_freq, int) and not isinstance(save_freq, bool) and save_freq > 0):
        return save_freq
    expected = "'epoch', a positive integer (batches)" + (" or False" if allow_never else "")
    raise ArgumentError(f"Unrecognized save_freq: {save_freq!r}. Expected {expected}.")


class ModelCheckpoint(Callback):
    """Save the model every epoch (or every ``save_freq`` batches), or only when it improves.

    As in Keras 3, ``filepath`` ends in ``.keras`` (the whole model, which Keras loads; ``.h5``
    for the legacy format), or in ``.weights.h5`` with ``save_weights_only=True``. A path
    without an extension is a kbridge release directory instead (``kbridge.hub.load`` reads
    it; with ``save_weights_only=True`` just its ``model.safetensors``, read by
    ``model.load_weights``). ``filepath`` may hold format fields filled from the epoch
    (1-based), the batch and the logs, e.g. ``"ckpt/epoch{epoch:02d}-{val_loss:.2f}.keras"``.

    Args:
        filepath: the file (or release directory) to write, possibly with format fields.
        monitor: the logged value ``save_best_only`` compares ("val_loss").
        verbose: 1 prints a line per save.
        save_best_only: save only when ``monitor`` improves on the best so far.
        save_weights_only: write weights only (no architecture config).
        mode: "auto", "min" or "max": which direction of ``monitor`` is better.
        save_freq: "epoch", or an int: save every that many batches.
        initial_value_threshold: with ``save_best_only``, the value to beat at first.

    Example:
        >>> cb = kbridge.callbacks.ModelCheckpoint("ckpt/best.keras", save_best_only=True)
        >>> model.fit(x, y, validation_split=0.2, epochs=10, callbacks=[cb])
        >>> model = kbridge.saving.load_model("ckpt/best.keras")
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        filepath = os.fspath(filepath)
        self._release = _is_release_path(filepath)
        if not self._release:
            if save_weights_only and not filepath.endswith(".weights.h5"):
                raise ArgumentError(
                    "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
                    "provided must end in `.weights.h5` (Keras weights format), or have no "
                    f"extension (a kbridge release directory). Received: filepath={filepath}")
            if not save_weights_only and not filepath.endswith(_KERAS_SUFFIXES):
                raise ArgumentError(
                    "The filepath provided must end in `.keras` (Keras model format), or "
                    "have no extension (a kbridge release directory). Received: "
                    f"filepath={filepath}")
        self.filepath = filepath
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = check_save_freq(save_freq)
        self._monitor = Monitor(monitor, mode)
        self.best = initial_value_threshold
        self._epoch = 0
        self._batches_since_save = 0

    @property
    def _implements_batch_hooks(self):
        return self.save_freq != "epoch"

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch, batch, logs):
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields.setdefault("batch", batch + 1)
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as e:
            raise KbridgeError(f"Could not fill in ModelCheckpoint filepath "
                               f"{self.filepath!r} from epoch/batch and logs {sorted(fields)}: "
                               f"{e!r}") from None

    def _save(self, epoch, batch, logs):
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            self._monitor.resolve(self.model)
            current = self._monitor.value(logs, "ModelCheckpoint(save_best_only=True)")
            if current is not None:
                if not self._monitor.is_improvement(current, self.best):
                    if self.verbose:
                        print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                              f"{self.best:.5f}")
                    return
                if self.verbose:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                          f"{current:.5f}, saving model to {path}")
                self.best = current
        elif self.verbose:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if batch is not None:
            self.model._sync_state_for_callbacks()
        if not self._release:
            if os.path.isdir(path):
                raise KbridgeError("Please specify a non-directory filepath for "
                                   "ModelCheckpoint. Filepath used is an existing directory: "
                                   f"{path}")
            from kbridge.saving import saving_api

            if self.save_weights_only:
                saving_api.save_weights(self.model, path, overwrite=True)
            else:
                saving_api.save_model(self.model, path, overwrite=True)
        elif self.save_weights_only:
            save_weights(self.model, path)
        else:
            from kbridge import hub

            hub.save(self.model, path)
