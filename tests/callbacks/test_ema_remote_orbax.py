"""SwapEMAWeights (evaluate / predict / epoch ends with the optimizer's averages),
RemoteMonitor (POSTs to a loopback http.server) and OrbaxCheckpoint's missing-package error."""

import http.server
import json
import threading
import urllib.parse

import numpy as np
import pytest

import kbridge
from tests.callbacks.helpers import make_model, regression_data


def _ema_model(**opt_kwargs):
    return make_model(optimizer=kbridge.optimizers.SGD(learning_rate=0.05, use_ema=True,
                                                       ema_momentum=0.5, **opt_kwargs))


def _averages(model):
    return [np.array(a.numpy()) for a in model.optimizer._ema_averages]  # copies


def _weights(model):
    return [np.array(v.numpy()) for v in model.trainable_variables]  # copies (torch shares)


def test_swap_ema_weights_in_evaluate_and_predict(trainable_backend):
    x, y = regression_data(32)
    model = _ema_model()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    # fit ends with the averages in the model (as Keras); one more step moves it off them.
    for ours, ref in zip(_weights(model), _averages(model)):
        np.testing.assert_allclose(ours, ref, rtol=1e-6)
    model.train_on_batch(x[:8], y[:8])
    raw, ema = _weights(model), _averages(model)
    assert not all(np.allclose(a, b) for a, b in zip(raw, ema))
    # Reference: the same model holding the averages, without the callback.
    reference = make_model()
    reference.set_weights(model.get_weights())
    for var, value in zip(reference.trainable_variables, ema):
        var.assign(value)
    expected_loss = reference.evaluate(x, y, verbose=0)
    expected_pred = reference.predict(x, verbose=0)

    swap = kbridge.callbacks.SwapEMAWeights()
    assert model.evaluate(x, y, verbose=0, callbacks=[swap]) == pytest.approx(expected_loss,
                                                                            rel=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0, callbacks=[swap]), expected_pred,
                               rtol=1e-5, atol=1e-6)
    # The model's own weights and the optimizer's averages are back in place.
    for ours, ref in zip(_weights(model) + _averages(model), raw + ema):
        np.testing.assert_array_equal(ours, ref)
    assert model.evaluate(x, y, verbose=0) != pytest.approx(expected_loss, rel=1e-5)


