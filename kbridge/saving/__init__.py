"""Config (de)serialisation: a registry of classes; configs never name code to import."""

from kbridge.saving.registry import (
    deserialize,
    get_registered_object,
    register_kbridge_serializable,
    serialize,
)



def load_model(path, custom_objects=None, compile=True, safe_mode=True, backend=None):
    """Load a model from a kbridge release, a source (``hf://``, ``zoo:``) or a ``.keras`` file."""
    from kbridge import hub

    return hub.load(path, backend=backend, custom_objects=custom_objects, safe_mode=safe_mode)


def load_weights(model, path):
    """Load weights into ``model`` from a Keras ``.weights.h5`` file or a kbridge release."""
    import os

    from kbridge.hub import release

    path = os.fspath(path)
    if path.endswith(".h5"):
        from kbridge.saving import keras_import

        return keras_import.load_weights(model, path)
    release.assign_weights(model, release.read_weights(path), where=os.path.basename(path),
                           match_renamed=True)


__all__ = ["deserialize", "get_registered_object", "load_model", "load_weights",
           "register_kbridge_serializable", "serialize"]
