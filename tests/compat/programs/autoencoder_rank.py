"""A convolutional denoising autoencoder (after keras.io/examples/vision/autoencoder) fed
(N, 28, 28) arrays into `Input((28, 28, 1))`: Keras's functional models add the channel axis."""
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
train_data = rng.random((32, 28, 28)).astype("float32")
noisy = np.clip(train_data + 0.4 * rng.normal(size=train_data.shape), 0.0, 1.0)

input = layers.Input(shape=(28, 28, 1))
x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(input)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2DTranspose(8, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2DTranspose(8, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
autoencoder = keras.Model(input, x)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
deterministic_weights(autoencoder)
history = autoencoder.fit(x=noisy, y=train_data, epochs=2, batch_size=16, shuffle=False, verbose=0)
RESULTS["loss"] = history.history["loss"]
RESULTS["predict"] = autoencoder.predict(noisy[:2], verbose=0)[:, 10:14, 10:14, 0]
