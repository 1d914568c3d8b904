"""Table-driven op tests: every backend against the numpy backend, gradients across backends,
and symbolic shape/dtype inference against the real output.

A test module lists ``Case`` rows and gets its tests from :func:`case_tests`:
``test_matches_numpy, test_symbolic, test_gradients_agree = case_tests(CASES)``.
"""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.conftest import DIFFERENTIABLE

_NARROW = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}


def rand(*shape, dtype="float32", low=-1.0, high=1.0, seed=0):
    """Deterministic test data of ``shape``: uniform floats, or integers in [low, high)."""
    rng = np.random.default_rng(seed + 7919 * len(shape) + sum(shape))
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(low), int(high), size=shape).astype(dtype)
    out = rng.uniform(low, high, size=shape)
    if np.dtype(dtype).kind == "c":
        out = out + 1j * rng.uniform(low, high, size=shape)
    return out.astype(dtype)


class Case:
    """One call of a public op: ``Case("add", x, y, axis=1)``.

    numpy arrays among the arguments (also inside lists/tuples) are converted to the tested
    backend's tensors; everything else is passed as is. Options (keyword-only, prefixed by
    ``_`` so they never clash with op kwargs): ``_rtol``, ``_atol``, ``_grad`` (check
    gradients; default: when the output is floating), ``_symbolic`` (check shape inference;
    default True), ``_id`` (test id suffix), ``_fn`` (call this instead of the op, e.g. to
    reach ``kbridge.ops.image.resize``), ``_skip`` (backends to skip, with a reason in
    kbridge/backend/common/gaps.py).
    """

    def __init__(self, op, *args, _rtol=1e-5, _atol=1e-6, _grad=None, _symbolic=True, _id=None,
                 _fn=None, _skip=(), **kwargs):
        self.op = op
        self.args = args
        self.kwargs = kwargs
        self.rtol, self.atol = _rtol, _atol
        self.grad = _grad
        self.symbolic = _symbolic
        self.fn = _fn
        self.skip = tuple(_skip)
        self.id = f"{op}-{_id}" if _id else op

    def __repr__(self):
        return self.id

    def function(self):
        return self.fn or getattr(ops, self.op)


