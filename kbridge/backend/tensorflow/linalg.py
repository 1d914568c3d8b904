"""TensorFlow backend: linear algebra ops."""

import numpy as np
import tensorflow as tf

from kbridge.backend.common.shared import include
from kbridge.backend.tensorflow.core import convert_to_tensor
from kbridge.backend.tensorflow.math import _as_float  # noqa: F401 - read by the shared modules
from kbridge.errors import ArgumentError

include("linalg", globals())
_t = tf.linalg.adjoint
_solve = tf.linalg.solve


def _solve_triangular(a, b, lower):
    return tf.linalg.triangular_solve(a, b, lower=lower)


def cholesky(x, upper=False):
    lower = tf.linalg.cholesky(_square(x))
    return _t(lower) if upper else lower


def cholesky_inverse(x, upper=False):  # tf has a fused kernel: tf.linalg.cholesky_solve
    x = _square(x)
    lower = _t(tf.linalg.band_part(x, 0, -1)) if upper else tf.linalg.band_part(x, -1, 0)
    eye = tf.eye(x.shape[-1], batch_shape=x.shape[:-2], dtype=x.dtype)
    return tf.linalg.cholesky_solve(lower, eye)


det, inv = map(_on_square, (tf.linalg.det, tf.linalg.inv))


def eig(x):
    return tuple(tf.linalg.eig(_square(x)))


def eigh(x):
    x = _square(x)
    # Symmetrised, so every backend reads (and differentiates) both triangles alike.
    return tuple(tf.linalg.eigh((x + _t(x)) / 2))


def lu_factor(x):
    x = _matrix(x)
    if x.shape[-1] != x.shape[-2]:
        return _lu_factor_rectangular(x)
    lu, perm = tf.linalg.lu(x)
    # tf returns the final row permutation; LAPACK-style pivots are the sequence of swaps
    # that produce it: replay the swaps on a running permutation.
    n = x.shape[-1]
    perm = tf.reshape(tf.cast(perm, tf.int32), (-1, n))
    current = tf.tile(tf.range(n, dtype=tf.int32)[None], (tf.shape(perm)[0], 1))
    rows = tf.range(n, dtype=tf.int32)[None]
    pivots = []
    for i in range(n):
        j = tf.argmax(tf.cast(tf.equal(current, perm[:, i:i + 1]), tf.int32), axis=-1,
                      output_type=tf.int32)
        pivots.append(j)
        at_i, at_j = current[:, i:i + 1], tf.gather(current, j, batch_dims=1)[:, None]
        current = tf.where(rows == i, at_j, tf.where(rows == j[:, None], at_i, current))
    pivots = tf.reshape(tf.stack(pivots, axis=-1), tf.shape(lu)[:-1])
    return lu, pivots


def _lu_factor_rectangular(x):
    """Partial-pivoting LU for non-square matrices (tf.linalg.lu takes square ones only)."""
    m, n = x.shape[-2:]
    batch = x.shape[:-2]
    lu = tf.reshape(x, (-1, m, n))
    rows = tf.range(m, dtype=tf.int32)
    cols = tf.range(n)
    pivots = []
    for j in range(min(m, n)):
        p = j + tf.argmax(tf.abs(lu[:, j:, j]), axis=-1, output_type=tf.int32)
        pivots.append(p)
        swap = tf.where(rows[None] == j, p[:, None], tf.where(rows[None] == p[:, None], j, rows[None]))
        lu = tf.gather(lu, swap, batch_dims=1)
        pivot = lu[:, j, j]
        safe = tf.where(pivot == 0, tf.ones_like(pivot), pivot)
        below = (rows > j)[None, :]
        factor = tf.where(below & (pivot[:, None] != 0), lu[:, :, j] / safe[:, None],
                          tf.zeros_like(lu[:, :, j]))
        right = tf.where((cols > j)[None, :], lu[:, j, :], tf.zeros_like(lu[:, j, :]))
        lu = lu - factor[:, :, None] * right[:, None, :]
        lu = tf.where(below[:, :, None] & (cols == j)[None, None, :], factor[:, :, None], lu)
    pivots = tf.stack(pivots, axis=-1)
    return tf.reshape(lu, batch + (m, n)), tf.reshape(pivots, batch + (min(m, n),))


