"""Run kbridge and Keras 3 optimizers on the same variables and gradients, and compare."""

import numpy as np

import kbridge
import kbridge.optimizers  # noqa: F401  (registers the classes; kbridge.optimizers attribute)

STEPS = 5
SHAPES = {"kernel": (3, 4), "bias": (4,), "cube": (2, 3, 4)}


def initial_values(seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return {n: rng.normal(size=s).astype("float32") for n, s in shapes.items()}


def gradient_steps(seed=1, steps=STEPS, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    return [{n: rng.normal(size=s).astype("float32") for n, s in shapes.items()}
            for _ in range(steps)]


def _apply_steps(opt, variables, grads, prepare):
    """``prepare(opt, variables)`` if given, then one ``opt.apply`` per step of ``grads``."""
    if prepare:
        prepare(opt, variables)
    names = list(variables)
    for step in grads:
        opt.apply([step.get(n) for n in names], [variables[n] for n in names])


def run_keras(make, init, grads, prepare=None):
    """Final variable values (dict) and the optimizer, after ``apply`` per step in Keras."""
    import keras

    variables = {n: keras.Variable(v.copy(), name=n) for n, v in init.items()}
    opt = make(keras)
    _apply_steps(opt, variables, grads, prepare)
    return {n: np.asarray(v.numpy()) for n, v in variables.items()}, opt


def run_kbridge(make, init, grads, backend, prepare=None):
    """Final variable values (dict), the optimizer and the Variables, in kbridge."""
    with kbridge.backend.use(backend):
        variables = {n: kbridge.Variable(v.copy(), name=n) for n, v in init.items()}
    opt = make(kbridge)
    _apply_steps(opt, variables, grads, prepare)
    return {n: v.numpy() for n, v in variables.items()}, opt, variables


def assert_same(actual, expected, tol=1e-5, what=""):
    for name in expected:
        np.testing.assert_allclose(np.asarray(actual[name], "float64"),
                                   np.asarray(expected[name], "float64"),
                                   rtol=tol, atol=tol, err_msg=f"{what} variable {name!r}")