def _map_arrays(value, fn):
    if isinstance(value, np.ndarray):
        return fn(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_map_arrays(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map_arrays(v, fn) for k, v in value.items()}
    return value


def _leaves(value):
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return [leaf for k in sorted(value) for leaf in _leaves(value[k])]
    return [value]


def run(case, backend):
    """Output leaves of ``case`` on ``backend``, as numpy arrays."""
    with kbridge.backend.use(backend):
        args = _map_arrays(case.args, ops.convert_to_tensor)
        kwargs = _map_arrays(case.kwargs, ops.convert_to_tensor)
        out = case.function()(*args, **kwargs)
        return [np.asarray(ops.convert_to_numpy(o)) if not isinstance(o, (int, float, bool, str))
                else o for o in _leaves(out)]


def expected_dtype(dtype, backend):
    dtype = str(dtype)
    if backend == "jax":
        from kbridge.backend.jax.core import x64_enabled

        if not x64_enabled():
            return _NARROW.get(dtype, dtype)
    return dtype


def assert_close(actual, expected, backend, rtol=1e-5, atol=1e-6, check_dtype=True):
    assert len(actual) == len(expected), (len(actual), len(expected))
    for a, e in zip(actual, expected):
        if isinstance(e, (int, float, bool, str)):
            assert a == e
            continue
        e = np.asarray(e)
        a = np.asarray(a)
        if check_dtype:
            assert kbridge.backend.standardize_dtype(a.dtype) == expected_dtype(
                kbridge.backend.standardize_dtype(e.dtype), backend
            ), f"dtype {a.dtype} on {backend}, numpy backend gives {e.dtype}"
        assert a.shape == e.shape, f"shape {a.shape} on {backend}, numpy backend gives {e.shape}"
        if e.dtype.kind in "fc" or str(e.dtype) == "bfloat16":
            np.testing.assert_allclose(
                a.astype(np.complex128 if e.dtype.kind == "c" else np.float64),
                e.astype(np.complex128 if e.dtype.kind == "c" else np.float64),
                rtol=rtol, atol=atol, equal_nan=True,
            )
        else:
            np.testing.assert_array_equal(a, e)


def check_op(case, backend):
    """``case`` on ``backend`` equals ``case`` on the numpy backend."""
    if backend in case.skip:
        pytest.skip(f"{case.op} is listed as a gap on {backend}")
    expected = run(case, "numpy")
    actual = run(case, backend)
    assert_close(actual, expected, backend, case.rtol, case.atol)


def check_symbolic(case):
    """Shape/dtype inference on KerasTensor placeholders matches the real numpy output."""
    if not case.symbolic:
        return
    expected = run(case, "numpy")
    placeholders = lambda a: kbridge.KerasTensor(a.shape, str(a.dtype))  # noqa: E731
    out = case.function()(*_map_arrays(case.args, placeholders),
                          **_map_arrays(case.kwargs, placeholders))
    leaves = _leaves(out)
    assert len(leaves) == len(expected)
    for got, want in zip(leaves, expected):
        if isinstance(want, (int, float, bool, str)):
            continue
        assert isinstance(got, kbridge.KerasTensor), f"{case.id}: got {type(got).__name__}"
        assert got.shape == np.shape(want), f"{case.id}: shape {got.shape} vs {np.shape(want)}"
        assert got.dtype == kbridge.backend.standardize_dtype(np.asarray(want).dtype)


def _float_positions(case):
    return [i for i, a in enumerate(case.args)
            if isinstance(a, np.ndarray) and a.dtype.kind == "f"]


def gradients(case, backend):
    """d/d(float args) of sum(output * fixed weights), as numpy arrays, on ``backend``."""
    positions = _float_positions(case)
    ref = [o for o in run(case, "numpy")]
    weights = [rand(*np.shape(o), seed=3) if np.asarray(o).dtype.kind == "f" else None for o in ref]

    def objective(leaves):
        total = 0.0
        for leaf, w in zip(leaves, weights):
            if w is not None:
                total = ops.add(total, ops.sum(ops.multiply(leaf, ops.cast(w, leaf.dtype))))
        return total

    with kbridge.backend.use(backend):
        args = list(_map_arrays(case.args, ops.convert_to_tensor))
        kwargs = _map_arrays(case.kwargs, ops.convert_to_tensor)
        fn = case.function()

        def call(*float_args):
            full = list(args)
            for p, a in zip(positions, float_args):
                full[p] = a
            return objective(_leaves(fn(*full, **kwargs)))

        inputs = [args[p] for p in positions]
        if backend == "jax":
            import jax

            grads = jax.grad(call, argnums=tuple(range(len(inputs))))(*inputs)
        elif backend == "torch":
            import torch

            inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
            grads = torch.autograd.grad(call(*inputs), inputs, allow_unused=True)
            grads = [torch.zeros_like(i) if g is None else g for i, g in zip(inputs, grads)]
        else:
            import tensorflow as tf

            with tf.GradientTape() as tape:
                for t in inputs:
                    tape.watch(t)
                value = call(*inputs)
            grads = tape.gradient(value, inputs, unconnected_gradients="zero")
            # A gather's gradient comes back as IndexedSlices: make it dense to compare.
            grads = [tf.convert_to_tensor(g) for g in grads]
        return [np.asarray(ops.convert_to_numpy(g)) for g in grads]


def wants_grad(case):
    if case.grad is not None:
        return case.grad
    if not _float_positions(case):
        return False
    return any(np.asarray(o).dtype.kind == "f" for o in run(case, "numpy")
               if not isinstance(o, (int, float, bool, str)))


def check_grad(case):
    """Gradients agree across every differentiable backend (the first one is the reference)."""
    backends = [b for b in DIFFERENTIABLE if b not in case.skip]
    if len(backends) < 2:
        return
    reference = gradients(case, backends[0])
    for backend in backends[1:]:
        got = gradients(case, backend)
        for g, r in zip(got, reference):
            np.testing.assert_allclose(g, r, rtol=max(case.rtol, 1e-4), atol=max(case.atol, 1e-5),
                                       err_msg=f"{case.id}: {backend} vs {backends[0]}")


def case_tests(cases, gradients=True):
    """The tests every op module runs over its ``cases``: each backend against numpy, symbolic
    inference, and (with ``gradients``) gradients across backends, for the cases that want them."""
    each_case = pytest.mark.parametrize("case", cases, ids=repr)

    @each_case
    def test_matches_numpy(case, backend):
        check_op(case, backend)

    @each_case
    def test_symbolic(case):
        check_symbolic(case)

    if not gradients:
        return test_matches_numpy, test_symbolic

    @pytest.mark.parametrize("case", [c for c in cases if wants_grad(c)], ids=repr)
    def test_gradients_agree(case):
        check_grad(case)

    return test_matches_numpy, test_symbolic, test_gradients_agree
