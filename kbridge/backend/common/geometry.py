"""Geometry that the image ops and the image layers share, written over an ops namespace
(``kbridge.ops`` in a layer, a backend's own undispatched ops in a backend)."""


def homography_system(ops, start_points, end_points):
    """``(A, b)``: the (batch, 8, 8) and (batch, 8) linear system whose solution holds the
    coefficients ``a0..a2, b0..b2, c0, c1`` of the homography that takes each of the four
    ``end_points`` (batch, 4, 2) to the matching start point:
    ``x_s = (a0 x + a1 y + a2) / (c0 x + c1 y + 1)``, and ``y_s`` likewise with ``b``."""
    rows, rhs = [], []
    for i in range(4):
        sx, sy = start_points[:, i, 0], start_points[:, i, 1]
        ex, ey = end_points[:, i, 0], end_points[:, i, 1]
        one, zero = ops.ones_like(ex), ops.zeros_like(ex)
        rows.append(ops.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1))
        rows.append(ops.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1))
        rhs += [sx, sy]
    return ops.stack(rows, axis=1), ops.stack(rhs, axis=-1)
