"""Loading a release does not draw random initial values for weights it then overwrites,
and still initialises any variable the release does not hold."""

import numpy as np

import kbridge
from kbridge import initializers
from kbridge.backend.common.variables import AllocationBudget


def test_loading_runs_no_initializer_of_a_loaded_weight(tmp_path, monkeypatch):
    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((6,)), kbridge.layers.Dense(5),
                                    kbridge.layers.BatchNormalization(), kbridge.layers.Dense(2)])
    kbridge.hub.save(model, str(tmp_path / "r"))
    calls = []
    for cls in (initializers.GlorotUniform, initializers.Zeros, initializers.Ones):
        original = cls.__call__
        monkeypatch.setattr(cls, "__call__",
                            lambda self, *a, _o=original, **k: calls.append(self) or _o(
                                self, *a, **k))
    for backend in kbridge.backend.available():
        back = kbridge.hub.load(str(tmp_path / "r"), backend=backend)
        for got, want in zip(back.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(got, want)
    assert calls == []


def test_variables_the_release_does_not_hold_are_initialised_after_loading():
    budget = AllocationBudget(10 ** 6, 10, ValueError, defer_initializers=True)
    with kbridge.backend.use("numpy"), budget:
        loaded = kbridge.Variable(initializers.Ones(), shape=(2, 3), name="loaded")
        extra = kbridge.Variable(initializers.Constant(7.0), shape=(4,), name="extra")
    assert not extra.numpy().any()  # zeros until told
    loaded.assign(np.full((2, 3), 5.0, "float32"))
    budget.initialize_unassigned([loaded])
    np.testing.assert_array_equal(extra.numpy(), np.full(4, 7.0))
    np.testing.assert_array_equal(loaded.numpy(), np.full((2, 3), 5.0))
