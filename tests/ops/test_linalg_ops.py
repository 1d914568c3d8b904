"""linalg ops: every backend vs the numpy backend, plus direct checks of the numpy reference.

Decompositions are unique only up to signs (and eigenvector order/phase), so those cases
compare reconstructions or sign-free quantities through ``_fn``.
"""

import numpy as np
import pytest

import kbridge
from kbridge import ops
from tests.ops.harness import Case, case_tests, rand


def _spd(n, batch=(), seed=0):
    a = rand(*batch, n, n, seed=seed)
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n, dtype="float32")).astype("float32")


A = np.eye(4, dtype="float32") * 3 + rand(4, 4)
BA = np.eye(3, dtype="float32") * 3 + rand(2, 3, 3, seed=1)
SPD = _spd(4)
BSPD = _spd(3, (2,), seed=2)
L = np.linalg.cholesky(SPD).astype("float32")
RECT = rand(5, 3, seed=4)


def _qr_recon(x, mode="reduced"):
    q, r = ops.qr(x, mode=mode)
    return ops.matmul(q, r)


def _svd_recon(x):
    u, s, vh = ops.svd(x, full_matrices=False)
    return s, ops.matmul(u * s[..., None, :], vh)


def _eigh_recon(x):
    w, v = ops.eigh(x)
    return w, ops.matmul(v * w[..., None, :], ops.transpose(v))


def _eig_values(x):
    w, _ = ops.eig(x)
    return w


CASES = [
    Case("inv", A),
    Case("inv", BA, _id="batched"),
    Case("inv", np.array([[2, 1], [1, 3]], "int32"), _id="int"),
    Case("det", A),
    Case("det", BA, _id="batched"),
    Case("solve", A, rand(4, 2, seed=2)),
    Case("solve", BA, rand(2, 3, 2, seed=2), _id="batched"),
    Case("solve", A, rand(4, seed=2), _id="vector"),
    Case("solve_triangular", A, rand(4, 2, seed=2)),
    Case("solve_triangular", A, rand(4, 2, seed=2), lower=True, _id="lower"),
    Case("solve_triangular", BA, rand(2, 3, 2, seed=3), lower=True, _id="batched"),
    Case("cholesky", SPD),
    Case("cholesky", BSPD, upper=True, _id="upper"),
    Case("cholesky_inverse", L),
    Case("cholesky_inverse", np.ascontiguousarray(L.T), upper=True, _id="upper"),
    Case("qr", RECT, _fn=_qr_recon, _id="reconstruct"),
    # torch has no QR gradient for mode='complete' with more rows than columns
    Case("qr", RECT, mode="complete", _fn=_qr_recon, _id="complete", _grad=False),
    Case("svd", RECT, _fn=_svd_recon, _id="reconstruct", _rtol=1e-4, _atol=1e-5),
    Case("svd", RECT, compute_uv=False, _id="values", _rtol=1e-4, _atol=1e-5),
    Case("eigh", SPD, _fn=_eigh_recon, _id="reconstruct", _rtol=1e-4, _atol=1e-5),
    Case("eig", np.triu(A), _fn=lambda x: ops.sort(ops.real(_eig_values(x))),
         _id="triangular", _grad=False, _rtol=1e-4, _atol=1e-5),
    Case("lu_factor", A, _grad=False, _rtol=1e-4, _atol=1e-5),
    Case("lu_factor", BA, _id="batched", _grad=False, _rtol=1e-4, _atol=1e-5),
    Case("lu_factor", rand(2, 3, 5, seed=6), _id="wide", _grad=False, _rtol=1e-4, _atol=1e-5),
    Case("lu_factor", rand(5, 3, seed=7), _id="tall", _grad=False, _rtol=1e-4, _atol=1e-5),
    Case("norm", rand(3, 4)),
    Case("norm", rand(3, 4), axis=1, _id="axis"),
    Case("norm", rand(3, 4), ord=1, axis=-1, keepdims=True, _id="l1-keepdims"),
    Case("norm", rand(3, 4), ord=np.inf, axis=0, _id="linf"),
    Case("norm", rand(3, 4), ord=3, axis=1, _id="l3"),
    Case("norm", rand(3, 4), ord="fro", axis=(0, 1), _id="fro"),
    Case("norm", rand(3, 4), ord=1, axis=(0, 1), _id="matrix-1", _grad=False),
    Case("norm", rand(3, 4), ord=-np.inf, axis=(0, 1), _id="matrix-neginf", _grad=False),
    Case("norm", rand(2, 3, 4), ord="nuc", axis=(1, 2), _id="nuc", _rtol=1e-4),
    Case("norm", rand(3, 4), ord=2, axis=(0, 1), _id="spectral", _rtol=1e-4),
    Case("norm", np.array([3, 4], "int32"), _id="int"),
    Case("lstsq", RECT, rand(5, 2, seed=5), _rtol=1e-4, _atol=1e-5),
    Case("pinv", RECT, _rtol=1e-4, _atol=1e-5),
    Case("matrix_rank", RECT),
    Case("matrix_rank", np.ones((3, 3), "float32"), _id="rank1"),
    Case("matrix_rank", RECT, tol=0.5, _id="tol"),
]


