"""Per-op dispatch cost: kbridge.ops.X versus calling the framework directly.

Run: ``python -m benchmarks.dispatch``. Prints, per backend and op, the
median time per call of each path and their ratio. Small tensors, so the numbers are
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


def main():
    print(f"{'backend':<11}{'op':<8}{'native (us)':>12}{'kbridge (us)':>14}{'ratio':>8}")
    for backend in kbridge.backend.available():
        with kbridge.backend.use(backend):
            x = ops.convert_to_tensor(np.ones((8, 16), "float32"))
            w = ops.convert_to_tensor(np.ones((16, 16), "float32"))
            ours = {"add": lambda: ops.add(x, x), "matmul": lambda: ops.matmul(x, w),
                    "relu": lambda: ops.relu(x), "sum": lambda: ops.sum(x, axis=-1)}
            for name, native in native_ops(backend, x, w).items():
                calls = 2000
                timed = interleave({"native": lambda: [native() for _ in range(calls)],
                                    "kbridge": lambda: [ours[name]() for _ in range(calls)]},
                                   rounds=7, warmup=1, per_chunk=calls)
                t_native, t_ours = timed["native"]["median_s"], timed["kbridge"]["median_s"]
                print(f"{backend:<11}{name:<8}{t_native * 1e6:>12.2f}{t_ours * 1e6:>14.2f}"
                      f"{t_ours / t_native:>8.2f}")


if __name__ == "__main__":
    main()
