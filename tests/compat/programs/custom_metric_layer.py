"""A custom metric whose update broadcasts with the batch's own shape, a custom layer with
`add_loss`, a model with a fixed-batch reshape, and a `compute_loss` override without `training`."""
import numpy as np
import keras
from keras import layers, ops


class WeightedAbsError(keras.metrics.Metric):
    def __init__(self, name="weighted_abs_error", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float32")
        weights = ops.broadcast_to(ops.ones((1, 1)), ops.shape(y_pred))
        self.total.assign_add(ops.sum(weights * ops.abs(y_true - y_pred)))
        self.count.assign_add(ops.cast(ops.size(y_pred), "float32"))

    def result(self):
        return self.total / self.count

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


class ActivityPenalty(layers.Layer):
    def __init__(self, rate=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(ops.square(inputs)))
        return inputs


class Regressor(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(8, activation="relu")
        self.penalty = ActivityPenalty()
        self.out = layers.Dense(1)

    def call(self, x):
        return self.out(self.penalty(self.hidden(x)))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        loss = ops.mean(ops.square(y - y_pred))
        return loss + sum(self.losses)


rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]])).astype("float32")
model = Regressor()
model.compile(optimizer=keras.optimizers.SGD(0.05), metrics=[WeightedAbsError()])
model(x[:2])  # build the subclassed model on a batch
deterministic_weights(model)
history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
RESULTS["loss"] = history.history["loss"]
RESULTS["metric"] = history.history["weighted_abs_error"]

fixed = keras.Sequential([keras.Input((12,)), layers.Dense(12), layers.Reshape((3, 4))])
flat = layers.Input(shape=(12,))
reshaped = ops.reshape(flat, (4, 3, 4))
reshape_model = keras.Model(flat, layers.Dense(2)(reshaped))
RESULTS["reshape_model_shape"] = list(reshape_model.output.shape)
RESULTS["reshape_out"] = list(reshape_model.predict(np.ones((4, 12), "float32"), verbose=0).shape)
