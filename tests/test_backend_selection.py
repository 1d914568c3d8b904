"""``kbridge.backend.fastest``, ``fit(backend=...)`` and ``KBRIDGE_BACKEND=auto``, with a fake
clock: the rankings are decided by the costs the tests give each backend, never by timing."""

import json

import numpy as np
import pytest

import kbridge
from kbridge.backend.common import selection
from kbridge.errors import BackendError

TRAINABLE = [b for b in ("jax", "torch", "tensorflow") if b in kbridge.backend.available()]
pytestmark = pytest.mark.skipif(len(TRAINABLE) < 2, reason="needs two trainable backends")


def fake_clock(costs):
    """A timer whose every reading advances by the active backend's cost: one timed step
    (two readings) then lasts exactly ``costs[backend]``."""
    now = [0.0]

    def timer():
        now[0] += costs[kbridge.backend.get()]
        return now[0]

    return timer


def make_data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, size=n)


def build(backend=None, compile=True):
    with kbridge.backend.use(backend or TRAINABLE[0]):
        kbridge.utils.set_random_seed(1)
        model = kbridge.Sequential([kbridge.Input((6,)),
                                    kbridge.layers.Dense(8, activation="relu"),
                                    kbridge.layers.Dense(3)])
        if compile:
            model.compile(kbridge.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
    return model


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KBRIDGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KBRIDGE_BACKEND", raising=False)
    return tmp_path / "cache"


def test_ranking_follows_measured_step_times():
    x, y = make_data()
    costs = {"jax": 3.0, "torch": 1.0, "tensorflow": 2.0, "numpy": 9.0}
    ranking = kbridge.backend.fastest(build(), (x, y), timer=fake_clock(costs), steps=3,
                                      warmup=1)
    assert [t.backend for t in ranking] == sorted(TRAINABLE, key=costs.get)
    assert all(t.error is None and t.seconds == costs[t.backend] for t in ranking)


def test_predict_ranks_numpy_too_and_builders_are_called_per_backend():
    x, _ = make_data()
    built = []

    def builder():
        built.append(kbridge.backend.get())
        return build(kbridge.backend.get(), compile=False)

    costs = {"numpy": 0.5, "jax": 3.0, "torch": 1.0, "tensorflow": 2.0}
    ranking = kbridge.backend.fastest(builder, x, workload="predict", timer=fake_clock(costs))
    assert ranking[0].backend == "numpy"
    assert sorted(built) == sorted(kbridge.backend.available())


def test_a_backend_that_fails_is_ranked_last_with_its_error():
    x, y = make_data()
    broken = TRAINABLE[0]

    def builder():
        if kbridge.backend.get() == broken:
            raise RuntimeError("no kernel for this")
        return build(kbridge.backend.get())

    costs = {b: 1.0 for b in TRAINABLE}
    ranking = kbridge.backend.fastest(builder, (x, y), timer=fake_clock(costs))
    assert ranking[-1].backend == broken and ranking[-1].seconds is None
    assert "no kernel for this" in ranking[-1].error
    assert all(t.seconds == 1.0 for t in ranking[:-1])


def test_ranking_is_cached_per_model_signature(monkeypatch, cache_dir):
    x, y = make_data()
    model = build()
    calls = []
    real = selection._time_backend

    def counting(*args):
        calls.append(args[2])
        return real(*args)

    monkeypatch.setattr(selection, "_time_backend", counting)
    first = kbridge.backend.fastest(model, (x, y), steps=1, warmup=0)
    assert sorted(calls) == sorted(TRAINABLE)
    again = kbridge.backend.fastest(model, (x, y), steps=1, warmup=0)
    assert again == first and len(calls) == len(TRAINABLE)  # read from the cache
    kbridge.backend.fastest(model, (x[:16], y[:16]), steps=1, warmup=0)  # other batch shape
    assert len(calls) == 2 * len(TRAINABLE)
    twin = build()  # the same architecture: a new instance shares the cache entry
    kbridge.backend.fastest(twin, (x, y), steps=1, warmup=0)
    assert len(calls) == 2 * len(TRAINABLE)
    assert len(json.loads((cache_dir / "backend_choice.json").read_text())) == 2


def test_a_damaged_cache_is_ignored(cache_dir):
    cache_dir.mkdir()
    (cache_dir / "backend_choice.json").write_text('{"k": [["rm -rf", 1, null]], "j": 3')
    x, y = make_data()
    ranking = kbridge.backend.fastest(build(), (x, y), steps=1, warmup=0)
    assert {t.backend for t in ranking} == set(TRAINABLE)
    cache = json.loads((cache_dir / "backend_choice.json").read_text())
    assert len(cache) == 1


def test_bad_arguments_name_what_was_expected():
    x, y = make_data()
    with pytest.raises(BackendError, match="workload"):
        kbridge.backend.fastest(build(), (x, y), workload="serve")
    with pytest.raises(BackendError, match="cannot train"):
        kbridge.backend.fastest(build(), (x, y), backends=["numpy"])
    with pytest.raises(BackendError, match="steps"):
        kbridge.backend.fastest(build(), (x, y), steps=0)
    with pytest.raises(BackendError, match="model_or_builder"):
        kbridge.backend.fastest("model.keras", (x, y))


def _pretend_fastest(monkeypatch, winner):
    def fake(model, batch, workload="train", **kwargs):
        others = [b for b in TRAINABLE if b != winner]
        return [selection.BackendTiming(winner, 1.0, None)] + [
            selection.BackendTiming(b, 2.0, None) for b in others]

    monkeypatch.setattr(selection, "fastest", fake)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_fit_auto_trains_on_the_fastest_backend_and_writes_weights_back(how, monkeypatch):
    home, winner = TRAINABLE[0], TRAINABLE[1]
    _pretend_fastest(monkeypatch, winner)
    x, y = make_data()
    model = build(home)
    expected = kbridge.convert(model, winner)
    expected.compile(kbridge.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                     metrics=["accuracy"])
    want = expected.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    if how == "environment":
        monkeypatch.setenv("KBRIDGE_BACKEND", "auto")
        history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    else:
        history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0,
                            backend="auto")
    assert model.backend_name == home
    assert model._backend_copy.backend_name == winner
    np.testing.assert_allclose(history.history["loss"], want.history["loss"], rtol=1e-5)
    for got, ref in zip(model.get_weights(), expected.get_weights()):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    # The copy keeps its optimizer state: a second fit continues where the first stopped.
    expected.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0, backend=winner)
    for got, ref in zip(model.get_weights(), expected.get_weights()):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_fit_on_its_own_backend_makes_no_copy():
    x, y = make_data()
    model = build()
    model.fit(x, y, epochs=1, verbose=0, backend=model.backend_name)
    assert model._backend_copy is None


def test_compile_config_round_trip():
    model = build()
    config = model.get_compile_config()
    assert config["optimizer"]["class_name"] == "Adam" and config["jit_compile"] == "auto"
    other = build(compile=False)
    other.compile_from_config(json.loads(json.dumps(config)))
    assert type(other.optimizer) is kbridge.optimizers.Adam
    assert float(other.optimizer.learning_rate) == pytest.approx(0.01)
    assert other.optimizer is not model.optimizer
    x, y = make_data()
    np.testing.assert_allclose(other.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0),
                               rtol=1e-6)
