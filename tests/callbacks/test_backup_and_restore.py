"""BackupAndRestore: an interrupted fit, run again, ends with bit-identical weights."""

import os

import numpy as np
import pytest

import kbridge
from kbridge import callbacks as cbs
from tests.callbacks.helpers import make_model, regression_data, weights_equal

EPOCHS = 5


class Interrupt(Exception):
    pass


def interrupt_at(epoch, batch):
    state = {}

    def begin(e, logs):
        state["epoch"] = e

    def batch_begin(b, logs):
        if state["epoch"] == epoch and b == batch:
            raise Interrupt(f"epoch {epoch} batch {batch}")

    return cbs.LambdaCallback(on_epoch_begin=begin, on_train_batch_begin=batch_begin)


def train(backup_dir=None, interrupt=None, save_freq="epoch"):
    """A fresh 'process': seed, build (with dropout and Adam), fit with shuffling."""
    kbridge.utils.set_random_seed(1234)
    x, y = regression_data(n=80)
    model = make_model(dropout=True, optimizer=kbridge.optimizers.Adam(learning_rate=0.01))
    callbacks = []
    if backup_dir is not None:
        callbacks.append(cbs.BackupAndRestore(str(backup_dir), save_freq=save_freq))
    if interrupt is not None:
        callbacks.append(interrupt)
    history = model.fit(x, y, batch_size=16, epochs=EPOCHS, shuffle=True, verbose=0,
                        callbacks=callbacks)
    return model, history


@pytest.mark.parametrize("save_freq", ["epoch", 3])
@pytest.mark.parametrize("backend_name", ["torch", "jax", "tensorflow"])
def test_resume_after_interruption_is_bit_identical(backend_name, save_freq, tmp_path):
    with kbridge.backend.use(backend_name):
        reference, ref_history = train()
        backup = tmp_path / "backup"
        with pytest.raises(Interrupt):
            train(backup, interrupt_at(epoch=2, batch=2), save_freq=save_freq)
        assert os.path.isdir(backup / "latest")
        resumed, history = train(backup, save_freq=save_freq)
    assert weights_equal(resumed.get_weights(), reference.get_weights())
    assert weights_equal(resumed.optimizer.get_weights(), reference.optimizer.get_weights())
    # the resumed run trained only what came after the backup: from epoch 3 (index 2), at
    # its start (save_freq="epoch") or after its first 2 batches (backup every 3 batches)
    assert history.epoch == list(range(2, EPOCHS))
    if save_freq == "epoch":
        np.testing.assert_array_equal(history.history["loss"], ref_history.history["loss"][2:])
    assert not backup.exists()  # delete_checkpoint=True once fit completes


def test_no_backup_trains_normally_and_keeps_backup_when_asked(tmp_path):
    with kbridge.backend.use("torch"):
        x, y = regression_data()
        model = make_model()
        backup = cbs.BackupAndRestore(str(tmp_path / "b"), delete_checkpoint=False,
                                      double_checkpoint=True)
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[backup])
        assert history.epoch == [0, 1]
        assert sorted(os.listdir(tmp_path / "b")) == ["latest", "previous"]
        # a finished run's backup resumes at the end: nothing left to train
        again = make_model()
        history = again.fit(x, y, batch_size=16, epochs=2, verbose=0,
                            callbacks=[cbs.BackupAndRestore(str(tmp_path / "b"))])
        assert history.epoch == []
        assert weights_equal(again.get_weights(), model.get_weights())


def test_backup_of_another_optimizer_is_refused(tmp_path):
    with kbridge.backend.use("torch"):
        x, y = regression_data()
        make_model().fit(x, y, epochs=1, verbose=0, callbacks=[
            cbs.BackupAndRestore(str(tmp_path), delete_checkpoint=False)])
        other = make_model(optimizer=kbridge.optimizers.Adam())
        with pytest.raises(kbridge.KbridgeError, match="optimizer state"):
            other.fit(x, y, epochs=1, verbose=0,
                      callbacks=[cbs.BackupAndRestore(str(tmp_path))])


def test_bad_arguments():
    with pytest.raises(kbridge.KbridgeError, match="save_freq"):
        cbs.BackupAndRestore("/tmp/x", save_freq=0)
    with pytest.raises(kbridge.KbridgeError, match="backup_dir"):
        cbs.BackupAndRestore("")


@pytest.mark.parametrize("backend_name", ["torch", "jax", "tensorflow"])
def test_set_random_seed_makes_fit_repeatable(backend_name):
    with kbridge.backend.use(backend_name):
        a, _ = train()
        b, _ = train()
        kbridge.utils.set_random_seed(99)
        x, y = regression_data(n=80)
        c = make_model(dropout=True)
        c.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert weights_equal(a.get_weights(), b.get_weights())
    assert not weights_equal(a.get_weights(), c.get_weights())
