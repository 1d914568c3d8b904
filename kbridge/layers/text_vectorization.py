"""``TextVectorization``: raw strings -> token indices, multi-hot, count or tf-idf vectors.

The layer standardises each string, splits it into tokens, optionally forms n-grams, and
looks the tokens up in a vocabulary held by an inner :class:`StringLookup` (Keras's index
layout: in ``"int"`` mode ``""`` is the mask token at 0 and ``"[UNK]"`` the OOV token at 1; in
the other modes only ``"[UNK]"``, at 0).

Two equivalent paths compute it:

* strings in numpy arrays, lists or eager tensors are processed in Python on the numpy side
  (strings have no tensor type in torch or JAX), and the result is a tensor of the layer's
  backend;
* symbolic TensorFlow string tensors (inside ``tf.data.Dataset.map`` or a ``tf.function``)
  go through ``tf.strings`` ops and a ``tf.lookup`` table, so the layer traces and the output
  is a TensorFlow tensor.

Unlike Keras, which saves the vocabulary as a file asset, the vocabulary and tf-idf weights
travel in the config, so a hub release reproduces the layer exactly.
"""

import re
import sys

import numpy as np

from kbridge import ops
from kbridge.backend.common import context
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import ArgumentError, KbridgeError
from kbridge.layers.layer import Layer
from kbridge.layers.preprocessing import StringLookup
from kbridge.saving import registry

__all__ = ["TextVectorization"]

# The characters Keras's "strip_punctuation" removes (an RE2/Python character class).
_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
_PUNCTUATION_RE = re.compile(_PUNCTUATION)
# tf.strings.split() without a separator splits on ASCII whitespace only.
_WHITESPACE_RE = re.compile(r"[ \t\n\r\v\f]+")
# tf.strings.lower() without an encoding lower-cases ASCII letters only ("É" stays).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_MASK, _OOV = "", "[UNK]"


def _is_tf(value):
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, (tf.Tensor, tf.RaggedTensor, tf.SparseTensor))


def _is_symbolic_tf(value):
    return _is_tf(value) and not sys.modules["tensorflow"].executing_eagerly()


def _text(value, encoding):
    if isinstance(value, bytes):
        return value.decode(encoding)
    if isinstance(value, np.generic):
        value = value.item()
        return value.decode(encoding) if isinstance(value, bytes) else str(value)
    return str(value)


def _string_array(data, encoding):
    """Any string container -> numpy array of Python ``str`` (object dtype)."""
    if _is_tf(data):
        data = data.numpy()
    elif not isinstance(data, (np.ndarray, list, tuple, str, bytes)):
        data = ops.convert_to_numpy(data)
    array = np.asarray(data, dtype=object)
    out = np.empty(array.size, dtype=object)
    out[:] = [_text(v, encoding) for v in array.reshape(-1).tolist()]
    return out.reshape(array.shape)


def _rows(result, encoding):
    """The output of a user ``split`` callable (ragged/dense tensor, array, lists) as a list
    of token lists."""
    if hasattr(result, "to_list"):  # tf.RaggedTensor
        result = result.to_list()
    elif _is_tf(result):
        result = result.numpy().tolist()
    elif isinstance(result, np.ndarray):
        result = result.tolist()
    return [[_text(t, encoding) for t in row] for row in result]


def _ngrams(tokens, widths):
    """tf.strings.ngrams: all n-grams of each width in turn, joined by a space."""
    out = []
    for n in widths:
        out.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return out


