"""Text classification from raw strings (after keras.io/examples/nlp/text_classification_from_scratch):
TextVectorization adapted on the corpus, Embedding + Conv1D, trained on the vectorized ints."""
import numpy as np
import keras
from keras import layers

words = "good bad great awful fine movie plot actor boring superb the a was is".split()
rng = np.random.default_rng(0)
texts = np.array([" ".join(rng.choice(words, rng.integers(3, 12))) + "!" for _ in range(80)])
labels = np.array([int("good" in t or "great" in t or "superb" in t) for t in texts])

max_features, sequence_length = 20, 12
vectorize_layer = layers.TextVectorization(
    max_tokens=max_features, output_mode="int", output_sequence_length=sequence_length)
vectorize_layer.adapt(texts)
x = keras.ops.convert_to_numpy(vectorize_layer(texts))

inputs = keras.Input(shape=(sequence_length,), dtype="int64")
h = layers.Embedding(max_features, 8)(inputs)
h = layers.Conv1D(8, 3, padding="valid", activation="relu", strides=1)(h)
h = layers.GlobalMaxPooling1D()(h)
h = layers.Dense(8, activation="relu")(h)
predictions = layers.Dense(1, activation="sigmoid", name="predictions")(h)
model = keras.Model(inputs, predictions)
deterministic_weights(model)
model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"])
history = model.fit(x, labels, batch_size=20, epochs=2, shuffle=False, verbose=0)

RESULTS["vocabulary"] = vectorize_layer.get_vocabulary()
RESULTS["vectorized"] = x[:3]
RESULTS["loss"] = history.history["loss"]
counts = layers.TextVectorization(max_tokens=8, output_mode="count", ngrams=2)
counts.adapt(texts[:20])
RESULTS["count_mode"] = keras.ops.convert_to_numpy(counts(texts[:2]))
