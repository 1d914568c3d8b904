"""Core ops (control flow, slices, scatters, custom gradients): every backend vs numpy, plus
direct checks of the numpy reference and compiled use (``jax.jit``, ``tf.function``)."""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.conftest import BACKENDS, DIFFERENTIABLE
from tests.ops.harness import Case, _leaves, _map_arrays, case_tests, rand, wants_grad


def _scan_step(carry, x):
    new = carry * 0.5 + x
    return new, new * x


def _scan_tree_step(carry, xs):
    a, b = carry
    return (a + xs["u"], b * 0.9), {"sum": a + b, "prod": xs["u"] * xs["v"]}


def _two_branch(i):
    return [lambda x: x * 2.0, lambda x: x - 1.0, lambda x: x * x][i]


CASES = [
    # control flow
    Case("cond", np.array(True), rand(3), _id="true",
         _fn=lambda p, x: ops.cond(p, lambda: x * 2.0, lambda: x - 1.0)),
    Case("cond", np.array(False), rand(2, 3), _id="false",
         _fn=lambda p, x: ops.cond(p, lambda: x * 2.0, lambda: x - 1.0)),
    Case("switch", np.array(1, "int32"), rand(4), _id="middle",
         _fn=lambda i, x: ops.switch(i, [_two_branch(0), _two_branch(1), _two_branch(2)], x)),
    Case("switch", np.array(7, "int32"), rand(4), _id="clamped",
         _fn=lambda i, x: ops.switch(i, [_two_branch(0), _two_branch(1), _two_branch(2)], x)),
    # _grad=False: jax cannot reverse-differentiate lax.while_loop (a lax limitation).
    Case("while_loop", rand(3), _id="tuple", _grad=False,
         _fn=lambda x: ops.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, v * 1.5 + 0.1),
                                      (0, x))),
    Case("while_loop", rand(3), _id="single-max-iter", _grad=False,
         _fn=lambda x: ops.while_loop(lambda v: True, lambda v: v * 0.5 + 1.0, x,
                                      maximum_iterations=3)),
    Case("fori_loop", rand(2, 2),
         _fn=lambda x: ops.fori_loop(0, 3, lambda i, v: v * v * 0.5 + 0.25, x)),
    Case("scan", rand(3), rand(5, 3, seed=1), _fn=lambda c, xs: ops.scan(_scan_step, c, xs)),
    Case("scan", rand(3), rand(5, 3, seed=1), _id="reverse",
         _fn=lambda c, xs: ops.scan(_scan_step, c, xs, reverse=True)),
    Case("scan", rand(2), _id="length", _grad=False,
         _fn=lambda c: ops.scan(lambda c, _: (c + 1.0, c * 2.0), c, None, length=4)),
    Case("scan", rand(2), rand(2, seed=1), rand(4, 2, seed=2), rand(4, 2, seed=3), _id="tree",
         _fn=lambda a, b, u, v: ops.scan(_scan_tree_step, (a, b), {"u": u, "v": v})),
    Case("associative_scan", rand(7), _fn=lambda x: ops.associative_scan(lambda a, b: a + b, x)),
    Case("associative_scan", rand(3, 6, low=0.5, high=1.5), _id="mul-axis1-reverse",
         _fn=lambda x: ops.associative_scan(lambda a, b: a * b, x, reverse=True, axis=-1)),
    Case("associative_scan", rand(5, 2), rand(5, 2, seed=1), _id="tree",
         # compose affine maps h -> a * h + b (associative)
         _fn=lambda x, y: ops.associative_scan(lambda p, q: (p[0] * q[0], q[0] * p[1] + q[1]),
                                               (x, y))),
    Case("map", rand(4, 3), _fn=lambda x: ops.map(lambda r: r * r + 1.0, x)),
    Case("map", rand(4, 3), rand(4, seed=1), _id="tuple",
         _fn=lambda x, y: ops.map(lambda t: (t[0] * t[1], t[1] - 1.0), (x, y))),
    Case("vectorized_map", rand(4, 3), _fn=lambda x: ops.vectorized_map(lambda r: r * 3.0 - r * r, x)),
    Case("stop_gradient", rand(2, 3), _grad=False),
    # slices and scatters
    Case("slice", rand(4, 5), (1, 2), (2, 3)),
    Case("slice", rand(3, 4, 2, dtype="int32", low=0, high=9), (0, 1, 1), (3, 2, 1), _id="int"),
    Case("slice_update", rand(4, 5), (1, 2), rand(2, 3, seed=1)),
    Case("slice_update", rand(4, dtype="int32", low=0, high=9), (1,),
         rand(2, dtype="int32", low=10, high=20, seed=1), _id="int"),
    Case("scatter", np.array([[0, 1], [2, 3], [0, 1]]), rand(3), (3, 4)),
    Case("scatter", np.array([[1], [3]]), rand(2, 3), (5, 3), _id="slices"),
    Case("scatter_update", rand(3, 4), np.array([[0, 1], [2, 3]]), rand(2, seed=1)),
    Case("scatter_update", rand(4, 3), np.array([[1], [3]]), rand(2, 3, seed=1), _id="rows"),
    Case("scatter_update", rand(3, 4), np.array([[0, 1], [2, 3], [0, 1]]), rand(3, seed=1),
         reduction="add", _id="add"),
    Case("scatter_update", rand(3, 4), np.array([[0, 1], [2, 3], [0, 1]]), rand(3, seed=1),
         reduction="mul", _id="mul", _grad=False),
    Case("scatter_update", rand(3, 4), np.array([[0, 1], [2, 3], [0, 1]]), rand(3, seed=1),
         reduction="max", _id="max", _grad=False),
    Case("scatter_update", rand(3, 4, dtype="int32", low=-5, high=5), np.array([[0, 1], [0, 1]]),
         np.array([-9, 4], "int32"), reduction="min", _id="min-int"),
    Case("unstack", rand(2, 3, 4)),
    Case("unstack", rand(2, 3, 4), axis=-1, _id="last-axis"),
    Case("saturate_cast", np.array([-300.0, -1.5, 0.0, 127.9, 300.0, 3e9], "float32"), "int8",
         _grad=False),
    Case("saturate_cast", np.array([-1.0, 0.0, 254.6, 256.0], "float32"), "uint8",
         _id="uint8", _grad=False),
    Case("saturate_cast", np.array([-3e9, 3e9, 5.0], "float32"), "int32", _id="float-int32",
         _grad=False),
    Case("saturate_cast", np.array([-70000, 5, 70000], "int32"), "int16", _id="int32-int16"),
    Case("saturate_cast", np.array([0, 200, 255], "uint8"), "int8", _id="uint8-int8"),
]


