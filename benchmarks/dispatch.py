"""Per-op dispatch cost: kbridge.ops.X versus calling the framework directly.

Run: ``python -m benchmarks.dispatch`` (also part of ``make bench``). Prints, per backend and
op, the median time per call of each path and their ratio. Small tensors, so the numbers are
dominated by Python overhead — exactly what dispatch adds.
"""

import numpy as np

import kbridge
from benchmarks.timing import interleave
from kbridge import ops


def native_ops(backend, x, w):
    if backend == "numpy":
        return {"add": lambda: np.add(x, x), "matmul": lambda: np.matmul(x, w),
                "relu": lambda: np.maximum(x, 0), "sum": lambda: np.sum(x, axis=-1)}
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        return {"add": lambda: jnp.add(x, x), "matmul": lambda: jnp.matmul(x, w),
                "relu": lambda: jax.nn.relu(x), "sum": lambda: jnp.sum(x, axis=-1)}
    if backend == "torch":
        import torch

        return {"add": lambda: torch.add(x, x), "matmul": lambda: torch.matmul(x, w),
                "relu": lambda: torch.relu(x), "sum": lambda: torch.sum(x, dim=-1)}
    import tensorflow as tf

    return {"add": lambda: tf.add(x, x), "matmul": lambda: tf.matmul(x, w),
            "relu": lambda: tf.nn.relu(x), "sum": lambda: tf.reduce_sum(x, axis=-1)}


def measure(calls=2000, rounds=7, backends=None):
    """Rows ``{backend, op, native_us, kbridge_us}``: medians per call, the two paths
    interleaved."""
    rows = []
    for backend in backends or kbridge.backend.available():
        with kbridge.backend.use(backend):
            x = ops.convert_to_tensor(np.ones((8, 16), "float32"))
            w = ops.convert_to_tensor(np.ones((16, 16), "float32"))
            ours = {"add": lambda: ops.add(x, x), "matmul": lambda: ops.matmul(x, w),
                    "relu": lambda: ops.relu(x), "sum": lambda: ops.sum(x, axis=-1)}
            for name, native in native_ops(backend, x, w).items():
                mine = ours[name]
                timed = interleave({"native": lambda f=native: [f() for _ in range(calls)],
                                    "kbridge": lambda f=mine: [f() for _ in range(calls)]},
                                   rounds=rounds, warmup=1, per_chunk=calls)
                rows.append({"backend": backend, "op": name,
                             "native_us": timed["native"]["median_s"] * 1e6,
                             "kbridge_us": timed["kbridge"]["median_s"] * 1e6})
    return rows


def main():
    print(f"{'backend':<11}{'op':<8}{'native (us)':>12}{'kbridge (us)':>14}{'ratio':>8}")
    for row in measure():
        print(f"{row['backend']:<11}{row['op']:<8}{row['native_us']:>12.2f}"
              f"{row['kbridge_us']:>14.2f}{row['kbridge_us'] / row['native_us']:>8.2f}")


if __name__ == "__main__":
    main()
