"""``pad_sequences``: pads (or truncates) a list of sequences to one length."""

import numpy as np

from kbridge.errors import ArgumentError

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Turns a list of sequences into a ``(num_samples, maxlen, ...)`` numpy array.

    Sequences longer than ``maxlen`` lose values at the start (``truncating="pre"``) or the end
    (``"post"``); shorter ones are filled with ``value`` before (``padding="pre"``) or after
    (``"post"``) them. Elements may themselves be arrays of one common shape.

    Args:
        sequences: a list of sequences (lists or arrays).
        maxlen: the output length; the longest sequence's length when None.
        dtype: the output dtype (``object`` for variable-length strings).
        padding, truncating: ``"pre"`` or ``"post"``.
        value: the padding value.

    Example:
        >>> kbridge.utils.pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post")
        array([[2, 3],
               [4, 0]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ArgumentError(f"`sequences` must be a list of sequences. Received: "
                            f"{type(sequences).__name__}")
    for name, mode in (("padding", padding), ("truncating", truncating)):
        if mode not in ("pre", "post"):
            raise ArgumentError(f"`{name}` must be 'pre' or 'post'. Received: {name}={mode!r}")
    lengths, item_shape = [], None
    for seq in sequences:
        if not hasattr(seq, "__len__"):
            raise ArgumentError("`sequences` must be a list of iterables. Found a non-iterable "
                                f"element: {seq!r}")
        lengths.append(len(seq))
        if item_shape is None and len(seq):
            item_shape = np.asarray(seq).shape[1:]
    item_shape = item_shape or ()
    if maxlen is None:
        maxlen = int(np.max(lengths)) if lengths else 0
    is_text = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_text:
        raise ArgumentError(f"`value` {value!r} is a string but dtype={dtype!r} is not; pass "
                            "dtype=object for variable-length strings.")
    out = np.full((len(sequences), maxlen) + tuple(item_shape), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        if not len(seq) or maxlen == 0:
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(item_shape):
            raise ArgumentError(f"Every element must have shape {tuple(item_shape)}; sequence "
                                f"{i} has elements of shape {kept.shape[1:]}.")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out
