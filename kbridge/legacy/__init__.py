"""``kbridge.legacy``: Keras's ``keras.legacy`` (the TF-Keras 2 config format in ``saving``)."""

from kbridge.legacy import saving

__all__ = ["saving"]