test_matches_numpy, test_symbolic = case_tests(CASES, gradients=False)


# --- gradients -------------------------------------------------------------------------------
# Reduced with each framework's own sum, so these tests only depend on core ops.
def _native_grads(fn, inputs, backend):
    leaves_of = lambda out: [o for o in _leaves(out) if hasattr(o, "dtype")]  # noqa: E731
    with kbridge.backend.use(backend):
        tensors = [ops.convert_to_tensor(a) for a in inputs]
        if backend == "jax":
            import jax
            import jax.numpy as jnp

            def objective(*xs):
                return sum(jnp.sum(o * (k + 1.0)) for k, o in enumerate(leaves_of(fn(*xs)))
                           if jnp.issubdtype(o.dtype, jnp.floating))

            grads = jax.grad(objective, argnums=tuple(range(len(tensors))))(*tensors)
        elif backend == "torch":
            import torch

            tensors = [t.clone().requires_grad_(True) for t in tensors]
            value = sum(torch.sum(o * (k + 1.0)) for k, o in enumerate(leaves_of(fn(*tensors)))
                        if o.is_floating_point())
            grads = torch.autograd.grad(value, tensors, allow_unused=True)
            grads = [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, grads)]
        else:
            import tensorflow as tf

            with tf.GradientTape() as tape:
                for t in tensors:
                    tape.watch(t)
                value = tf.add_n([tf.reduce_sum(o * (k + 1.0))
                                  for k, o in enumerate(leaves_of(fn(*tensors)))
                                  if o.dtype.is_floating])
            grads = tape.gradient(value, tensors, unconnected_gradients="zero")
        return [np.asarray(ops.convert_to_numpy(g)) for g in grads]


