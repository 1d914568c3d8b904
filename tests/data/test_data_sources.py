"""Every input source feeds every backend: arrays, pandas, generators, PyDataset, tf.data,
torch DataLoader; class_weight and validation_split."""

import subprocess
import sys
import threading

import numpy as np
import pytest

import kbridge
from kbridge.data import adapt
from tests.callbacks.helpers import make_model, regression_data, weights_equal

BATCH = 16


def fit_reference(backend, x, y, sample_weight=None, epochs=2):
    """The weights after training from in-memory arrays without shuffling."""
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(3)
        model = make_model()
        model.fit(x, y, sample_weight=sample_weight, batch_size=BATCH, epochs=epochs,
                  shuffle=False, verbose=0)
    return model.get_weights()


def fit_from(backend, source, epochs=2, **kwargs):
    with kbridge.backend.use(backend):
        kbridge.utils.set_random_seed(3)
        model = make_model()
        history = model.fit(source, epochs=epochs, verbose=0, **kwargs)
    return model, history


def assert_close_weights(a, b):
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


# --- Python generators ---------------------------------------------------------------------
def batches_of(x, y, sw=None, forever=False):
    while True:
        for i in range(0, len(x), BATCH):
            s = slice(i, i + BATCH)
            yield (x[s], y[s]) if sw is None else (x[s], y[s], sw[s])
        if not forever:
            return