test_matches_numpy, test_symbolic, test_gradients_agree = case_tests(CASES)


def test_jvp(trainable_backend):
    x = ops.convert_to_tensor(np.array([1.0, 2.0, 3.0], "float32"))
    t = ops.convert_to_tensor(np.array([1.0, 0.0, 2.0], "float32"))
    out, tangent = ops.jvp(lambda v: v * v * v, (x,), (t,))
    np.testing.assert_allclose(ops.convert_to_numpy(out), [1.0, 8.0, 27.0], rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(tangent), [3.0, 0.0, 54.0], rtol=1e-6)
    out, tangent, aux = ops.jvp(lambda v: (v * 2.0, v), (x,), (t,), has_aux=True)
    np.testing.assert_allclose(ops.convert_to_numpy(tangent), [2.0, 0.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(aux), [1.0, 2.0, 3.0])


def test_jvp_missing_on_numpy():
    with kbridge.backend.use("numpy"):
        with pytest.raises(kbridge.errors.MissingOpError, match="jvp.*numpy"):
            ops.jvp(lambda v: v, (np.ones(2),), (np.ones(2),))


# ---------------------------------------------------------------- the numpy reference itself

def _np(fn, *args, **kwargs):
    with kbridge.backend.use("numpy"):
        return fn(*args, **kwargs)


def test_reference_lu_factor():
    a = rand(3, 5, 5, seed=7).astype("float64")
    lu, piv = _np(ops.lu_factor, a)
    assert piv.dtype == np.int32
    for k in range(3):
        lower = np.tril(lu[k], -1) + np.eye(5)
        upper = np.triu(lu[k])
        p = np.arange(5)
        for i, j in enumerate(piv[k]):
            p[[i, j]] = p[[j, i]]
        np.testing.assert_allclose(a[k][p], lower @ upper, atol=1e-12)


def test_reference_solvers_and_factors():
    a = (np.eye(4) * 3 + rand(4, 4).astype("float64"))
    b = rand(4, 2, seed=1).astype("float64")
    x = _np(ops.solve_triangular, a, b, lower=True)
    np.testing.assert_allclose(np.tril(a) @ x, b, atol=1e-12)
    spd = _spd(4).astype("float64")
    chol = _np(ops.cholesky, spd)
    np.testing.assert_allclose(_np(ops.cholesky_inverse, chol), np.linalg.inv(spd), atol=1e-12)
    np.testing.assert_allclose(_np(ops.cholesky, spd, upper=True), chol.T)
    assert _np(ops.matrix_rank, np.outer([1.0, 2.0], [3.0, 4.0, 5.0])) == 1
    assert _np(ops.norm, np.array([3.0, 4.0])) == 5.0
    np.testing.assert_allclose(_np(ops.norm, np.eye(3), ord="nuc", axis=(0, 1)), 3.0)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="square"):
        _np(ops.inv, np.ones((2, 3)))
    with pytest.raises(ValueError, match="mode"):
        _np(ops.qr, np.ones((2, 3)), mode="full")


def test_symbolic_spec_for_singular_placeholders():
    out = ops.inv(kbridge.KerasTensor((None, 3, 3)))
    assert out.shape == (None, 3, 3) and out.dtype == "float32"
    out = ops.solve(kbridge.KerasTensor((3, 3)), kbridge.KerasTensor((3, 2)))
    assert out.shape == (3, 2)
    assert ops.cholesky(kbridge.KerasTensor((4, 4))).shape == (4, 4)
