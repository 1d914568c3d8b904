"""Every callback: its rules on scripted logs, and its effect inside fit on each backend."""

import csv
import importlib.util
import os

import numpy as np
import pytest

import kbridge
from kbridge import callbacks as cbs
from tests.callbacks.helpers import make_model, regression_data, weights_equal


class FakeModel:
    """Just what the callbacks touch: weights, stop_training, an optimizer."""

    def __init__(self, optimizer=None):
        self.w = [np.zeros(2)]
        self.stop_training = False
        self.optimizer = optimizer
        self.metrics = []

    def get_weights(self):
        return [a.copy() for a in self.w]

    def set_weights(self, weights):
        self.w = [a.copy() for a in weights]


def drive(callback, values, key="val_loss", model=None):
    """Run ``callback`` over epochs whose logs[key] are ``values``; the epochs run."""
    model = model or FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    ran = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        model.w = [np.full(2, float(epoch))]
        callback.on_epoch_end(epoch, {key: value})
        ran.append(epoch)
        if model.stop_training:
            break
    callback.on_train_end()
    return ran, model


# --- EarlyStopping ------------------------------------------------------------------
def test_early_stopping_patience():
    ran, _ = drive(cbs.EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.96, 0.5])
    assert ran == [0, 1, 2, 3]


def test_early_stopping_min_delta_and_mode():
    # improvements of 0.05 are below min_delta=0.1: they do not count
    ran, _ = drive(cbs.EarlyStopping(monitor="acc", min_delta=0.1, patience=1),
                   [0.5, 0.55, 0.6, 0.9], key="acc")
    assert ran == [0, 1]
    ran, _ = drive(cbs.EarlyStopping(monitor="acc", mode="min", patience=0),
                   [0.5, 0.6], key="acc")
    assert ran == [0, 1]


def test_early_stopping_baseline_and_start_from_epoch():
    # epochs that do not beat the baseline 0.1 count towards patience (as in Keras, an epoch
    # that improves on the best so far does not stop training by itself)
    values = [1.0, 0.9, 0.9, 0.9, 0.9]
    ran, _ = drive(cbs.EarlyStopping(patience=2, baseline=0.1), values)
    assert ran == [0, 1, 2]
    ran, _ = drive(cbs.EarlyStopping(patience=2), values)
    assert ran == [0, 1, 2, 3]
    ran, _ = drive(cbs.EarlyStopping(patience=0, start_from_epoch=3), [1, 2, 3, 4, 5])
    assert ran == [0, 1, 2, 3, 4]


def test_early_stopping_restores_best_weights():
    stop = cbs.EarlyStopping(patience=1, restore_best_weights=True)
    ran, model = drive(stop, [1.0, 0.5, 0.7, 0.8, 0.9])
    assert ran == [0, 1, 2] and stop.best_epoch == 1 and stop.stopped_epoch == 2
    np.testing.assert_array_equal(model.w[0], [1.0, 1.0])


def test_early_stopping_missing_monitor_warns():
    with pytest.warns(UserWarning, match="val_loss"):
        drive(cbs.EarlyStopping(), [1.0], key="loss")


def test_early_stopping_restore_in_fit(trainable_backend):
    """On every backend the restored weights are those of the best epoch (jax syncs)."""
    x, y = regression_data()
    model = make_model()
    seen = []
    record = cbs.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(model.get_weights()))
    # mode="max" on a falling loss: epoch 0 stays the best, training stops at epoch 1
    stop = cbs.EarlyStopping(monitor="loss", mode="max", patience=0,
                             restore_best_weights=True)
    history = model.fit(x, y, batch_size=16, epochs=5, callbacks=[record, stop], verbose=0)
    assert len(history.epoch) == 2 and len(seen) == 2
    assert not weights_equal(seen[0], seen[1])
    assert weights_equal(model.get_weights(), seen[0])


