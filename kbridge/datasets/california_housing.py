"""California housing prices: 20,640 districts, 8 features, median house value."""

import numpy as np

from kbridge.datasets._common import TF_KERAS_DATASETS, check_test_split, shuffled_split
from kbridge.errors import ArgumentError
from kbridge.utils.file_utils import get_file

__all__ = ["load_data"]

ORIGIN = TF_KERAS_DATASETS + "california_housing.npz"
FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """Returns ``(x_train, y_train), (x_test, y_test)``; ``version="small"`` keeps the first
    600 rows. Rows are shuffled with ``seed``; the last ``test_split`` fraction is the test set.

    Example:
        >>> (x_train, y_train), _ = kbridge.datasets.california_housing.load_data("small")
    """
    check_test_split(test_split)
    path = get_file(path, origin=ORIGIN, file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    elif version != "large":
        raise ArgumentError(f"`version` must be 'small' or 'large'. Received: version={version!r}")
    return shuffled_split(x, y, test_split, seed)