def _float_arg_fn(case):
    """``case`` as a function of its float array arguments only (others fixed)."""
    positions = [i for i, a in enumerate(case.args)
                 if isinstance(a, np.ndarray) and a.dtype.kind == "f"]

    def fn(*floats):
        args = list(case.args)
        for p, f in zip(positions, floats):
            args[p] = f
        args = _map_arrays(args, lambda a: ops.convert_to_tensor(a))
        return case.function()(*args, **case.kwargs)

    return fn, [case.args[p] for p in positions]


@pytest.mark.skipif(len(DIFFERENTIABLE) < 2, reason="needs two differentiable backends")
@pytest.mark.parametrize("case", [c for c in CASES if wants_grad(c)], ids=repr)
def test_gradients_agree(case):
    fn, inputs = _float_arg_fn(case)
    reference = _native_grads(fn, inputs, DIFFERENTIABLE[0])
    for backend in DIFFERENTIABLE[1:]:
        for got, want in zip(_native_grads(fn, inputs, backend), reference):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{case.id}: {backend} vs {DIFFERENTIABLE[0]}")


# --- the numpy reference against hand-computed values ----------------------------------------
def test_reference_values():
    with kbridge.backend.use("numpy"):
        x = np.arange(6.0, dtype="float32").reshape(2, 3)
        assert ops.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s + i), (0, 0)) == (5, 10)
        assert ops.fori_loop(0, 4, lambda i, s: s + i, 0) == 6
        carry, ys = ops.scan(lambda c, v: (c + v, c + v), 0.0, np.arange(4.0))
        np.testing.assert_array_equal(ys, [0, 1, 3, 6])
        assert carry == 6
        np.testing.assert_allclose(
            ops.associative_scan(lambda a, b: a + b, np.arange(9.0)), np.cumsum(np.arange(9.0)))
        np.testing.assert_allclose(
            ops.associative_scan(lambda a, b: a * b, x + 1, reverse=True, axis=1),
            np.cumprod((x + 1)[:, ::-1], axis=1)[:, ::-1])
        np.testing.assert_array_equal(ops.slice(x, (1, 1), (1, 2)), [[4.0, 5.0]])
        np.testing.assert_array_equal(
            ops.scatter(np.array([[0], [2], [0]]), np.array([1.0, 2.0, 3.0]), (4,)), [4, 0, 2, 0])
        np.testing.assert_array_equal(
            ops.scatter_update(np.zeros(4), np.array([[1], [3]]), [5.0, 6.0]), [0, 5, 0, 6])
        np.testing.assert_array_equal(
            ops.scatter_update(np.ones(3), np.array([[1], [1]]), [2.0, 3.0], reduction="mul"),
            [1, 6, 1])
        np.testing.assert_array_equal(
            ops.saturate_cast(np.array([-1.0, 300.0]), "uint8"), np.array([0, 255], "uint8"))
        # float32 cannot hold 2**31 - 1: the upper limit is the largest float32 below it.
        assert ops.saturate_cast(np.array([3e9], "float32"), "int32")[0] == 2147483520
        assert ops.switch(-4, [lambda v: v + 1, lambda v: v * 2], 3.0) == 4.0
        assert [u.tolist() for u in ops.unstack(x, axis=1)] == [[0, 3], [1, 4], [2, 5]]


def test_symbolic_unknown_dims():
    x = kbridge.KerasTensor((None, 4))
    parts = ops.unstack(x, axis=1)
    assert len(parts) == 4 and parts[0].shape == (None,)
    with pytest.raises(kbridge.ShapeError, match="num"):
        ops.unstack(x, axis=0)
    assert ops.slice(x, (0, 1), (2, 3)).shape == (2, 3)
    assert ops.scatter(kbridge.KerasTensor((5, 1), "int32"), kbridge.KerasTensor((5,)),
                       (7,)).shape == (7,)


def test_scatter_update_rejects_unknown_reduction(backend):
    with pytest.raises(ValueError, match="reduction.*'sum'"):
        ops.scatter_update(np.zeros(3, "float32"), np.array([[0]]), np.ones(1, "float32"),
                           reduction="sum")


