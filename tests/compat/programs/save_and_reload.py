"""A custom layer registered with register_keras_serializable, saved as a .keras archive and as
.weights.h5, reloaded (after keras.io/guides/serialization_and_saving)."""
import numpy as np
import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="MyLayers")
class ScaledDense(layers.Layer):
    def __init__(self, units, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.scale = scale

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                 name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, inputs):
        return self.scale * (ops.matmul(inputs, self.w) + self.b)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "scale": self.scale})
        return config


inputs = keras.Input((6,))
x = ScaledDense(8, scale=0.5)(inputs)
x = layers.Activation("relu")(x)
outputs = layers.Dense(3, activation="softmax")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
rng = np.random.default_rng(0)
x_data = rng.normal(size=(32, 6)).astype("float32")
y_data = rng.integers(0, 3, 32)
deterministic_weights(model)
model.fit(x_data, y_data, epochs=1, batch_size=8, shuffle=False, verbose=0)

model.save("custom_model.keras")
reloaded = keras.models.load_model("custom_model.keras")
model.save_weights("custom.weights.h5")
fresh = keras.Model.from_config(model.get_config())
fresh.load_weights("custom.weights.h5")
RESULTS["predict"] = model.predict(x_data[:4], verbose=0)
RESULTS["reloaded_same"] = bool(np.allclose(reloaded.predict(x_data[:4], verbose=0),
                                            RESULTS["predict"], atol=1e-6))
RESULTS["weights_same"] = bool(np.allclose(fresh.predict(x_data[:4], verbose=0),
                                           RESULTS["predict"], atol=1e-6))
RESULTS["layer_class"] = type(reloaded.layers[1]).__name__
RESULTS["registered_name"] = keras.saving.get_registered_name(ScaledDense)
RESULTS["optimizer_iterations"] = int(keras.ops.convert_to_numpy(reloaded.optimizer.iterations))
