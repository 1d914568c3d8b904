"""``BackupAndRestore``: survive an interrupted ``fit`` and resume it exactly.

A backup holds everything the rest of the run depends on: the model's weights (including
non-trainable ones) and its layers' seed states, the optimizer's variables (step count,
learning rate, moments), the epoch (and batch) reached, and the state of the random number
generators (kbridge's seed source, which data shuffling draws from, its global generators,
Python's, numpy's and torch's).
Restoring all of it makes a resumed run compute bit-identical weights to an uninterrupted
one.
"""

import json
import os
import random
import shutil
import sys

import numpy as np

from kbridge.callbacks.callback import Callback
from kbridge.callbacks.model_checkpoint import check_save_freq, staged_dir
from kbridge.errors import KbridgeError

_LATEST = "latest"
_PREVIOUS = "previous"
_ARRAYS = "state.safetensors"
_META = "state.json"


def _rng_state():
    """(arrays, json-able metadata) of the process's random number generators."""
    from kbridge.random import seed_generator

    name, keys, pos, has_gauss, cached = np.random.get_state()
    arrays = {"rng/numpy": np.asarray(keys, dtype=np.uint32)}
    meta = {"numpy": [name, int(pos), int(has_gauss), float(cached)],
            "python": _to_json(random.getstate()),
            "kbridge": _to_json(seed_generator._default_seed_source.getstate())}
    torch = sys.modules.get("torch")
    if torch is not None:
        arrays["rng/torch"] = torch.get_rng_state().numpy().copy()
    for backend, gen in seed_generator._global_generators.items():
        arrays[f"rng/global/{backend}"] = np.asarray(gen.state.numpy())
    return arrays, meta


def _set_rng_state(arrays, meta):
    from kbridge.random import seed_generator

    name, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, arrays["rng/numpy"], pos, has_gauss, cached))
    random.setstate(_from_json(meta["python"]))
    seed_generator._default_seed_source.setstate(_from_json(meta["kbridge"]))
    torch = sys.modules.get("torch")
    if torch is not None and "rng/torch" in arrays:
        torch.set_rng_state(torch.from_numpy(np.array(arrays["rng/torch"])))
    for key, value in arrays.items():
        if key.startswith("rng/global/"):
            seed_generator.global_seed_generator(key[len("rng/global/"):]).state.assign(value)


