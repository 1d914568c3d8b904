"""``kbridge.saving``: Keras 3's file formats both ways, and config (de)serialisation.

``save_model`` / ``load_model`` read and write Keras 3 ``.keras`` archives (which real Keras
loads), ``save_weights`` / ``load_weights`` the ``.weights.h5`` layout, legacy ``.h5`` files
too; kbridge release directories (``kbridge.hub``) load here as well. Configs are built from a
registry of classes only: a config never names code to import.

``safe_mode``: a Lambda layer's function is stored as Python bytecode, as Keras stores it (so
the archives stay interchangeable); loading it would run that code, so it is refused unless
``safe_mode=False`` is passed or ``kbridge.config.enable_unsafe_deserialization()`` was called.
Registered functions used elsewhere (``Dense(activation=my_fn)``) are stored by their
registered name and always load.
"""

from kbridge.saving.file_editor import KerasFileEditor
from kbridge.saving.registry import (
    deserialize,
    register_kbridge_serializable,
    serialize,
)
from kbridge.saving.saving_api import load_model, load_weights, save_model, save_weights
from kbridge.saving.serialization_lib import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)

__all__ = ["CustomObjectScope", "KerasFileEditor", "custom_object_scope", "deserialize",
           "deserialize_keras_object", "get_custom_objects", "get_registered_name",
           "get_registered_object", "load_model", "load_weights",
           "register_keras_serializable", "register_kbridge_serializable", "save_model",
           "save_weights", "serialize", "serialize_keras_object"]
