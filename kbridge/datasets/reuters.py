"""Reuters newswires: 11,228 newswires as word-index sequences over 46 topics."""

import json

import numpy as np

from kbridge.datasets._common import (TF_KERAS_DATASETS, drop_long, limit_words, load_npz,
                                      shift_words)
from kbridge.utils.file_utils import get_file

__all__ = ["load_data", "get_word_index", "get_label_names"]

ORIGIN = TF_KERAS_DATASETS + "reuters.npz"
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_ORIGIN = TF_KERAS_DATASETS + "reuters_word_index.json"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3):
    """Returns ``(x_train, y_train), (x_test, y_test)``: object arrays of word-index lists and
    topic labels; newswires are shuffled with ``seed`` and the last ``test_split`` fraction is
    the test set. The word arguments work as in :func:`kbridge.datasets.imdb.load_data`.

    Example:
        >>> (x_train, y_train), _ = kbridge.datasets.reuters.load_data(num_words=10000)
    """
    arrays = load_npz(get_file(fname=path, origin=ORIGIN, file_hash=FILE_HASH))
    xs, labels = arrays["x"], arrays["y"]
    order = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(order)
    xs, labels = xs[order], labels[order]
    xs = shift_words(xs, start_char, index_from)
    if maxlen:
        xs, labels = drop_long(maxlen, xs, labels)
    xs = limit_words(xs, num_words, skip_top, oov_char)
    cut = int(len(xs) * (1 - test_split))
    return ((np.array(xs[:cut], dtype="object"), np.array(labels[:cut])),
            (np.array(xs[cut:], dtype="object"), np.array(labels[cut:])))


def get_word_index(path="reuters_word_index.json"):
    """The ``{word: index}`` dictionary of the Reuters data (indices before ``index_from``).

    Example:
        >>> index = kbridge.datasets.reuters.get_word_index()
    """
    path = get_file(path, origin=WORD_INDEX_ORIGIN, file_hash=WORD_INDEX_HASH)
    with open(path) as f:
        return json.load(f)


def get_label_names():
    """The 46 topic names, in label order.

    Example:
        >>> kbridge.datasets.reuters.get_label_names()[3]
        'earn'
    """
    return LABEL_NAMES
