"""`make demo`: the same computation in every installed backend, with identical results.

Run with ``python -m kbridge.demo``. Later work grows this into the model-zoo demo.
"""

import numpy as np

import kbridge
from kbridge import ops


def mlp_forward(x, w1, b1, w2, b2):
    """A two-layer perceptron written once with kbridge.ops; runs on any backend."""
    h = ops.relu(ops.add(ops.matmul(x, w1), b1))
    return ops.softmax(ops.add(ops.matmul(h, w2), b2), axis=-1)


def main():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8)).astype("float32")
    params = [rng.normal(size=s).astype("float32") * 0.5 for s in [(8, 16), (16,), (16, 3), (3,)]]

    print(f"kbridge {kbridge.__version__}; backends installed: {kbridge.backend.available()}")
    results = {}
    for name in kbridge.backend.available():
        with kbridge.backend.use(name):
            tensors = [ops.convert_to_tensor(a) for a in [x, *params]]
            y = mlp_forward(*tensors)
            results[name] = ops.convert_to_numpy(y)
            print(f"  {name:<10} {type(y).__module__}.{type(y).__name__:<12} "
                  f"class probabilities, row 0: {np.array2string(results[name][0], precision=6)}")

    reference = results["numpy"]
    worst = max(float(np.max(np.abs(r - reference))) for r in results.values())
    print(f"largest difference from the numpy backend: {worst:.2e}")
    if worst > 1e-5:
        raise SystemExit("backends disagree by more than 1e-5")


if __name__ == "__main__":
    main()
