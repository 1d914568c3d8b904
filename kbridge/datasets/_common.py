"""Helpers shared by the dataset loaders: safe unpickling, ``.npz`` reading, sequence
filtering and the train/test split of the housing datasets."""

import io
import pickle
import zipfile

import numpy as np

from kbridge.errors import ArgumentError

TF_KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# Only what a pickled numpy array needs; anything else in a dataset file is refused.
_ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only (dataset files are not trusted code)."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Refusing to load {module}.{name} from a dataset file: "
                                     "the file may be corrupted or malicious.")


def _read_npy(buffer):
    try:
        return np.lib.format.read_array(buffer, allow_pickle=False)
    except ValueError:  # an object array (ragged sequences): unpickle it, restricted
        buffer.seek(0)
        major, _ = np.lib.format.read_magic(buffer)
        if major == 1:
            np.lib.format.read_array_header_1_0(buffer)
        elif major in (2, 3):
            np.lib.format.read_array_header_2_0(buffer)
        else:
            raise ValueError(f"Unsupported .npy format version {major}") from None
        return RestrictedUnpickler(buffer).load()


def load_npz(path):
    """The arrays of an ``.npz`` file, object arrays included (unpickled restrictively)."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as raw:
                    arrays[member[:-4]] = _read_npy(io.BytesIO(raw.read()))
    return arrays


def drop_long(maxlen, sequences, labels):
    """Keeps the sequences shorter than ``maxlen`` (and their labels)."""
    kept = [(x, y) for x, y in zip(sequences, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def check_test_split(test_split):
    if not 0 <= test_split < 1:
        raise ArgumentError(f"`test_split` must be in [0, 1). Received: test_split={test_split}")


def shuffled_split(x, y, test_split, seed):
    """Shuffles rows with ``seed`` and keeps the last ``test_split`` fraction for testing."""
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


def shift_words(sequences, start_char, index_from):
    """Adds ``index_from`` to every word index and prepends ``start_char`` (unless None)."""
    prefix = [] if start_char is None else [start_char]
    return [prefix + [w + (index_from or 0) for w in x] for x in sequences]


def limit_words(sequences, num_words, skip_top, oov_char):
    """Replaces words outside ``[skip_top, num_words)`` by ``oov_char`` (drops them when it is
    None); ``num_words`` None means the largest index present."""
    if not num_words:
        num_words = max(max(x) for x in sequences)
    if oov_char is None:
        return [[w for w in x if skip_top <= w < num_words] for x in sequences]
    return [[w if skip_top <= w < num_words else oov_char for w in x] for x in sequences]