def _vector_norm(x, ord, axis, keepdims):
    a = tf.abs(x)
    if ord is None or ord == 2:
        return tf.sqrt(tf.reduce_sum(tf.square(a), axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return tf.reduce_max(a, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return tf.reduce_min(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return tf.reduce_sum(tf.cast(a != 0, a.dtype), axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ArgumentError(f"Invalid `ord` for a vector norm. Received: ord={ord!r}")
    return tf.pow(tf.reduce_sum(tf.pow(a, ord), axis=axis, keepdims=keepdims), 1.0 / ord)


def _matrix_norm(x, ord, axis, keepdims):
    if ord not in NORM_ORDS:
        raise ArgumentError(f"Invalid `ord` for a matrix norm. Received: ord={ord!r}")
    rank = len(x.shape)
    r, c = (a % rank for a in axis)
    if ord in (None, "fro"):
        return tf.sqrt(tf.reduce_sum(tf.square(tf.abs(x)), axis=[r, c], keepdims=keepdims))
    if ord in (1, -1, np.inf, -np.inf):
        fn = tf.reduce_max if ord in (1, np.inf) else tf.reduce_min
        first, second = (r, c) if ord in (1, -1) else (c, r)
        out = tf.reduce_sum(tf.abs(x), axis=first, keepdims=True)
        out = fn(out, axis=second, keepdims=True)
    else:  # 2, -2, nuc: from singular values of the matrices moved to the end
        perm = [d for d in range(rank) if d not in (r, c)] + [r, c]
        s = tf.linalg.svd(tf.transpose(x, perm), compute_uv=False)
        out = {2: tf.reduce_max, -2: tf.reduce_min, "nuc": tf.reduce_sum}[ord](s, axis=-1)
        for d in sorted((r, c)):
            out = tf.expand_dims(out, d)
    return out if keepdims else tf.squeeze(out, axis=[r, c])


def norm(x, ord=None, axis=None, keepdims=False):
    x = _as_float(x)
    axis = check_norm_args(ord, axis)
    rank = len(x.shape)
    if axis is None:
        if ord is None:
            out = _vector_norm(tf.reshape(x, [-1]), None, 0, False)
            return tf.reshape(out, [1] * rank) if keepdims else out
        if rank == 1:
            axis = 0
        elif rank == 2:
            axis = (0, 1)
        else:
            raise ArgumentError(f"`ord` needs `axis` for inputs of rank > 2. Received: ord={ord!r}")
    if isinstance(axis, tuple) and len(axis) == 1:
        axis = axis[0]
    if isinstance(axis, tuple):
        if len(axis) != 2:
            raise ArgumentError(f"`axis` must be an int or a pair. Received: axis={axis!r}")
        return _matrix_norm(x, ord, axis, keepdims)
    return _vector_norm(x, ord, axis, keepdims)


def qr(x, mode="reduced"):
    check_qr_mode(mode)
    return tuple(tf.linalg.qr(_matrix(x), full_matrices=mode == "complete"))


def svd(x, full_matrices=True, compute_uv=True):
    x = _matrix(x)
    if not compute_uv:
        return tf.linalg.svd(x, compute_uv=False)
    s, u, v = tf.linalg.svd(x, full_matrices=full_matrices)
    return u, s, _t(v)


def pinv(x, rcond=None):
    x = _matrix(x)
    return tf.linalg.pinv(x, rcond=_default_rtol(x) if rcond is None else rcond)


def jvp(fun, primals, tangents, has_aux=False):
    primals = [convert_to_tensor(p) for p in primals]
    tangents = [convert_to_tensor(t) for t in tangents]
    with tf.autodiff.ForwardAccumulator(primals, tangents) as acc:
        out = fun(*primals)
        if has_aux:
            out, aux = out
    tangent_out = tf.nest.map_structure(
        lambda o: acc.jvp(o, unconnected_gradients=tf.UnconnectedGradients.ZERO), out)
    return (out, tangent_out, aux) if has_aux else (out, tangent_out)
