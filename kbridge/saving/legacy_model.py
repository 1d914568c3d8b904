"""Whole models in Keras's legacy HDF5 format (``model.save("m.h5")``).

The file holds the weights in the legacy layout (``kbridge.saving.legacy_h5``) under
``model_weights``, and root attributes ``model_config`` (the architecture as JSON),
``training_config`` (the compile arguments, when compiled), ``keras_version`` and ``backend``.
The optimizer's state is not stored (Keras 3 does not read it back from ``.h5`` either).
"""

import json
import os
import tempfile

from kbridge.hub.errors import ReleaseError


def save(model, path, include_optimizer=True):
    """Write ``model`` (config + weights) as a legacy ``.h5`` file, atomically.

    Example:
        >>> save(model, "model.h5")    # keras.models.load_model("model.h5") reads it
    """
    from kbridge.saving import keras_format, legacy_h5, registry

    h5py = keras_format._h5py()
    serialized = registry.serialize_keras_format(model)
    model_config = {"class_name": serialized["class_name"], "config": serialized["config"]}
    training_config = keras_format._compile_config(model) if include_optimizer else None
    if training_config is not None:  # the legacy shape: the optimizer as "optimizer_config"
        optimizer = training_config.pop("optimizer", None)
        if isinstance(optimizer, dict):
            training_config["optimizer_config"] = {"class_name": optimizer["class_name"],
                                                   "config": optimizer["config"]}
    path = os.path.abspath(os.fspath(path))
    fd, weights_tmp = tempfile.mkstemp(suffix=".h5", dir=os.path.dirname(path))
    os.close(fd)
    try:
        legacy_h5.save_weights_to_hdf5(model, weights_tmp)

        def write(tmp):
            with h5py.File(tmp, "w") as h5, h5py.File(weights_tmp, "r") as weights:
                h5.attrs["keras_version"] = keras_format.KERAS_FORMAT_VERSION
                h5.attrs["backend"] = model.backend_name
                h5.attrs["model_config"] = json.dumps(model_config)
                if training_config is not None:
                    h5.attrs["training_config"] = json.dumps(training_config)
                group = h5.create_group("model_weights")
                for key, value in weights.attrs.items():
                    group.attrs[key] = value
                for key in weights:
                    weights.copy(weights[key], group, name=key)

        keras_format._atomic_write(path, write)
    finally:
        if os.path.exists(weights_tmp):
            os.remove(weights_tmp)


def load(path, custom_objects=None, compile=True, safe_mode=True, backend=None):
    """A kbridge model from a legacy ``.h5`` model file (Keras 2 or Keras 3 ``model.save``)."""
    from kbridge.saving import keras_format, keras_import, legacy_h5

    path = os.fspath(path)
    where = os.path.basename(path)
    h5py = keras_format._h5py()
    if not os.path.isfile(path) or not h5py.is_hdf5(path):
        raise ReleaseError(f"{where}: not an HDF5 file")
    with h5py.File(path, "r") as h5:
        legacy_h5.check_self_contained(h5, where)
        raw = h5.attrs.get("model_config")
        training = h5.attrs.get("training_config")
    if raw is None:
        raise ReleaseError(f"{where}: no model found in config file (no 'model_config' "
                           "attribute): it holds weights only; build the model and call "
                           f"model.load_weights({path!r})")
    config = keras_import._parse_config(raw.decode() if isinstance(raw, bytes) else raw,
                                        f"{where}:model_config")
    if training is not None and compile:
        training = json.loads(training.decode() if isinstance(training, bytes) else training)
        config["compile_config"] = {k: training.get(k) for k in
                                    ("loss", "loss_weights", "metrics", "weighted_metrics")}
        config["compile_config"]["optimizer"] = training.get("optimizer_config",
                                                             training.get("optimizer"))
    model = keras_import.build_model(config, f"{where}:model_config", backend, custom_objects,
                                     safe_mode, compile)
    legacy_h5.load_weights_from_hdf5(model, path)
    return model
