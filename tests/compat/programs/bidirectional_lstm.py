"""Bidirectional LSTMs on padded integer sequences (after keras.io/examples/nlp/bidirectional_lstm_imdb)."""
import numpy as np
import keras
from keras import layers

max_features, maxlen = 50, 16
rng = np.random.default_rng(0)
x_train = [list(rng.integers(1, max_features, rng.integers(4, 24))) for _ in range(48)]
y_train = rng.integers(0, 2, 48)
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)

inputs = keras.Input(shape=(None,), dtype="int32")
x = layers.Embedding(max_features, 8)(inputs)
x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(x)
x = layers.Bidirectional(layers.GRU(8))(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
deterministic_weights(model)
model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=16, epochs=2, shuffle=False, verbose=0)
RESULTS["padded"] = x_train[:2]
RESULTS["loss"] = history.history["loss"]
RESULTS["predict"] = model.predict(x_train[:3], verbose=0)