# --- ReduceLROnPlateau / LearningRateScheduler ------------------------------------------
def test_reduce_lr_on_plateau_rules():
    with kbridge.backend.use("numpy"):
        opt = kbridge.optimizers.SGD(learning_rate=1.0)
        reduce = cbs.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=1, min_lr=0.2)
        drive(reduce, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], model=FakeModel(opt))
        # as in Keras a cooldown of 1 ends in the epoch after a reduction, which may reduce
        # again: 1.0 -> 0.5 (epoch 1) -> 0.25 -> 0.2 (min_lr), then no lower
        assert float(opt.learning_rate.numpy()) == pytest.approx(0.2)
    with pytest.raises(kbridge.KbridgeError, match="factor"):
        cbs.ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_on_plateau_in_fit(trainable_backend):
    x, y = regression_data()
    model = make_model(lr=0.08)
    reduce = cbs.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5, patience=1)
    history = model.fit(x, y, batch_size=32, epochs=3, callbacks=[reduce], verbose=0)
    np.testing.assert_allclose(history.history["learning_rate"], [0.08, 0.08, 0.04],
                               rtol=1e-6)
    assert float(np.asarray(model.optimizer.learning_rate.numpy())) == pytest.approx(0.02)


def test_learning_rate_scheduler_is_used_by_the_step(trainable_backend):
    """A schedule of 0 must freeze the weights: the step reads the value the callback set."""
    x, y = regression_data()
    model = make_model(lr=0.1)
    before = model.get_weights()
    sched = cbs.LearningRateScheduler(lambda epoch, lr: 0.0)
    model.fit(x, y, batch_size=16, epochs=2, callbacks=[sched], verbose=0)
    assert weights_equal(before, model.get_weights())

    model2 = make_model(lr=0.1)
    sched = cbs.LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** epoch)  # the 1-argument form
    history = model2.fit(x, y, batch_size=16, epochs=3, callbacks=[sched], verbose=0)
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.025], rtol=1e-6)
    assert not weights_equal(model2.get_weights(), before)


# --- ModelCheckpoint -----------------------------------------------------------------------
def test_model_checkpoint_formats_paths_and_saves_releases(trainable_backend, tmp_path):
    x, y = regression_data()
    model = make_model()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{loss:.2f}")
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0,
                        callbacks=[cbs.ModelCheckpoint(pattern, monitor="loss")])
    names = sorted(os.listdir(tmp_path))
    assert names == [f"ckpt-{e + 1:02d}-{history.history['loss'][e]:.2f}" for e in range(2)]
    restored = kbridge.hub.load(str(tmp_path / names[-1]), backend="numpy")
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_model_checkpoint_save_best_only_and_weights_only(trainable_backend, tmp_path):
    x, y = regression_data()
    model = make_model()
    seen = []
    record = cbs.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(model.get_weights()))
    path = str(tmp_path / "best")
    # mode="max" on a falling loss: only epoch 1 is ever "best"
    ckpt = cbs.ModelCheckpoint(path, monitor="loss", mode="max", save_best_only=True,
                               save_weights_only=True)
    model.fit(x, y, batch_size=16, epochs=3, callbacks=[record, ckpt], verbose=0)
    assert os.listdir(path) == ["model.safetensors"]
    fresh = make_model()
    fresh.load_weights(path)
    assert weights_equal(fresh.get_weights(), seen[0])


def test_model_checkpoint_save_freq_batches(trainable_backend, tmp_path):
    x, y = regression_data()
    model = make_model()
    ckpt = cbs.ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}"), save_freq=3,
                               save_weights_only=True)
    model.fit(x, y, batch_size=16, epochs=2, callbacks=[ckpt], verbose=0)  # 4 batches/epoch
    assert sorted(os.listdir(tmp_path)) == ["e1-b3", "e2-b2"]
    # the batch save holds the weights after that batch, also on jax (state synced)
    final = make_model()
    final.load_weights(str(tmp_path / "e2-b2"))
    assert not weights_equal(final.get_weights(), make_model().get_weights())


