"""An MLP trained with SGD on fixed weights and unshuffled float64 data: every number is
reproducible, so kbridge must match Keras step for step."""
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(1)
x = rng.normal(size=(256, 20))           # float64, as numpy gives it
y = (x[:, :3].sum(axis=1) > 0).astype("int64")

inputs = keras.Input(shape=(20,))
h = layers.Dense(32, activation="relu")(inputs)
h = layers.BatchNormalization()(h)
h = layers.Dense(16, activation="tanh")(h)
outputs = layers.Dense(2, activation="softmax")(h)
model = keras.Model(inputs, outputs)
deterministic_weights(model)
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=50, epochs=3, shuffle=False, verbose=0)
RESULTS["loss"] = history.history["loss"]
RESULTS["accuracy"] = history.history["accuracy"]
RESULTS["predict"] = model.predict(x[:4], verbose=0)
RESULTS["evaluate"] = model.evaluate(x, y, verbose=0)