def _seed_states(model):
    """The layers' seed-generator states (not part of ``weights``), in a fixed order."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.non_trainable_variables if id(v) not in weights]


def _to_json(value):
    return [_to_json(v) for v in value] if isinstance(value, tuple) else value


def _from_json(value):
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


class BackupAndRestore(Callback):
    """Back up the training state to ``backup_dir``; a later ``fit`` resumes from it.

    Backups are written at the end of every epoch (and every ``save_freq`` batches when it
    is an int), atomically: an interruption while writing leaves the previous backup intact.
    When ``fit`` starts and a backup exists, the model, optimizer and random state are
    restored and training continues from where the backup was made. The backup is deleted
    when ``fit`` finishes (unless ``delete_checkpoint=False``).

    Args:
        backup_dir: the directory for the backup (not shared between runs).
        save_freq: "epoch", an int (also back up every that many batches), or False (never
            back up during training; restore only).
        double_checkpoint: keep the previous backup as well, as a fallback if the latest
            cannot be read.
        delete_checkpoint: delete the backup when training completes.

    Example:
        >>> backup = kbridge.callbacks.BackupAndRestore("/tmp/run1-backup")
        >>> model.fit(x, y, epochs=10, callbacks=[backup])   # interrupted? run it again
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise KbridgeError("BackupAndRestore needs a `backup_dir`.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = check_save_freq(save_freq, allow_never=True)
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._epoch = 0
        self._batches_since_save = 0
        self._epoch_start_rng = None

    @property
    def _implements_batch_hooks(self):
        return isinstance(self.save_freq, int) and not isinstance(self.save_freq, bool)

    # --- hooks ------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._batches_since_save = 0
        restored = self._restore()
        if restored is not None:
            epoch, step = restored
            object.__setattr__(self.model, "_initial_epoch", epoch)
            object.__setattr__(self.model, "_initial_step", step)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._implements_batch_hooks:
            # A backup made inside this epoch resumes by replaying it from its start with
            # the data order of this run, so it needs the generators' state as it is now.
            self._epoch_start_rng = _rng_state()

    def on_train_batch_end(self, batch, logs=None):
        if not self._implements_batch_hooks:
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self.model._sync_state_for_callbacks()
            self._save(self._epoch, batch + 1, self._epoch_start_rng)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq is not False:
            self._save(epoch + 1, 0, _rng_state())

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            shutil.rmtree(self.backup_dir, ignore_errors=True)

    # --- files ------------------------------------------------------------------------
    def _save(self, epoch, step, rng):
        from kbridge.hub import release, safetensors_io

        model = self.model
        arrays = {f"model/{k}": np.asarray(v.numpy())
                  for k, v in release.weight_map(model).items()}
        arrays.update({f"seed/{i}": np.asarray(v.numpy())
                       for i, v in enumerate(_seed_states(model))})
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            arrays.update({f"optimizer/{i}": np.asarray(v.numpy())
                           for i, v in enumerate(optimizer.variables)})
        rng_arrays, rng_meta = rng
        arrays.update(rng_arrays)
        meta = {"epoch": int(epoch), "step": int(step), "rng": rng_meta}
        latest = os.path.join(self.backup_dir, _LATEST)
        with staged_dir(latest) as tmp:
            safetensors_io.write(os.path.join(tmp, _ARRAYS), arrays)
            with open(os.path.join(tmp, _META), "w") as f:
                json.dump(meta, f)
            if self.double_checkpoint and os.path.exists(latest):
                previous = os.path.join(self.backup_dir, _PREVIOUS)
                shutil.rmtree(previous, ignore_errors=True)
                os.rename(latest, previous)

    def _read(self, name):
        from kbridge.hub import safetensors_io

        directory = os.path.join(self.backup_dir, name)
        if not os.path.exists(os.path.join(directory, _META)):
            return None
        with open(os.path.join(directory, _META)) as f:
            meta = json.load(f)
        arrays = {k: np.array(v) for k, v in
                  safetensors_io.read(os.path.join(directory, _ARRAYS)).items()}
        return meta, arrays

    def _restore(self):
        """Restore the latest backup; ``(epoch, step)`` to resume at, or None if none."""
        try:
            found = self._read(_LATEST)
        except Exception:
            if not self.double_checkpoint:
                raise
            found = None
        if found is None and self.double_checkpoint:
            found = self._read(_PREVIOUS)
        if found is None:
            return None
        meta, arrays = found
        from kbridge.hub import release

        model = self.model
        weights = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
        release.assign_weights(model, weights, where=f"backup in {self.backup_dir}")
        seeds = _seed_states(model)
        if sum(k.startswith("seed/") for k in arrays) != len(seeds):
            raise KbridgeError(f"The backup in {self.backup_dir} was made by a model with "
                               "other random layers; resume with the same model.")
        for i, v in enumerate(seeds):
            v.assign(arrays[f"seed/{i}"])
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            own = optimizer.variables
            saved = sum(k.startswith("optimizer/") for k in arrays)
            if saved != len(own):
                raise KbridgeError(
                    f"The backup in {self.backup_dir} holds optimizer state of another "
                    f"shape ({saved} variables, this optimizer has {len(own)}). Resume "
                    "with the same model and optimizer, or delete the backup.")
            for i, v in enumerate(own):
                v.assign(arrays[f"optimizer/{i}"])
        _set_rng_state(arrays, meta["rng"])
        return meta["epoch"], meta["step"]
