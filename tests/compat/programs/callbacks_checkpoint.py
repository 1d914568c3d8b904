"""Training with the callbacks a Keras user reaches for: ModelCheckpoint to .keras and
.weights.h5, EarlyStopping, ReduceLROnPlateau, CSVLogger, LambdaCallback."""
import csv
import os

import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x = rng.normal(size=(120, 5)).astype("float32")
y = (x @ rng.normal(size=(5, 1))).astype("float32")
model = keras.Sequential([keras.Input((5,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
deterministic_weights(model)
model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
seen = []
callbacks = [
    keras.callbacks.ModelCheckpoint("best.keras", monitor="val_loss", save_best_only=True),
    keras.callbacks.ModelCheckpoint("epoch_{epoch:02d}.weights.h5", save_weights_only=True),
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1),
    keras.callbacks.CSVLogger("training.csv"),
    keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch)),
]
history = model.fit(x, y, validation_split=0.25, epochs=4, batch_size=30, shuffle=False,
                    callbacks=callbacks, verbose=0)
best = keras.models.load_model("best.keras")
with open("training.csv") as f:
    header = next(csv.reader(f))
RESULTS["files"] = sorted(f for f in os.listdir(".") if f.endswith((".keras", ".h5")))
RESULTS["csv_header"] = sorted(header)
RESULTS["epochs_seen"] = seen
RESULTS["loss"] = history.history["loss"]
RESULTS["val_loss"] = history.history["val_loss"]
RESULTS["best_predict"] = best.predict(x[:3], verbose=0)
