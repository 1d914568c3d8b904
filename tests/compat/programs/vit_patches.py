"""A small Vision Transformer (after keras.io/examples/vision/image_classification_with_vision_transformer):
a Patches layer that reshapes with the symbolic batch size, patch encoder, transformer blocks."""
import numpy as np
import keras
from keras import layers, ops

image_size, patch_size, num_classes = 16, 4, 3
num_patches = (image_size // patch_size) ** 2
projection_dim, num_heads = 16, 2


class Patches(layers.Layer):
    def __init__(self, patch_size):
        super().__init__()
        self.patch_size = patch_size

    def call(self, images):
        input_shape = ops.shape(images)
        batch_size = input_shape[0]
        height, width, channels = input_shape[1], input_shape[2], input_shape[3]
        num_patches_h = height // self.patch_size
        num_patches_w = width // self.patch_size
        patches = keras.ops.image.extract_patches(images, size=self.patch_size)
        patches = ops.reshape(
            patches,
            (batch_size, num_patches_h * num_patches_w,
             self.patch_size * self.patch_size * channels))
        return patches


class PatchEncoder(layers.Layer):
    def __init__(self, num_patches, projection_dim):
        super().__init__()
        self.num_patches = num_patches
        self.projection = layers.Dense(units=projection_dim)
        self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

    def call(self, patch):
        positions = ops.expand_dims(ops.arange(start=0, stop=self.num_patches, step=1), axis=0)
        return self.projection(patch) + self.position_embedding(positions)


inputs = keras.Input(shape=(image_size, image_size, 3))
patches = Patches(patch_size)(inputs)
encoded = PatchEncoder(num_patches, projection_dim)(patches)
for _ in range(2):
    x1 = layers.LayerNormalization(epsilon=1e-6)(encoded)
    attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=projection_dim, dropout=0.1)(x1, x1)
    x2 = layers.Add()([attention, encoded])
    x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
    x3 = layers.Dense(projection_dim * 2, activation=keras.activations.gelu)(x3)
    x3 = layers.Dropout(0.1)(x3)
    x3 = layers.Dense(projection_dim)(x3)
    encoded = layers.Add()([x3, x2])
representation = layers.LayerNormalization(epsilon=1e-6)(encoded)
representation = layers.Flatten()(representation)
logits = layers.Dense(num_classes)(representation)
model = keras.Model(inputs=inputs, outputs=logits)
model.compile(optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                       keras.metrics.SparseTopKCategoricalAccuracy(2, name="top-2-accuracy")])
rng = np.random.default_rng(0)
x = rng.random((70, image_size, image_size, 3)).astype("float32")
y = rng.integers(0, num_classes, 70)
history = model.fit(x, y, batch_size=32, epochs=2, validation_split=0.1, verbose=0)
RESULTS["keys"] = sorted(history.history)
RESULTS["patch_shape"] = list(ops.convert_to_numpy(Patches(patch_size)(x[:2])).shape)
deterministic_weights(model)
RESULTS["logits"] = model.predict(x[:3], verbose=0)
