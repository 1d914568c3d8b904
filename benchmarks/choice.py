"""What ``kbridge.backend.fastest`` picks for the training workloads on this machine.

Run by :mod:`benchmarks.run` in its own process (every backend is loaded at once); the report
sets the pick next to the backend whose ``kbridge fit`` the stacks measured fastest.
"""

from benchmarks.workloads import SIZES, build, compile_for_training, data

__all__ = ["measure"]


def measure(mode="full", workloads=("mlp", "cnn")):
    """``{workload: [[backend, seconds per step or None, error or None], ...]}``."""
    import kbridge

    out = {}
    for workload in workloads:
        spec = SIZES[mode][workload]
        x, y = data(workload, spec, steps=1)

        def builder(workload=workload, spec=spec):
            return compile_for_training(build(workload, kbridge, spec), kbridge)

        ranking = kbridge.backend.fastest(builder, (x, y), steps=5 if mode == "full" else 1,
                                          warmup=2 if mode == "full" else 1, cache=False)
        out[workload] = [list(t) for t in ranking]
    return out
