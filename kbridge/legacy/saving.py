"""``kbridge.legacy.saving``: legacy ``{"class_name", "config"}`` (de)serialisation.

The same functions as ``kbridge.utils.legacy`` (see there).
"""

from kbridge.utils.legacy import deserialize_keras_object, serialize_keras_object

__all__ = ["deserialize_keras_object", "serialize_keras_object"]
