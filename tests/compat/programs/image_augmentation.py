"""Image classification with augmentation layers inside the model (after
keras.io/examples/vision/image_classification_from_scratch); at inference they are identity
(RandomCrop center-crops), so predictions are deterministic."""
import numpy as np
import keras
from keras import layers

data_augmentation = keras.Sequential([
    layers.RandomFlip("horizontal"),
    layers.RandomRotation(0.1),
    layers.RandomZoom(0.1),
    layers.RandomContrast(0.2),
    layers.RandomBrightness(0.1, value_range=(0, 1)),
])
inputs = keras.Input(shape=(20, 20, 3))
x = data_augmentation(inputs)
x = layers.RandomCrop(16, 16)(x)
x = layers.Rescaling(2.0, offset=-1.0)(x)
x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
x = layers.BatchNormalization()(x)
x = layers.Activation("relu")(x)
x = layers.SeparableConv2D(8, 3, padding="same")(x)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dropout(0.25)(x)
outputs = layers.Dense(1, activation=None)(x)
model = keras.Model(inputs, outputs)

rng = np.random.default_rng(0)
images = rng.random((48, 20, 20, 3)).astype("float32")
labels = rng.integers(0, 2, 48)
model.compile(optimizer=keras.optimizers.Adam(3e-4),
              loss=keras.losses.BinaryCrossentropy(from_logits=True),
              metrics=[keras.metrics.BinaryAccuracy(name="acc")])
history = model.fit(images, labels, epochs=2, batch_size=16, verbose=0)
RESULTS["keys"] = sorted(history.history)
RESULTS["augmented_shape"] = list(keras.ops.convert_to_numpy(
    data_augmentation(images[:2], training=True)).shape)
deterministic_weights(model)
RESULTS["predict"] = model.predict(images[:3], verbose=0)
