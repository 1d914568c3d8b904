"""The model every distribution job trains (jax_job.py, tf_job.py, torch_job.py import it as
a sibling module, after setting up their devices) and its one-process reference."""

import kbridge


def build(weights=None):
    """A compiled 6 -> 16 -> 4 MLP (Adam, mse, mae), starting from ``weights`` if given."""
    model = kbridge.Sequential([kbridge.layers.Input((6,)),
                                kbridge.layers.Dense(16, activation="relu"),
                                kbridge.layers.Dense(4)])
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=kbridge.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model
