"""``save_model`` / ``load_model`` / ``save_weights`` / ``load_weights`` with Keras 3's rules.

The file suffix picks the format, as in Keras: ``.keras`` (Keras 3's archive),
``.weights.h5`` (Keras 3's weights layout), ``.h5`` / ``.hdf5`` (the legacy HDF5 format). kbridge
also keeps its own release directories (``kbridge.hub``) for paths without a suffix.
"""

import io
import json
import os
import warnings

from kbridge.errors import ArgumentError
from kbridge.hub.errors import ReleaseError

_LEGACY_SUFFIXES = (".h5", ".hdf5")


def _check_overwrite(filepath, overwrite):
    # Keras asks on stdin; a library call cannot, so kbridge refuses instead.
    if not overwrite and os.path.exists(filepath):
        raise ArgumentError(f"{filepath} exists and overwrite=False: nothing was written. "
                            "Pass overwrite=True to replace it.")


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Save ``model`` as a Keras 3 ``.keras`` archive (or legacy ``.h5``) that Keras loads.

    Args:
        model: the model.
        filepath: ``.keras`` (config, weights, optimizer state) or ``.h5`` / ``.hdf5``; or an
            open binary file, which receives the ``.keras`` archive.
        overwrite: replace an existing file (else raise; Keras would prompt).
        zipped: False writes the archive's three files into a directory instead.
        include_optimizer: keyword; save the optimizer's state and the compile config.

    Example:
        >>> kbridge.saving.save_model(model, "model.keras")
        >>> keras.saving.load_model("model.keras")   # in Keras 3, on any backend
    """
    include_optimizer = kwargs.pop("include_optimizer", True)
    save_format = kwargs.pop("save_format", None)
    if kwargs:
        raise ArgumentError(f"The following argument(s) are not supported: {list(kwargs)}")
    from kbridge.saving import keras_format

    if isinstance(filepath, io.IOBase):
        keras_format.save_archive(model, filepath, include_optimizer=include_optimizer)
        return None
    filepath = os.fspath(filepath)
    if save_format and not filepath.endswith((".keras",) + _LEGACY_SUFFIXES):
        raise ArgumentError("The `save_format` argument is deprecated in Keras 3. Remove it "
                            "and pass a file path with a `.keras` or `.h5` extension. "
                            f"Received: save_format={save_format!r}")
    if zipped is None:
        zipped = True
    _check_overwrite(filepath, overwrite)
    if not zipped:
        if filepath.endswith(".keras"):
            raise ArgumentError("When using `zipped=False`, the `filepath` argument should not "
                                f"end in `.keras`. Received: filepath={filepath}")
        return _save_unzipped(model, filepath, include_optimizer)
    if filepath.endswith(".keras"):
        keras_format.save_archive(model, filepath, include_optimizer=include_optimizer)
        return None
    if filepath.endswith(_LEGACY_SUFFIXES):
        warnings.warn("You are saving your model as an HDF5 file via `model.save()`. This file "
                      "format is considered legacy; prefer `model.save('my_model.keras')`.",
                      stacklevel=2)
        from kbridge.saving import legacy_model

        legacy_model.save(model, filepath, include_optimizer=include_optimizer)
        return None
    raise ArgumentError(
        "Invalid filepath extension for saving. Please add either a `.keras` extension for the "
        "native Keras format (recommended) or a `.h5` extension. Use `model.export(filepath)` "
        "to export a SavedModel, or `kbridge.hub.save(model, directory)` for a kbridge "
        f"release. Received: filepath={filepath}.")


def _save_unzipped(model, dirpath, include_optimizer):
    from kbridge.saving import keras_format

    os.makedirs(dirpath, exist_ok=True)
    config = keras_format.model_config(model, include_optimizer)
    with open(os.path.join(dirpath, keras_format.CONFIG_FILE), "w") as f:
        json.dump(config, f)
    with open(os.path.join(dirpath, keras_format.METADATA_FILE), "w") as f:
        json.dump({"keras_version": keras_format.KERAS_FORMAT_VERSION, "kbridge": True}, f)
    keras_format._atomic_write(
        os.path.join(dirpath, keras_format.WEIGHTS_FILE),
        lambda tmp: keras_format.write_weights(model, tmp, include_optimizer))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, backend=None):
    """Load a model: a Keras 3 ``.keras`` archive, a legacy ``.h5`` model, a kbridge release
    directory, or a source ``kbridge.hub.load`` reads (``hf://``, ``zoo:``).

    Args:
        filepath: the file, directory or source.
        custom_objects: ``{"Name": class_or_function}`` for objects not registered.
        compile: compile the model as it was saved (optimizer state restored).
        safe_mode: refuse anything that would run code stored in the file (Lambda layers).
        backend: the kbridge backend to build on (default: the active one).

    Example:
        >>> model = kbridge.saving.load_model("model.keras", backend="torch")
    """
    from kbridge.saving import registry

    safe_mode = registry._effective_safe_mode(safe_mode)
    path = os.fspath(filepath) if isinstance(filepath, os.PathLike) else filepath
    if isinstance(path, str) and path.endswith(_LEGACY_SUFFIXES) \
            and not path.endswith(".weights.h5"):
        from kbridge.saving import legacy_model

        return legacy_model.load(path, custom_objects=custom_objects, compile=compile,
                                 safe_mode=safe_mode, backend=backend)
    if isinstance(path, str) and path.endswith(".keras"):
        if not os.path.exists(path):
            raise ReleaseError(f"File not found: filepath={path}. Please ensure the file is an "
                               "accessible `.keras` zip file.")
        from kbridge.saving import keras_import

        return keras_import.load(path, backend=backend, custom_objects=custom_objects,
                                 safe_mode=safe_mode, compile=compile)
    if isinstance(path, str) and os.path.isdir(path) and os.path.exists(
            os.path.join(path, "model.weights.h5")):
        from kbridge.saving import keras_import

        return keras_import.load_directory(path, backend=backend, custom_objects=custom_objects,
                                           safe_mode=safe_mode, compile=compile)
    from kbridge import hub

    return hub.load(path, backend=backend, custom_objects=custom_objects, safe_mode=safe_mode)


def save_weights(model, filepath, overwrite=True, max_shard_size=None, **kwargs):
    """Save ``model``'s weights: ``.weights.h5`` (Keras 3's layout, with the optimizer state)
    or ``.h5`` (the legacy layout).

    Example:
        >>> kbridge.saving.save_weights(model, "model.weights.h5")
        >>> keras_model.load_weights("model.weights.h5")   # same architecture, in Keras
    """
    if kwargs:
        raise ArgumentError(f"The following argument(s) are not supported: {list(kwargs)}")
    if max_shard_size is not None:
        raise ArgumentError("kbridge writes `.weights.h5` files unsharded; leave "
                            f"max_shard_size=None. Received: max_shard_size={max_shard_size!r}")
    filepath = os.fspath(filepath)
    _check_overwrite(filepath, overwrite)
    if filepath.endswith(".weights.h5"):
        from kbridge.saving import keras_format

        keras_format.save_weights_file(model, filepath)
    elif filepath.endswith(_LEGACY_SUFFIXES):
        from kbridge.saving import legacy_h5

        legacy_h5.save_weights_to_hdf5(model, filepath)
    else:
        raise ArgumentError(f"The filename must end in `.weights.h5`. Received: "
                            f"filepath={filepath}")


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """Load weights into ``model`` from ``.weights.h5``, ``.keras``, legacy ``.h5`` or a
    kbridge release directory.

    Args:
        model: a built model of the saved architecture.
        filepath: the file or release directory.
        skip_mismatch: skip layers whose weights do not fit instead of raising.
        by_name: keyword, legacy ``.h5`` only: match layers by name.

    Example:
        >>> model.load_weights("model.weights.h5")
    """
    by_name = kwargs.pop("by_name", None)
    if kwargs:
        raise ArgumentError(f"Invalid keyword arguments: {list(kwargs)}")
    path = os.fspath(filepath)
    if by_name and not path.endswith(_LEGACY_SUFFIXES) or (
            by_name and path.endswith(".weights.h5")):
        raise ArgumentError("`by_name` only supports loading legacy '.h5' or '.hdf5' files. "
                            f"Received: {path}")
    from kbridge.saving import keras_import

    if path.endswith(".keras"):
        return keras_import.load_archive_weights(model, path, skip_mismatch=skip_mismatch)
    if path.endswith(".weights.h5"):
        return keras_import.load_weights(model, path, skip_mismatch=skip_mismatch)
    if path.endswith(_LEGACY_SUFFIXES):
        from kbridge.saving import legacy_h5

        if legacy_h5.is_legacy_h5(path):
            return legacy_h5.load_weights_from_hdf5(model, path, by_name=bool(by_name),
                                                    skip_mismatch=skip_mismatch)
        return keras_import.load_weights(model, path, skip_mismatch=skip_mismatch)
    if os.path.isdir(path):
        from kbridge.hub import release

        release.assign_weights(model, release.read_weights(path), where=os.path.basename(path),
                               match_renamed=True)
        return None
    raise ReleaseError(f"File format not supported: filepath={path}. kbridge loads `.keras` "
                       "files, `.weights.h5` files, legacy `.h5` files and kbridge release "
                       "directories.")