class TextVectorization(Layer):
    """Turns strings into sequences of token indices or into per-document token vectors.

    Args:
        max_tokens: the vocabulary size cap, mask and OOV tokens included.
        standardize: "lower_and_strip_punctuation" (default), "lower", "strip_punctuation",
            None, or a callable on a string array.
        split: "whitespace" (default), "character", None, or a callable.
        ngrams: None, an int ``n`` (1- to n-grams) or a tuple of widths.
        output_mode: "int", "multi_hot", "count", "tf_idf", or "one_hot" (one token per
            string: ``split=None``).
        output_sequence_length: "int" mode pads or truncates every sequence to this length.
        pad_to_max_tokens: other modes output ``max_tokens`` columns.
        vocabulary: a list of tokens, or (in code only) a path to a file of one per line.
        idf_weights: for "tf_idf", one weight per vocabulary token.
        sparse, ragged: a ``tf.SparseTensor`` / ``tf.RaggedTensor`` output (TensorFlow only).
        encoding: the text encoding of byte strings.

    Example:
        >>> vectorize = kbridge.layers.TextVectorization(output_sequence_length=4)
        >>> vectorize.adapt(["the cat sat", "the dog"])
        >>> vectorize(np.array(["the cat"]))          # [[2, 5, 0, 0]]: "sat" > "dog" > "cat"
    """

    # Marks the layer as an AutoGraph artifact: tf.data.Dataset.map / tf.function then call it
    # as plain Python (its TensorFlow path has no data-dependent control flow) instead of
    # rewriting kbridge's code, which AutoGraph cannot convert reliably.
    autograph_info__ = None

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 **kwargs):
        kwargs.pop("vocabulary_size", None)
        kwargs.pop("has_input_vocabulary", None)
        super().__init__(name=name, **kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in _OUTPUT_MODES:
            raise ArgumentError(f"`output_mode` must be one of {_OUTPUT_MODES}. "
                                f"Received: output_mode={output_mode!r}")
        if not (standardize is None or callable(standardize) or standardize in _STANDARDIZE):
            raise ArgumentError(f"`standardize` must be one of {_STANDARDIZE}, None or a "
                                f"callable. Received: standardize={standardize!r}")
        if not (split is None or callable(split) or split in _SPLIT):
            raise ArgumentError(f"`split` must be one of {_SPLIT}, None or a callable. "
                                f"Received: split={split!r}")
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or (isinstance(ngrams, int) and ngrams > 0) or (
                isinstance(ngrams, tuple) and ngrams
                and all(isinstance(n, int) and n > 0 for n in ngrams))):
            raise ArgumentError("`ngrams` must be None, a positive int or a tuple of positive "
                                f"ints. Received: ngrams={ngrams!r}")
        if output_sequence_length is not None and (
                output_mode != "int" or not isinstance(output_sequence_length, int)
                or output_sequence_length < 1):
            raise ArgumentError(
                "`output_sequence_length` must be None, or a positive int with "
                f"output_mode='int'. Received: output_sequence_length={output_sequence_length!r}"
                f" with output_mode={output_mode!r}")
        if output_mode == "one_hot" and (split is not None or ngrams is not None):
            raise ArgumentError("output_mode='one_hot' encodes one token per string, so it "
                                f"needs split=None and ngrams=None. Received: split={split!r}, "
                                f"ngrams={ngrams!r}")
        if ragged and output_mode != "int":
            raise ArgumentError("`ragged=True` needs output_mode='int'. "
                                f"Received: output_mode={output_mode!r}")
        if (sparse or ragged) and self.backend_name != "tensorflow":
            raise ArgumentError("`sparse=True` and `ragged=True` give TensorFlow tensors, so "
                                "they need a layer created on the tensorflow backend. "
                                f"Received: backend={self.backend_name!r}")
        if sparse and output_mode == "int":
            raise ArgumentError("`sparse=True` needs an encoded output_mode ('one_hot', "
                                "'multi_hot', 'count' or 'tf_idf'). Received: output_mode='int'")
        if isinstance(vocabulary, str):  # a file path: only ever given in code
            with open(vocabulary, encoding=encoding) as f:
                vocabulary = [line.rstrip("\r\n") for line in f]
        self.max_tokens = max_tokens
        self.standardize = standardize
        self.split = split
        self.ngrams = ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.pad_to_max_tokens = pad_to_max_tokens
        self.sparse = sparse
        self.ragged = ragged
        self.encoding = encoding
        self.supports_masking = False
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, mask_token=_MASK if output_mode == "int" else None,
            oov_token=_OOV, output_mode=output_mode, pad_to_max_tokens=pad_to_max_tokens,
            encoding=encoding, name=self.name + "_lookup")
        self._table_cache = None
        self._pending_idf = None
        self.reset_state()
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ArgumentError("`idf_weights` needs a `vocabulary` to go with.")

    # --- the vocabulary -----------------------------------------------------------------------
    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Replace the vocabulary (a list/array of tokens, or a file path) and, for
        ``"tf_idf"``, its per-token weights."""
        if isinstance(vocabulary, str):
            with open(vocabulary, encoding=self.encoding) as f:
                vocabulary = [line.rstrip("\r\n") for line in f]
        tokens = [_text(t, self.encoding) for t in _string_array(vocabulary, self.encoding)
                  .reshape(-1).tolist()]
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ArgumentError("output_mode='tf_idf' needs `idf_weights` with the "
                                    "vocabulary. Received: idf_weights=None")
            idf_weights = np.asarray(ops.convert_to_numpy(idf_weights)
                                     if not isinstance(idf_weights, (list, tuple, np.ndarray))
                                     else idf_weights, "float32").reshape(-1)
            # a vocabulary given with its OOV token first carries the OOV weight too (and
            # Keras's saved weights may be padded to max_tokens)
            if tokens[:1] == [_OOV] and len(idf_weights) >= len(tokens):
                idf_weights = idf_weights[1:len(tokens)]
        elif idf_weights is not None:
            raise ArgumentError("`idf_weights` is only used with output_mode='tf_idf'. "
                                f"Received: output_mode={self.output_mode!r}")
        self._lookup_layer.set_vocabulary(tokens)
        n = len(self._lookup_layer.get_vocabulary(include_special_tokens=False))
        if idf_weights is not None:
            if len(idf_weights) != n:
                raise ArgumentError(f"`idf_weights` needs one weight per vocabulary token "
                                    f"({n}). Received: {len(idf_weights)} weights")
            self._lookup_layer.idf_weights = idf_weights
        self._table_cache = None

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens in index order (mask and OOV tokens first unless asked otherwise)."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        """The number of indices, mask and OOV included."""
        return self._lookup_layer.vocabulary_size()

    @property
    def idf_weights(self):
        return self._lookup_layer.idf_weights

    def _index(self):
        """(token -> index dict, OOV index, output width, per-column tf-idf weights)."""
        if self._table_cache is None:
            vocab = self.get_vocabulary()
            index = {t: i for i, t in enumerate(vocab)}
            if self.output_mode != "int":
                index.setdefault(_MASK, -1)  # as Keras: "" tokens count for nothing
            oov = vocab.index(_OOV)
            depth = len(vocab)
            if self.pad_to_max_tokens and self.max_tokens is not None:
                depth = max(depth, self.max_tokens)
            weights = None
            if self.output_mode == "tf_idf":
                idf = self._lookup_layer.idf_weights
                if idf is None:
                    raise ArgumentError("output_mode='tf_idf' needs idf weights: call adapt() "
                                        "or give `vocabulary` and `idf_weights`.")
                weights = np.zeros(depth, np.float32)
                weights[oov + 1:oov + 1 + len(idf)] = idf
                weights[oov] = np.mean(idf) if len(idf) else 0.0
            self._table_cache = {"index": index, "oov": oov, "depth": depth,
                                 "weights": weights}
        return self._table_cache

    # --- preprocessing (numpy side) -----------------------------------------------------------
    def _standardize_array(self, strings):
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            strings = np.vectorize(lambda s: s.translate(_ASCII_LOWER), otypes=[object])(strings)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            strings = np.vectorize(lambda s: _PUNCTUATION_RE.sub("", s),
                                   otypes=[object])(strings)
        if callable(self.standardize):
            # Keras hands a callable numpy unicode strings on non-TensorFlow backends
            result = self.standardize(strings.astype(str) if strings.size else strings)
            strings = _string_array(result, self.encoding)
        return strings

    def _tokenize(self, inputs):
        """Input strings -> (list of token lists, output shape for split=None or None)."""
        strings = _string_array(inputs, self.encoding)
        if strings.ndim == 0:
            raise ArgumentError("TextVectorization takes a batch of strings (rank 1, or rank "
                                f"2 with a last axis of 1). Received: a scalar {inputs!r}")
        if strings.size:
            strings = self._standardize_array(strings)
        if self.split is None:
            rows = strings.reshape(len(strings), -1).tolist()
        else:
            if strings.ndim > 1:
                if strings.shape[-1] != 1 or strings.ndim > 2:
                    raise ArgumentError(
                        "To split strings, TextVectorization takes rank-1 input or rank-2 "
                        f"input with a last axis of 1. Received: shape={strings.shape}")
                strings = strings[:, 0]
            if self.split == "whitespace":
                rows = [[t for t in _WHITESPACE_RE.split(s) if t] for s in strings.tolist()]
            elif self.split == "character":
                rows = [list(s) for s in strings.tolist()]
            else:
                rows = _rows(self.split(strings.astype(str)), self.encoding)
        if self._widths is not None:
            rows = [_ngrams(row, self._widths) for row in rows]
        return rows, strings.shape

    def _preprocess(self, data):
        rows, _ = self._tokenize(data)
        return rows

    # --- adapt --------------------------------------------------------------------------------
    def adapt(self, data, batch_size=None, steps=None):
        """Build the vocabulary (and tf-idf weights) from ``data``: a list or array of
        strings, a ``tf.data.Dataset`` or any iterable of batches of strings (at most
        ``steps`` batches).

        Tokens are ordered by decreasing count, ties by decreasing UTF-8 bytes (as Keras), and
        cut to ``max_tokens``.
        """
        self.reset_state()
        if isinstance(data, (list, tuple, np.ndarray, str)) or _is_tf(data) or (
                ops.is_tensor(data)):
            batches = [data]
        else:
            batches = data
            if steps is not None:
                import itertools

                batches = itertools.islice(iter(data), steps)
        for batch in batches:
            self.update_state(batch[0] if isinstance(batch, tuple) else batch)
        self.finalize_state()

    def reset_state(self):
        """Forget the token counts gathered by :meth:`update_state`."""
        self._counts, self._doc_freq, self._num_docs = {}, {}, 0

    def update_state(self, data):
        """Count the tokens of one batch of strings (then call :meth:`finalize_state`)."""
        for row in self._tokenize(data)[0]:
            self._num_docs += 1
            for t in row:
                self._counts[t] = self._counts.get(t, 0) + 1
            for t in set(row):
                self._doc_freq[t] = self._doc_freq.get(t, 0) + 1

    def finalize_state(self):
        """Set the vocabulary (and tf-idf weights) from the counts gathered so far."""
        counts = {t: n for t, n in getattr(self, "_counts", {}).items()
                  if t not in (_MASK, _OOV)}
        tokens = sorted(counts, key=lambda t: (counts[t], t.encode("utf-8")), reverse=True)
        if self.max_tokens is not None:
            room = self.max_tokens - (2 if self.output_mode == "int" else 1)
            tokens = tokens[:max(room, 0)]
        idf = None
        if self.output_mode == "tf_idf":
            df = np.array([self._doc_freq[t] for t in tokens], np.float64)
            idf = np.log1p(self._num_docs / (1.0 + df)).astype("float32")
        self.set_vocabulary(tokens, idf)

    # --- Keras archive hooks: the vocabulary as an asset file, tf-idf weights as a variable
    def save_assets(self, dir_path):
        import os

        with open(os.path.join(dir_path, "vocabulary.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(self.get_vocabulary()))

    def load_assets(self, dir_path):
        import os

        path = os.path.join(dir_path, "vocabulary.txt")
        if not os.path.exists(path):
            return  # the vocabulary came in the config
        with open(path, encoding="utf-8") as f:
            tokens = f.read().splitlines()
        while tokens and tokens[-1] == "":
            tokens.pop()
        idf = self._pending_idf if self.output_mode == "tf_idf" else None
        self.set_vocabulary(tokens, idf)

    def save_own_variables(self, store):
        if self.output_mode == "tf_idf" and self.idf_weights is not None:
            weights = self._index()["weights"]  # Keras's layout: OOV weight first
            store["idf_weights"] = weights[:len(self.get_vocabulary())]

    def load_own_variables(self, store):
        if self.output_mode == "tf_idf" and "idf_weights" in store:
            self._pending_idf = np.asarray(store["idf_weights"], "float32")

    # --- calling ------------------------------------------------------------------------------
    def _convert_input(self, x):
        return x  # strings stay numpy / TensorFlow

    def build(self, input_shape=None):
        self.built = True

    def call(self, inputs):
        if _is_symbolic_tf(inputs):
            return self._tf_call(inputs)
        rows, shape = self._tokenize(inputs)
        table = self._index()
        index, oov = table["index"], table["oov"]
        ids = [[index.get(t, oov) for t in row] for row in rows]
        if self.output_mode == "int":
            if self.ragged:
                import tensorflow as tf

                return tf.ragged.constant(ids, dtype=tf.int64, ragged_rank=1,
                                          row_splits_dtype=tf.int64)
            if self.split is None and self._widths is None:
                out = np.asarray(ids, np.int64).reshape(shape)
                if self.output_sequence_length is not None and out.ndim > 1:
                    out = _fit_length(out, self.output_sequence_length)
            else:
                length = self.output_sequence_length
                if length is None:
                    length = max((len(r) for r in ids), default=0)
                out = np.zeros((len(ids), length), np.int64)
                for i, row in enumerate(ids):
                    row = row[:length]
                    out[i, :len(row)] = row
            return self._output(out)
        depth = table["depth"]
        if self.output_mode == "one_hot":  # one token per string (split=None)
            flat = np.asarray(ids, np.int64).reshape(shape)
            if flat.ndim > 1 and flat.shape[-1] == 1:
                flat = flat[..., 0]
            out = (flat[..., None] == np.arange(depth)).astype(np.float32)
            if self.sparse:
                import tensorflow as tf

                return tf.sparse.from_dense(out)
            return self._output(out)
        # as Keras: unsplit rank-1 input is one document of tokens (adapt() reads one each)
        single = self.split is None and len(shape) == 1
        if single:
            ids = [[i for row in ids for i in row]]
        out = np.zeros((len(ids), depth), np.float32)
        for i, row in enumerate(ids):
            row = np.asarray(row, np.int64)
            np.add.at(out[i], row[row >= 0], 1.0)
        if self.output_mode == "multi_hot":
            out = np.minimum(out, 1.0)
        elif self.output_mode == "tf_idf":
            out = out * table["weights"]
        if single:
            out = out[0]
        if self.sparse:
            import tensorflow as tf

            return tf.sparse.from_dense(out)
        return self._output(out)

    def _output(self, array):
        with context.use(self.backend_name):
            return ops.convert_to_tensor(array)

    def _tf_call(self, inputs):
        """The same computation with tf.strings / tf.lookup ops, for tf.data and tf.function."""
        import tensorflow as tf

        x = tf.convert_to_tensor(inputs) if not isinstance(inputs, tf.RaggedTensor) else inputs
        batch = x.shape[0] if x.shape.rank else None
        if x.dtype != tf.string:
            raise ArgumentError(f"TextVectorization takes strings. Received: dtype={x.dtype}")
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            x = tf.strings.lower(x)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            x = tf.strings.regex_replace(x, _PUNCTUATION, "")
        if callable(self.standardize):
            x = self.standardize(x)
        if self.split is not None:
            if x.shape.rank is not None and x.shape.rank > 1:
                if x.shape[-1] != 1:
                    raise ArgumentError(
                        "To split strings, TextVectorization takes rank-1 input or rank-2 "
                        f"input with a last axis of 1. Received: shape={x.shape}")
                x = tf.squeeze(x, axis=-1)
            lead = x.shape  # the static batch size, which splitting loses in graphs
            if self.split == "whitespace":
                x = tf.strings.split(x)
            elif self.split == "character":
                x = tf.strings.unicode_split(x, "UTF-8")
            else:
                x = self.split(x)
        else:
            lead = x.shape[:-1]
        if self._widths is not None:
            x = tf.strings.ngrams(x, ngram_width=self._widths, separator=" ")
        ids = self._tf_table(tf).lookup(x)
        if self.output_mode == "int":
            if self.ragged:
                return ids
            if isinstance(ids, tf.RaggedTensor):
                # keep the static batch size (tf.function's fixed batches need it downstream)
                return ids.to_tensor(0, shape=[batch, self.output_sequence_length])
            if self.output_sequence_length is not None and ids.shape.rank > 1:
                length = self.output_sequence_length
                ids = ids[..., :length]
                pad = length - tf.shape(ids)[-1]
                paddings = tf.concat([tf.zeros([tf.rank(ids) - 1, 2], tf.int32),
                                      [[0, pad]]], axis=0)
                ids = tf.pad(ids, paddings)
                ids.set_shape(ids.shape[:-1].concatenate([length]))
            return ids
        table = self._index()
        depth = table["depth"]
        if self.output_mode == "one_hot":
            if ids.shape.rank and ids.shape.rank > 1 and ids.shape[-1] == 1:
                ids = tf.squeeze(ids, -1)
            out = tf.one_hot(ids, depth, dtype=tf.float32)
            return tf.sparse.from_dense(out) if self.sparse else out
        ids = tf.ragged.boolean_mask(ids, ids >= 0)  # drop "" tokens
        out = tf.math.bincount(tf.cast(ids, tf.int32), minlength=depth, maxlength=depth,
                               dtype=tf.float32, axis=-1,
                               binary_output=self.output_mode == "multi_hot")
        out.set_shape(lead.concatenate([depth]))
        if self.output_mode == "tf_idf":
            out = out * tf.constant(table["weights"])
        if self.sparse:
            return tf.sparse.from_dense(out)
        return out

    def _tf_table(self, tf):
        table = self._index()
        if "tf_table" not in table:
            vocab = self.get_vocabulary()
            with tf.init_scope():  # made eagerly once, even when first called while tracing
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(vocab, tf.string), tf.range(len(vocab), dtype=tf.int64))
                table["tf_table"] = tf.lookup.StaticHashTable(init, table["oov"])
                if self.output_mode != "int" and _MASK not in vocab:
                    table["tf_table"] = _MaskedTable(table["tf_table"], tf)
        return table["tf_table"]

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape)
        if self.output_mode == "int":
            if self.split is None and self._widths is None:
                if self.output_sequence_length is not None and len(shape) > 1:
                    shape = shape[:-1] + (self.output_sequence_length,)
                return KerasTensor(shape, "int64")
            return KerasTensor((shape[0] if shape else None, self.output_sequence_length),
                               "int64")
        depth = None
        if self.pad_to_max_tokens and self.max_tokens is not None:
            depth = self.max_tokens
        elif self.get_vocabulary(include_special_tokens=False):
            depth = self._index()["depth"]
        if self.output_mode == "one_hot":
            if len(shape) > 1 and shape[-1] == 1:
                shape = shape[:-1]
            return KerasTensor(shape + (depth,), "float32")
        if self.split is None and len(shape) == 1:  # one document (see call)
            return KerasTensor((depth,), "float32", sparse=self.sparse)
        return KerasTensor((shape[0] if shape else None, depth), "float32",
                           sparse=self.sparse)

    def compute_output_shape(self, input_shape):
        return self.compute_output_spec(KerasTensor(tuple(input_shape), "string")).shape

    # --- config -------------------------------------------------------------------------------
    def get_config(self):
        idf = self._lookup_layer.idf_weights
        standardize, split = self.standardize, self.split
        if callable(standardize):
            standardize = _serialize_function(standardize, "standardize")
        if callable(split):
            split = _serialize_function(split, "split")
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "standardize": standardize, "split": split,
                "ngrams": list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams,
                "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": self.pad_to_max_tokens, "sparse": self.sparse,
                "ragged": self.ragged,
                "vocabulary": self.get_vocabulary(include_special_tokens=False) or None,
                "idf_weights": None if idf is None or self.output_mode != "tf_idf"
                else [float(w) for w in idf],
                "encoding": self.encoding, "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        vocabulary = config.get("vocabulary")
        if isinstance(vocabulary, str):
            # A config may come from a downloaded release: never read a file it names.
            raise ArgumentError("A TextVectorization config must carry its vocabulary as a "
                                "list of tokens, not a file path. Received: "
                                f"vocabulary={vocabulary!r}")
        for key, names in (("standardize", _STANDARDIZE), ("split", _SPLIT)):
            value = config.get(key)
            if isinstance(value, dict):
                config[key] = registry.deserialize(value)
            elif isinstance(value, str) and value not in names:  # a registered function
                fn = registry.get_registered_object(value)
                if fn is None:
                    raise ArgumentError(
                        f"`{key}` names the function {value!r}, which is not registered. "
                        "Register it with @kbridge.saving.register_kbridge_serializable().")
                config[key] = fn
        return super().from_config(config)


class _MaskedTable:
    """A tf.lookup table that maps the "" token to -1 (non-int modes ignore it, as Keras)."""

    def __init__(self, table, tf):
        self.table, self.tf = table, tf

    def lookup(self, keys):
        tf = self.tf
        if isinstance(keys, tf.RaggedTensor):
            return keys.with_flat_values(self.lookup(keys.flat_values))
        return tf.where(tf.equal(keys, ""), tf.constant(-1, tf.int64), self.table.lookup(keys))


def _serialize_function(fn, key):
    try:
        return registry.serialize(fn)
    except KbridgeError as e:
        raise ArgumentError(
            f"The `{key}` function {fn!r} cannot go into a config: register it with "
            "@kbridge.saving.register_kbridge_serializable() first.") from e


def _fit_length(array, length):
    """Truncate or zero-pad the last axis of ``array`` to ``length``."""
    array = array[..., :length]
    if array.shape[-1] < length:
        pad = [(0, 0)] * (array.ndim - 1) + [(0, length - array.shape[-1])]
        array = np.pad(array, pad)
    return array