def test_generator_with_steps_per_epoch(trainable_backend):
    x, y = regression_data()
    model, history = fit_from(trainable_backend, batches_of(x, y, forever=True),
                              steps_per_epoch=len(x) // BATCH)
    assert len(history.history["loss"]) == 2
    assert_close_weights(model.get_weights(), fit_reference(trainable_backend, x, y))


def test_finite_generator_and_sample_weights(trainable_backend):
    x, y = regression_data()
    sw = np.linspace(0.5, 2.0, len(x)).astype("float32")
    model, _ = fit_from(trainable_backend, batches_of(x, y, sw), epochs=1)
    assert_close_weights(model.get_weights(), fit_reference(trainable_backend, x, y, sw, 1))


def test_exhausted_generator_says_how_to_fix():
    x, y = regression_data()
    with pytest.raises(kbridge.KbridgeError, match="steps_per_epoch"):
        fit_from("torch", batches_of(x, y), epochs=2)
    with pytest.raises(kbridge.KbridgeError, match="`y` cannot be given"):
        fit_from("torch", batches_of(x, y), y=y)


def test_generator_evaluate_and_predict():
    x, y = regression_data()
    with kbridge.backend.use("jax"):
        model = make_model()
        expected = model.evaluate(x, y, batch_size=BATCH, verbose=0)
        got = model.evaluate(batches_of(x, y), verbose=0)
        np.testing.assert_allclose(got, expected, rtol=1e-5)
        pred = model.predict((x[i:i + BATCH] for i in range(0, len(x), BATCH)), verbose=0)
        np.testing.assert_allclose(pred, model.predict(x, verbose=0), rtol=1e-5)


# --- PyDataset -------------------------------------------------------------------------------
class Batches(kbridge.utils.PyDataset):
    def __init__(self, x, y, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.epochs_ended = 0
        self.threads = set()

    def __len__(self):
        return -(-len(self.x) // BATCH)

    def __getitem__(self, i):
        if i >= len(self):
            raise IndexError(i)
        self.threads.add(threading.get_ident())
        s = slice(i * BATCH, (i + 1) * BATCH)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_py_dataset_with_two_workers(trainable_backend):
    x, y = regression_data()
    data = Batches(x, y, workers=2, max_queue_size=3)
    model, history = fit_from(trainable_backend, data, shuffle=False)
    assert data.epochs_ended == 2
    assert threading.get_ident() not in data.threads  # loaded by the worker threads
    assert_close_weights(model.get_weights(), fit_reference(trainable_backend, x, y))


def test_py_dataset_order_shuffle_and_infinite():
    x, y = regression_data()
    ordered = [b[0] for b in adapt(Batches(x, y, workers=3), shuffle=False).batches()]
    assert all(np.array_equal(b, x[i * BATCH:(i + 1) * BATCH]) for i, b in enumerate(ordered))
    kbridge.utils.set_random_seed(0)
    first = [b[0][0, 0] for b in adapt(Batches(x, y), shuffle=True).batches()]
    kbridge.utils.set_random_seed(0)
    again = [b[0][0, 0] for b in adapt(Batches(x, y, workers=2), shuffle=True).batches()]
    assert first == again and sorted(first) == sorted(b[0, 0] for b in ordered)

    class Endless(kbridge.utils.PyDataset):
        num_batches = None

        def __getitem__(self, i):
            return np.full((2, 3), i, "float32"), np.zeros((2, 1), "float32")

    got = [b[0][0, 0] for b in adapt(Endless(workers=2), steps_per_epoch=5).batches()]
    assert got == [0, 1, 2, 3, 4]


# --- tf.data and torch DataLoader ---------------------------------------------------------------
def test_torch_model_from_tf_data():
    tf = pytest.importorskip("tensorflow")
    x, y = regression_data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    model, history = fit_from("torch", dataset)
    assert kbridge.backend.of(model) == "torch"
    assert_close_weights(model.get_weights(), fit_reference("torch", x, y))
    # steps_per_epoch on a repeated dataset continues across epochs
    model, _ = fit_from("torch", dataset.repeat(), steps_per_epoch=len(x) // BATCH)
    assert_close_weights(model.get_weights(), fit_reference("torch", x, y))
    with pytest.raises(kbridge.KbridgeError, match="steps_per_epoch"):
        fit_from("torch", dataset.repeat())


def test_jax_model_from_torch_dataloader():
    torch = pytest.importorskip("torch")
    x, y = regression_data()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=BATCH, shuffle=False)
    model, history = fit_from("jax", loader, validation_data=loader)
    assert kbridge.backend.of(model) == "jax" and "val_loss" in history.history
    assert_close_weights(model.get_weights(), fit_reference("jax", x, y))


def test_tensorflow_model_from_shuffled_dataloader():
    torch = pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    x, y = regression_data()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=BATCH, shuffle=True)
    model, history = fit_from("tensorflow", loader, epochs=3)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_looking_at_data_imports_no_framework():
    code = ("import sys, numpy as np, kbridge\n"
            "from kbridge.data import adapt\n"
            "adapt((b for b in [np.ones((2, 3))])).peek()\n"
            "adapt(np.ones((4, 3)), np.ones(4)).peek()\n"
            "print(sorted(m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# --- pandas ----------------------------------------------------------------------------------
def test_pandas_dataframe_and_series(trainable_backend):
    pd = pytest.importorskip("pandas")
    x, y = regression_data()
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    series = pd.Series(y[:, 0])
    with kbridge.backend.use(trainable_backend):
        kbridge.utils.set_random_seed(3)
        model = make_model()
        model.fit(frame, series.to_frame(), batch_size=BATCH, epochs=2, shuffle=False,
                  verbose=0)
        np.testing.assert_allclose(model.predict(frame, verbose=0),
                                   model.predict(x, verbose=0), rtol=1e-6)
        history = make_model().fit(frame, series, validation_split=0.25, batch_size=BATCH,
                                   verbose=0)
    assert_close_weights(model.get_weights(), fit_reference(trainable_backend, x, y))
    assert "val_loss" in history.history


# --- class_weight and validation_split --------------------------------------------------------
def test_class_weight_equals_sample_weight(trainable_backend):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (rng.random(64) > 0.7).astype("float32")[:, None]
    weights = np.where(y[:, 0] == 1, 3.0, 0.5).astype("float32")
    expected = fit_reference(trainable_backend, x, y, sample_weight=weights)
    with kbridge.backend.use(trainable_backend):
        kbridge.utils.set_random_seed(3)
        model = make_model()
        model.fit(x, y, class_weight={0: 0.5, 1: 3.0}, batch_size=BATCH, epochs=2,
                  shuffle=False, verbose=0)
    assert_close_weights(model.get_weights(), expected)
    # the same through a generator
    gen = ((x[i:i + BATCH], y[i:i + BATCH]) for _ in range(2) for i in range(0, 64, BATCH))
    model, _ = fit_from(trainable_backend, gen, class_weight={0: 0.5, 1: 3.0},
                        steps_per_epoch=4)
    assert_close_weights(model.get_weights(), expected)


def test_validation_split_uses_the_last_samples(trainable_backend):
    x, y = regression_data(n=80)
    with kbridge.backend.use(trainable_backend):
        model = make_model()
        history = model.fit(x, y, validation_split=0.25, batch_size=BATCH, epochs=1,
                            verbose=0)
        val = model.evaluate(x[60:], y[60:], batch_size=BATCH, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0], val, rtol=1e-5)
    with pytest.raises(kbridge.KbridgeError, match="validation_data"):
        with kbridge.backend.use("torch"):
            make_model().fit(batches_of(x, y), validation_split=0.2, verbose=0)


def test_arrays_repeat_with_seed_and_differ_without_shuffle_seed():
    x, y = regression_data()
    kbridge.utils.set_random_seed(5)
    a = [b[1].copy() for b in adapt(x, y, batch_size=BATCH, shuffle=True).batches()]
    kbridge.utils.set_random_seed(5)
    b = [b[1].copy() for b in adapt(x, y, batch_size=BATCH, shuffle=True).batches()]
    assert weights_equal(a, b)
    assert not np.array_equal(np.concatenate(a), y)
