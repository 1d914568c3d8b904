"""A multi-input, multi-output Functional model with named losses, loss weights and metrics
(after the "ticket classifier" of keras.io/guides/functional_api), fed dicts."""
import numpy as np
import keras
from keras import layers

num_tags, num_words, num_departments = 6, 40, 3
title_input = keras.Input(shape=(None,), name="title")
body_input = keras.Input(shape=(None,), name="body")
tags_input = keras.Input(shape=(num_tags,), name="tags")
title_features = layers.Embedding(num_words, 8)(title_input)
body_features = layers.Embedding(num_words, 8)(body_input)
title_features = layers.LSTM(8)(title_features)
body_features = layers.LSTM(4)(body_features)
x = layers.concatenate([title_features, body_features, tags_input])
priority_pred = layers.Dense(1, name="priority")(x)
department_pred = layers.Dense(num_departments, name="department")(x)
model = keras.Model(inputs=[title_input, body_input, tags_input],
                    outputs={"priority": priority_pred, "department": department_pred})
deterministic_weights(model)
model.compile(
    optimizer=keras.optimizers.RMSprop(1e-2),
    loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
          "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
    loss_weights={"priority": 1.0, "department": 0.2},
    metrics={"department": ["accuracy"]},
)
rng = np.random.default_rng(0)
title_data = rng.integers(0, num_words, size=(40, 5))
body_data = rng.integers(0, num_words, size=(40, 9))
tags_data = rng.integers(0, 2, size=(40, num_tags)).astype("float32")
priority_targets = rng.random(size=(40, 1))
dept_targets = rng.integers(0, 2, size=(40, num_departments))
history = model.fit(
    {"title": title_data, "body": body_data, "tags": tags_data},
    {"priority": priority_targets, "department": dept_targets},
    epochs=2, batch_size=20, shuffle=False, verbose=0)
RESULTS["keys"] = sorted(history.history)
RESULTS["loss"] = history.history["loss"]
out = model.predict({"title": title_data[:2], "body": body_data[:2], "tags": tags_data[:2]}, verbose=0)
RESULTS["priority"] = out["priority"]
RESULTS["department"] = out["department"]
