"""``CSVLogger``: one CSV row of logs per epoch."""

import csv
import os

import numpy as np

from kbridge.callbacks.callback import Callback


def _cell(value):
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    if array.ndim == 0:
        return array.item()
    return f"[{', '.join(str(v) for v in array.ravel())}]"


class CSVLogger(Callback):
    """Write ``epoch`` and every log value to ``filename``, one row per epoch.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: add to an existing file (its header is kept) instead of overwriting it.

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[kbridge.callbacks.CSVLogger("log.csv")])
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self._file = None
        self._writer = None
        self._append_header = True

    def on_train_begin(self, logs=None):
        self._append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self._append_header = not f.readline().strip()
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys,
                                          delimiter=self.sep)
            if self._append_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        # A key that appears later (validation every n epochs) is left out, as its column
        # does not exist; a key that is missing this epoch is written as "NA".
        row.update({k: _cell(logs[k]) if k in logs else "NA" for k in self.keys})
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
        self._writer = None
