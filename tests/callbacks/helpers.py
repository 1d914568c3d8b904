"""A small regression model and data shared by the callback and data tests."""

import numpy as np

import kbridge


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.3).astype("float32")
    return x, y


def make_model(dropout=False, lr=0.05, optimizer=None, loss=None, metrics=None):
    """Dense(8, relu) [-> Dropout] -> Dense(1) on the active backend, compiled."""
    # Fixed names: weights are saved by variable path, so a fresh model can load them.
    layers = [kbridge.Input((3,)), kbridge.layers.Dense(8, activation="relu", name="hidden")]
    if dropout:
        layers.append(kbridge.layers.Dropout(0.3, name="dropout"))
    layers.append(kbridge.layers.Dense(1, name="out"))
    model = kbridge.Sequential(layers, name="net")
    model.compile(optimizer=optimizer or kbridge.optimizers.SGD(learning_rate=lr),
                  loss=loss or kbridge.losses.MeanSquaredError(), metrics=metrics)
    return model


def weights_equal(a, b):
    return len(a) == len(b) and all(np.array_equal(np.asarray(u), np.asarray(v))
                                    for u, v in zip(a, b))