def test_swap_ema_weights_on_epoch(trainable_backend):
    x, y = regression_data(32)
    model = _ema_model()
    seen = []

    class Record(kbridge.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # runs after the swap (listed after it)
            seen.append((_weights(self.model), _averages(self.model)))

    model.fit(x, y, batch_size=8, epochs=3, verbose=0,
              callbacks=[kbridge.callbacks.SwapEMAWeights(swap_on_epoch=True), Record()])
    for epoch, (weights, averages) in enumerate(seen[:-1]):
        # Mid-training: the model holds the averages, the optimizer the raw weights.
        assert not all(np.allclose(w, a) for w, a in zip(weights, averages)), epoch
    # Training resumed from the raw weights each epoch: the averages trail them, so the
    # swapped-in values differ from one epoch to the next.
    assert not np.allclose(seen[0][0][0], seen[1][0][0])
    # After the last epoch both hold the averages.
    for w, a in zip(*seen[-1]):
        np.testing.assert_array_equal(w, a)
    for w, a in zip(_weights(model), seen[-1][0]):
        np.testing.assert_array_equal(w, a)


def test_swap_ema_weights_needs_use_ema(trainable_backend):
    x, y = regression_data(16)
    model = make_model()
    with pytest.raises(ValueError, match="use_ema=True"):
        model.evaluate(x, y, verbose=0, callbacks=[kbridge.callbacks.SwapEMAWeights()])
    multi = make_model(optimizer=kbridge.optimizers.MultiOptimizer(
        kbridge.optimizers.OptimizerMap(kbridge.optimizers.SGD(0.05))))
    with pytest.raises(ValueError, match="at least one inner optimizer"):
        multi.evaluate(x, y, verbose=0, callbacks=[kbridge.callbacks.SwapEMAWeights()])


class _Sink(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Sink.received = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Sink.received
    httpd.shutdown()
    httpd.server_close()


def test_remote_monitor_posts_form_and_json(server):
    root, received = server
    form = kbridge.callbacks.RemoteMonitor(root=root, field="payload",
                                           headers={"X-Run": "7"})
    form.on_epoch_end(0, {"loss": np.float32(0.5), "acc": np.array(0.25)})
    as_json = kbridge.callbacks.RemoteMonitor(root=root, path="/events", send_as_json=True)
    as_json.on_epoch_end(3, {"loss": 1.5})
    (path1, headers1, body1), (path2, headers2, body2) = received
    assert path1 == "/publish/epoch/end/" and headers1["X-Run"] == "7"
    assert headers1["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(urllib.parse.parse_qs(body1)["payload"][0]) == {
        "epoch": 0, "loss": 0.5, "acc": 0.25}
    assert path2 == "/events" and headers2["Content-Type"] == "application/json"
    assert json.loads(body2) == {"epoch": 3, "loss": 1.5}


def test_remote_monitor_in_fit_and_unreachable_server(server, trainable_backend):
    root, received = server
    x, y = regression_data(16)
    model = make_model()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                        callbacks=[kbridge.callbacks.RemoteMonitor(root=root,
                                                                   send_as_json=True)])
    sent = [json.loads(body) for _, _, body in received]
    assert [s["epoch"] for s in sent] == [0, 1]
    assert [s["loss"] for s in sent] == pytest.approx(history.history["loss"])
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor root server"):
        kbridge.callbacks.RemoteMonitor(root="http://127.0.0.1:9", timeout=2).on_epoch_end(0)


def _flat(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = np.asarray(value)
    return out


def test_orbax_checkpoint_saves_state_by_epoch_and_batch(trainable_backend, tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint").v1
    x, y = regression_data(32)
    model = make_model(optimizer=kbridge.optimizers.Adam(0.01))
    by_epoch = kbridge.callbacks.OrbaxCheckpoint(tmp_path / "epochs", max_to_keep=None,
                                                 save_on_background=False)
    by_batch = kbridge.callbacks.OrbaxCheckpoint(tmp_path / "batches", save_freq=3,
                                                 max_to_keep=2, save_weights_only=True)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[by_epoch, by_batch])
    epochs = ocp.training.Checkpointer(str(tmp_path / "epochs"))
    assert [c.step for c in epochs.checkpoints] == [0, 1, 2]
    saved = epochs.load_checkpointables(2)
    state = saved["pytree"]
    assert set(state) == {"trainable_variables", "non_trainable_variables",
                          "optimizer_variables", "metrics_variables"}
    weights = _flat(state["trainable_variables"])
    assert set(weights) == {v.path for v in model.trainable_variables}
    for v in model.trainable_variables:
        np.testing.assert_array_equal(weights[v.path], v.numpy())
    optimizer_state = _flat(state["optimizer_variables"])
    assert len(optimizer_state) == len(model.optimizer.variables)
    assert int(optimizer_state[model.optimizer.iterations.path]) == 12
    # The model config rebuilds the architecture.
    rebuilt = kbridge.saving.registry.deserialize(
        json.loads(saved["model_config"]["config"]))
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]
    # By batch: steps count batches (12 in all, a save every 3), the latest 2 kept.
    batches = ocp.training.Checkpointer(str(tmp_path / "batches"))
    assert [c.step for c in batches.checkpoints] == [9, 12]
    assert set(batches.load_checkpointables(12)["pytree"]) == {"trainable_variables",
                                                               "non_trainable_variables"}


def test_orbax_checkpoint_save_best_only(tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint").v1
    with kbridge.backend.use("torch" if "torch" in kbridge.backend.available() else "jax"):
        model = make_model()
    cb = kbridge.callbacks.OrbaxCheckpoint(tmp_path, monitor="loss", save_best_only=True,
                                           max_to_keep=None, save_on_background=False)
    cb.set_model(model)
    for epoch, loss in enumerate([3.0, 2.0, 2.5, 1.0]):
        cb.on_epoch_end(epoch, {"loss": loss})
    with pytest.warns(UserWarning, match="only with loss available"):
        cb.on_epoch_end(4, {})
    cb.on_train_end()
    assert [c.step for c in ocp.training.Checkpointer(str(tmp_path)).checkpoints] == [0, 1, 3]
    assert cb.best == 1.0
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        kbridge.callbacks.OrbaxCheckpoint(tmp_path / "other", save_freq="often")


def test_new_callback_names_match_keras():
    keras = pytest.importorskip("keras")
    import inspect

    for name in ("SwapEMAWeights", "RemoteMonitor", "OrbaxCheckpoint"):
        ours = inspect.signature(getattr(kbridge.callbacks, name))
        theirs = inspect.signature(getattr(keras.callbacks, name))
        assert list(theirs.parameters) == [p for p in ours.parameters if p != "timeout"]
