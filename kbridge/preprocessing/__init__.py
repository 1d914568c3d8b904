"""``kbridge.preprocessing``: Keras 3's ``keras.preprocessing`` names (re-exports of
:mod:`kbridge.utils`).

Example:
    >>> ds = kbridge.preprocessing.image_dataset_from_directory("photos/", image_size=(64, 64))
    >>> x = kbridge.preprocessing.sequence.pad_sequences([[1, 2], [3]])
"""

from kbridge.preprocessing import image, sequence
from kbridge.utils.dataset_utils import (image_dataset_from_directory,
                                         text_dataset_from_directory,
                                         timeseries_dataset_from_array)

__all__ = ["image", "sequence", "image_dataset_from_directory", "text_dataset_from_directory",
           "timeseries_dataset_from_array"]
