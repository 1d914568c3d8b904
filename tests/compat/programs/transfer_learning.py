"""Transfer learning on a frozen keras.applications base (after
keras.io/guides/transfer_learning), random weights since nothing can be downloaded here."""
import numpy as np
import keras
from keras import layers

base_model = keras.applications.MobileNetV2(
    input_shape=(32, 32, 3), include_top=False, weights=None, alpha=0.35)
base_model.trainable = False
inputs = keras.Input(shape=(32, 32, 3))
x = keras.applications.mobilenet_v2.preprocess_input(inputs * 255.0)
x = base_model(x, training=False)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dropout(0.2)(x)
outputs = layers.Dense(1)(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(), loss=keras.losses.BinaryCrossentropy(from_logits=True),
              metrics=[keras.metrics.BinaryAccuracy()])
rng = np.random.default_rng(0)
images = rng.random((16, 32, 32, 3)).astype("float32")
labels = rng.integers(0, 2, 16)
model.fit(images, labels, epochs=1, batch_size=8, verbose=0)
RESULTS["trainable_weights"] = len(model.trainable_weights)
RESULTS["base_params"] = base_model.count_params()
RESULTS["n_layers"] = len(base_model.layers)
deterministic_weights(model)
RESULTS["predict"] = model.predict(images[:2], verbose=0)