def test_model_checkpoint_rejects_bad_paths_and_fields(tmp_path):
    # Keras 3's rules: weights-only checkpoints are .weights.h5 files, full ones .keras.
    with pytest.raises(kbridge.KbridgeError, match=r"\.weights\.h5"):
        cbs.ModelCheckpoint(str(tmp_path / "model.keras"), save_weights_only=True)
    with pytest.raises(kbridge.KbridgeError, match="save_freq"):
        cbs.ModelCheckpoint(str(tmp_path / "m"), save_freq="batch")
    ckpt = cbs.ModelCheckpoint(str(tmp_path / "{val_acc}"))
    ckpt.set_model(FakeModel())
    with pytest.raises(kbridge.KbridgeError, match="val_acc"):
        ckpt.on_epoch_end(0, {"loss": 1.0})


# --- CSVLogger, TerminateOnNaN, LambdaCallback ----------------------------------------------
def test_csv_logger(trainable_backend, tmp_path):
    x, y = regression_data()
    model = make_model()
    path = tmp_path / "log.csv"
    history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0,
                        callbacks=[cbs.CSVLogger(str(path))])
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == ["epoch", "loss", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    np.testing.assert_allclose([float(r["loss"]) for r in rows], history.history["loss"])
    model.fit(x, y, batch_size=16, epochs=1, initial_epoch=0, verbose=0,
              callbacks=[cbs.CSVLogger(str(path), separator=";", append=True)])
    lines = open(path).read().splitlines()
    assert len(lines) == 4 and lines[0] == "epoch,loss,val_loss" and ";" in lines[3]


def test_terminate_on_nan(trainable_backend):
    x, y = regression_data()
    y = y.copy()
    y[20] = np.nan  # in the second batch of 16
    model = make_model()
    batches = []
    count = cbs.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                        callbacks=[count, cbs.TerminateOnNaN()])
    assert batches == [0, 1] and len(history.epoch) == 1
    with pytest.raises(kbridge.KbridgeError, match="TerminateOnNaN"):
        make_model().fit(x, y, batch_size=16, shuffle=False, verbose=0,
                         callbacks=[cbs.TerminateOnNaN(raise_error=True)])


def test_lambda_callback_hooks_in_order(trainable_backend):
    x, y = regression_data(n=32)
    calls = []
    hooks = {name: (lambda name: lambda *a: calls.append(name))(name) for name in
             ("on_train_begin", "on_epoch_begin", "on_train_batch_begin",
              "on_train_batch_end", "on_epoch_end", "on_train_end")}
    make_model().fit(x, y, batch_size=16, epochs=1, verbose=0,
                     callbacks=[cbs.LambdaCallback(**hooks)])
    assert calls == ["on_train_begin", "on_epoch_begin", "on_train_batch_begin",
                     "on_train_batch_end", "on_train_batch_begin", "on_train_batch_end",
                     "on_epoch_end", "on_train_end"]
    with pytest.raises(kbridge.KbridgeError, match="on_epoch_start"):
        cbs.LambdaCallback(on_epoch_start=print)


# --- TensorBoard ----------------------------------------------------------------------------
def _read_scalars(directory):
    import tensorflow as tf

    out = {}
    for name in os.listdir(directory):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
            for value in event.summary.value:
                number = value.simple_value if value.HasField("simple_value") else float(
                    tf.make_ndarray(value.tensor))
                out.setdefault(value.tag, []).append((event.step, number))
    return out


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None and
                    importlib.util.find_spec("tensorboard") is None,
                    reason="needs tensorboard or tensorflow")
def test_tensorboard_writes_scalars(tmp_path):
    pytest.importorskip("tensorflow")  # to read the event files back
    with kbridge.backend.use("torch"):
        x, y = regression_data()
        model = make_model()
        history = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0,
                            callbacks=[cbs.TensorBoard(str(tmp_path), update_freq=2)])
    train = _read_scalars(tmp_path / "train")
    val = _read_scalars(tmp_path / "validation")
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], history.history["loss"],
                               rtol=1e-6)
    np.testing.assert_allclose([v for _, v in val["epoch_loss"]],
                               history.history["val_loss"], rtol=1e-6)
    assert [s for s, _ in train["batch_loss"]] == [2, 4, 6]  # 3 batches per epoch


def test_tensorboard_without_a_writer_names_the_package(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(kbridge.KbridgeError, match="pip install tensorboard"):
        cbs.TensorBoard("logs")
