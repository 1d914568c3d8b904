"""Reading the pickled CIFAR batches (shared by cifar10 and cifar100)."""

import numpy as np

from kbridge.datasets._common import RestrictedUnpickler


def load_batch(fpath, label_key="labels"):
    """(uint8 images ``(n, 3, 32, 32)``, labels) of one pickled CIFAR batch file."""
    with open(fpath, "rb") as f:
        batch = RestrictedUnpickler(f, encoding="bytes").load()
    batch = {(k.decode("utf8") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    data = np.asarray(batch["data"], dtype="uint8")
    return data.reshape(data.shape[0], 3, 32, 32), batch[label_key]


def to_image_format(x_train, x_test):
    """Channels last (``(n, 32, 32, 3)``) unless the image data format is channels_first."""
    from kbridge import backend

    if backend.image_data_format() == "channels_last":
        return x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
    return x_train, x_test
