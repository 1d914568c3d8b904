"""Simple MNIST convnet (after keras.io/examples/vision/mnist_convnet), synthetic digits."""
import numpy as np
import keras
from keras import layers

num_classes = 10
input_shape = (28, 28, 1)
rng = np.random.default_rng(0)
x_train = rng.integers(0, 256, (128, 28, 28)).astype("uint8")
y_train = rng.integers(0, num_classes, 128)

x_train = x_train.astype("float32") / 255
x_train = np.expand_dims(x_train, -1)
y_train = keras.utils.to_categorical(y_train, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)
model.summary()
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.1)
score = model.evaluate(x_train[:50], y_train[:50], verbose=0)
RESULTS["n_params"] = model.count_params()
RESULTS["loss_finite"] = bool(np.isfinite(history.history["loss"]).all())
RESULTS["history_keys"] = sorted(history.history)
RESULTS["predict_shape"] = list(model.predict(x_train[:5]).shape)
