"""IMDB movie reviews: 25,000 + 25,000 reviews as word-index sequences, labelled 0/1."""

import json

import numpy as np

from kbridge.datasets._common import (TF_KERAS_DATASETS, drop_long, limit_words, load_npz,
                                      shift_words)
from kbridge.errors import ArgumentError
from kbridge.utils.file_utils import get_file

__all__ = ["load_data", "get_word_index"]

ORIGIN = TF_KERAS_DATASETS + "imdb.npz"
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_ORIGIN = TF_KERAS_DATASETS + "imdb_word_index.json"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3, **kwargs):
    """Returns ``(x_train, y_train), (x_test, y_test)``; ``x`` are object arrays of word-index
    lists (index ``i`` is the ``i``-th most frequent word, shifted by ``index_from``).

    Args:
        num_words: keep the most frequent words below this index; others become ``oov_char``.
        skip_top: also replace the ``skip_top`` most frequent words.
        maxlen: drop reviews of ``maxlen`` words or more.
        seed: shuffles the training and the test reviews.
        start_char: prepended to each review (None: nothing).
        oov_char: replaces dropped words (None: they are removed).
        index_from: added to every word index.

    Example:
        >>> (x_train, y_train), _ = kbridge.datasets.imdb.load_data(num_words=10000)
    """
    if kwargs:
        raise ArgumentError(f"imdb.load_data got unexpected arguments: {sorted(kwargs)}")
    arrays = load_npz(get_file(fname=path, origin=ORIGIN, file_hash=FILE_HASH))
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    x_test, y_test = arrays["x_test"], arrays["y_test"]
    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, y_train = x_train[order], y_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, y_test = x_test[order], y_test[order]
    x_train = shift_words(x_train, start_char, index_from)
    x_test = shift_words(x_test, start_char, index_from)
    if maxlen:
        x_train, y_train = drop_long(maxlen, x_train, y_train)
        x_test, y_test = drop_long(maxlen, x_test, y_test)
        if not x_train or not x_test:
            raise ArgumentError(f"No review is shorter than maxlen={maxlen}; increase maxlen.")
    words = limit_words(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([y_train, y_test])
    cut = len(x_train)
    return ((np.array(words[:cut], dtype="object"), labels[:cut]),
            (np.array(words[cut:], dtype="object"), labels[cut:]))


def get_word_index(path="imdb_word_index.json"):
    """The ``{word: index}`` dictionary of the IMDB data (indices before ``index_from``).

    Example:
        >>> index = kbridge.datasets.imdb.get_word_index()
        >>> words = {i + 3: w for w, i in index.items()}
    """
    path = get_file(fname=path, origin=WORD_INDEX_ORIGIN, file_hash=WORD_INDEX_HASH)
    with open(path) as f:
        return json.load(f)
