"""Structured data with Keras preprocessing layers adapted on the training table (after
keras.io/examples/structured_data/structured_data_classification_with_feature_space, by hand)."""
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
n = 60
table = {
    "age": rng.integers(20, 70, n).astype("float32"),
    "thal": rng.choice(["fixed", "normal", "reversible"], n),
    "cp": rng.integers(0, 4, n).astype("int64"),
}
target = rng.integers(0, 2, n)

age_norm = layers.Normalization(axis=None)
age_norm.adapt(table["age"])
thal_lookup = layers.StringLookup(output_mode="one_hot")
thal_lookup.adapt(table["thal"])
cp_lookup = layers.IntegerLookup(output_mode="one_hot")
cp_lookup.adapt(table["cp"])
encoded = np.concatenate([
    keras.ops.convert_to_numpy(age_norm(table["age"])).reshape(n, 1),
    keras.ops.convert_to_numpy(thal_lookup(table["thal"])),
    keras.ops.convert_to_numpy(cp_lookup(table["cp"])),
], axis=1).astype("float32")

inputs = keras.Input((encoded.shape[1],))
x = layers.Dense(16, activation="relu")(inputs)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
model.fit(encoded, target, epochs=2, batch_size=16, verbose=0)
RESULTS["thal_vocabulary"] = thal_lookup.get_vocabulary()
RESULTS["cp_vocabulary"] = [int(v) for v in cp_lookup.get_vocabulary()]
RESULTS["encoded"] = encoded[:4]
RESULTS["mean"] = float(np.asarray(keras.ops.convert_to_numpy(age_norm.mean)).ravel()[0])
