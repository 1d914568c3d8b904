"""Weather-style forecasting (after keras.io/examples/timeseries/timeseries_weather_forecasting):
windows made by timeseries_dataset_from_array, an LSTM regressor fed the dataset directly."""
import numpy as np
import keras

rng = np.random.default_rng(0)
t = np.arange(400, dtype="float32")
features = np.stack([np.sin(t / 10), np.cos(t / 7), rng.normal(scale=0.1, size=400)], axis=1)
features = ((features - features.mean(axis=0)) / features.std(axis=0)).astype("float32")
past, future, step = 24, 4, 2
sequence_length = past // step
targets = features[past + future:, 0]

dataset_train = keras.utils.timeseries_dataset_from_array(
    features[:300], targets[:300], sequence_length=sequence_length, sampling_rate=step,
    batch_size=64)
dataset_val = keras.utils.timeseries_dataset_from_array(
    features[300:-past - future], targets[300:], sequence_length=sequence_length,
    sampling_rate=step, batch_size=64)
for batch in dataset_train.take(1):
    inputs, target = batch

inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
lstm_out = keras.layers.LSTM(8)(inputs)
outputs = keras.layers.Dense(1)(lstm_out)
model = keras.Model(inputs=inputs, outputs=outputs)
deterministic_weights(model)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
history = model.fit(dataset_train, epochs=2, validation_data=dataset_val, verbose=0)
RESULTS["window_shape"] = list(batch[0].shape)
RESULTS["loss"] = history.history["loss"]
RESULTS["val_loss"] = history.history["val_loss"]
