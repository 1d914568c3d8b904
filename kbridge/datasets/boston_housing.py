"""Boston housing prices: 506 rows of 13 features and the median home value."""

import numpy as np

from kbridge.datasets._common import TF_KERAS_DATASETS, check_test_split, shuffled_split
from kbridge.utils.file_utils import get_file

__all__ = ["load_data"]

ORIGIN = TF_KERAS_DATASETS + "boston_housing.npz"
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Returns ``(x_train, y_train), (x_test, y_test)``: rows shuffled with ``seed``, the last
    ``test_split`` fraction kept for testing.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = kbridge.datasets.boston_housing.load_data()
    """
    check_test_split(test_split)
    path = get_file(path, origin=ORIGIN, file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    return shuffled_split(x, y, test_split, seed)
