"""The torch backend's fused optimizer steps (torch's fused Adam kernel, foreach SGD and the
foreach Adam used under torch.compile) update exactly as the per-variable formulas do."""

import numpy as np
import pytest

import kbridge
from kbridge.optimizers import base_optimizer
from tests.optimizers.harness import gradient_steps, initial_values

pytest.importorskip("torch")

from kbridge.backend.torch import optimizers as torch_optimizers  # noqa: E402

STEPS = 12


def _run(make, generic=False, monkeypatch=None, shapes=None, dtypes=None):
    init = initial_values(shapes=shapes) if shapes else initial_values()
    grads = gradient_steps(steps=STEPS, shapes=shapes) if shapes else gradient_steps(
        steps=STEPS)
    if generic:
        monkeypatch.setattr(base_optimizer, "_FUSED_BACKENDS", frozenset())
    with kbridge.backend.use("torch"):
        variables = {n: kbridge.Variable(v.copy(), name=n, dtype=(dtypes or {}).get(n))
                     for n, v in init.items()}
        opt = make()
        for step in grads:
            opt.apply([step[n] for n in init], [variables[n] for n in init])
    return {n: v.numpy().astype("float64") for n, v in variables.items()}, opt


SCHEDULE = lambda: kbridge.optimizers.schedules.ExponentialDecay(0.05, 3, 0.5)  # noqa: E731
CASES = {
    "adam": lambda: kbridge.optimizers.Adam(0.05),
    "adam_schedule": lambda: kbridge.optimizers.Adam(SCHEDULE(), beta_1=0.8, epsilon=1e-3),
    "adamw": lambda: kbridge.optimizers.AdamW(0.05, weight_decay=0.1),
    "adam_clipnorm": lambda: kbridge.optimizers.Adam(0.05, global_clipnorm=0.5),
    "sgd": lambda: kbridge.optimizers.SGD(0.1),
    "sgd_momentum": lambda: kbridge.optimizers.SGD(SCHEDULE(), momentum=0.9),
    "sgd_nesterov": lambda: kbridge.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_step_equals_per_variable_formula(case, monkeypatch):
    fused, opt = _run(CASES[case])
    assert opt._fused_step() is not None, "the fused path was not taken"
    generic, _ = _run(CASES[case], generic=True, monkeypatch=monkeypatch)
    for name in generic:
        np.testing.assert_allclose(fused[name], generic[name], rtol=1e-5, atol=1e-5,
                                   err_msg=f"{case}: variable {name!r}")


@pytest.mark.parametrize("case", ["adam", "adam_schedule"])
def test_foreach_adam_used_under_compile_equals_formula(case, monkeypatch):
    monkeypatch.setattr(torch_optimizers, "_FUSED_DEVICES", frozenset())
    foreach, _ = _run(CASES[case])
    generic, _ = _run(CASES[case], generic=True, monkeypatch=monkeypatch)
    for name in generic:
        np.testing.assert_allclose(foreach[name], generic[name], rtol=1e-5, atol=1e-5)


def test_fused_adam_matches_numpy_backend():
    fused, _ = _run(CASES["adam"])
    init, grads = initial_values(), gradient_steps(steps=STEPS)
    with kbridge.backend.use("numpy"):
        variables = {n: kbridge.Variable(v.copy(), name=n) for n, v in init.items()}
        opt = CASES["adam"]()
        for step in grads:
            opt.apply([step[n] for n in init], [variables[n] for n in init])
    for name, v in variables.items():
        np.testing.assert_allclose(fused[name], v.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: kbridge.optimizers.Adam(0.05, amsgrad=True),
    lambda: kbridge.optimizers.Nadam(0.05),
    lambda: kbridge.optimizers.RMSprop(0.05),
], ids=["amsgrad", "nadam", "rmsprop"])
def test_options_without_a_fused_step_keep_the_formula(make):
    _, opt = _run(make)
    assert opt._fused_step() is None


def test_mixed_dtypes_fall_back_to_the_formula(monkeypatch):
    dtypes = {"kernel": "float64"}
    mixed, opt = _run(CASES["adam"], dtypes=dtypes)
    assert opt._fused_step() is not None  # chosen, but declines the mixed-dtype group
    generic, _ = _run(CASES["adam"], generic=True, monkeypatch=monkeypatch, dtypes=dtypes)
    for name in generic:
        np.testing.assert_allclose(mixed[name], generic[name], rtol=1e-12, atol=1e-12)