# --- custom_gradient -------------------------------------------------------------------------
@ops.custom_gradient
def _clipped_identity(x):
    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        return upstream * 0.0 + 3.0  # a recognisable constant gradient

    return x * 1.0, grad


@ops.custom_gradient
def _product(x, y):
    def grad(upstream):
        return upstream * y * 2.0, upstream * x * 2.0

    return x * y, grad


def test_custom_gradient_forward(backend):
    x = rand(3)
    np.testing.assert_allclose(ops.convert_to_numpy(_clipped_identity(ops.convert_to_tensor(x))),
                               x)


@pytest.mark.skipif(len(DIFFERENTIABLE) < 2, reason="needs two differentiable backends")
def test_custom_gradient_matches_across_backends():
    x, y = rand(4), rand(4, seed=1)
    for backend in DIFFERENTIABLE:
        (gx,) = _native_grads(_clipped_identity, [x], backend)
        np.testing.assert_allclose(gx, np.full(4, 3.0), err_msg=backend)
        gx, gy = _native_grads(_product, [x, y], backend)
        np.testing.assert_allclose(gx, 2 * y, rtol=1e-6, err_msg=backend)
        np.testing.assert_allclose(gy, 2 * x, rtol=1e-6, err_msg=backend)


def test_custom_gradient_follows_tensor_backend():
    # Decorated once; called with torch and jax tensors while another backend is active.
    for backend in [b for b in DIFFERENTIABLE]:
        other = next(b for b in BACKENDS if b != backend)
        with kbridge.backend.use(backend):
            t = ops.convert_to_tensor(rand(3))
        with kbridge.backend.use(other):
            out = _clipped_identity(t)
        assert kbridge.backend.of(out) == backend


# --- compiled use ------------------------------------------------------------------------------
def _compiled_program(x):
    i, total = ops.while_loop(lambda i, t: i < 3, lambda i, t: (i + 1, t + x), (0, x * 0.0))
    total = ops.fori_loop(0, 2, lambda i, v: v * 2.0, total)
    total = ops.cond(x[0] > -10.0, lambda: total + 1.0, lambda: total - 1.0)
    _, ys = ops.scan(lambda c, v: (c + v, c * v), x[0] * 0.0, total)
    y = ops.switch(1, [lambda a: a, lambda a: a * 10.0], ys)
    return ops.slice_update(y, (1,), ops.slice(y, (0,), (1,)))


def _expected_program(x):
    total = 3.0 * x * 4.0 + 1.0  # three adds of x, doubled twice, then the true branch
    c, ys = 0.0, []
    for v in total:
        ys.append(c * v)
        c = c + v
    y = np.array(ys, "float32") * 10.0
    y[1] = y[0]
    return y


@pytest.mark.skipif("jax" not in BACKENDS, reason="jax not installed")
def test_control_flow_under_jax_jit():
    import jax

    x = rand(4)
    with kbridge.backend.use("jax"):
        out = jax.jit(_compiled_program)(ops.convert_to_tensor(x))
    np.testing.assert_allclose(np.asarray(out), _expected_program(x), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif("jax" not in BACKENDS, reason="jax not installed")
def test_jax_jit_traced_predicate_and_bounds():
    import jax

    with kbridge.backend.use("jax"):
        f = jax.jit(lambda p, n, x: (ops.cond(p, lambda: x + 1.0, lambda: x - 1.0),
                                     ops.fori_loop(0, n, lambda i, v: v + i, x)))
        a, b = f(np.array(False), np.array(4), np.float32(1.0))
    assert float(a) == 0.0 and float(b) == 7.0


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow not installed")
def test_control_flow_under_tf_function():
    import tensorflow as tf

    x = rand(4)
    with kbridge.backend.use("tensorflow"):
        out = tf.function(_compiled_program)(ops.convert_to_tensor(x))
        f = tf.function(lambda p, n, x: (ops.cond(p, lambda: x + 1.0, lambda: x - 1.0),
                                         ops.fori_loop(0, n, lambda i, v: v + tf.cast(i, v.dtype),
                                                       x)))
        a, b = f(tf.constant(False), tf.constant(4), tf.constant(1.0))
    np.testing.assert_allclose(out.numpy(), _expected_program(x), rtol=1e-5, atol=1e-5)
    assert float(a) == 0.0 and float(b) == 7.0
