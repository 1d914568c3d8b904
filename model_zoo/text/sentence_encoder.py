"""Sentence embeddings from a BERT checkpoint, as sentence-transformers computes them.

Tokenise with the ``tokenizers`` library (``tokenizer.json``), run the :class:`BertEncoder`,
mean-pool the token states over the attention mask, L2-normalise.
"""

import json
import os

import numpy as np

from kbridge.hub.errors import ReleaseError

__all__ = ["SentenceEncoder"]

_NO_TOKENIZERS = ("SentenceEncoder needs the 'tokenizers' library: "
                  "pip install 'kbridge[text]' (or pip install tokenizers)")
_POOLING_MODES = ("mean", "cls", "max")
# sentence-transformers' 1_Pooling/config.json flag for each mode.
_POOLING_KEYS = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token",
                 "max": "pooling_mode_max_tokens"}


def _read_optional_json(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _max_length(directory, tokenizer_json, model_config):
    """Truncation length: sentence-transformers' ``max_seq_length`` if the checkpoint has one,
    else the tokenizer's ``model_max_length`` / ``tokenizer.json`` truncation, never more than
    the position table."""
    candidates = []
    st_config = _read_optional_json(directory, "sentence_bert_config.json") or {}
    tok_config = _read_optional_json(directory, "tokenizer_config.json") or {}
    if st_config.get("max_seq_length"):
        candidates.append(int(st_config["max_seq_length"]))
    else:
        model_max = tok_config.get("model_max_length")
        if isinstance(model_max, (int, float)) and model_max < 1e9:  # HF's "no limit" is 1e30
            candidates.append(int(model_max))
        elif (tokenizer_json.get("truncation") or {}).get("max_length"):
            candidates.append(int(tokenizer_json["truncation"]["max_length"]))
    candidates.append(int(model_config["max_sequence_length"]))
    return min(candidates)


def _pooling(directory):
    """(mode, normalize) from sentence-transformers' modules.json / 1_Pooling/config.json."""
    modules = _read_optional_json(directory, "modules.json")
    mode, normalize = "mean", True
    if modules is None:
        return mode, normalize
    normalize = any(m.get("type", "").endswith("Normalize") for m in modules)
    for m in modules:
        if m.get("type", "").endswith("Pooling"):
            cfg = _read_optional_json(os.path.join(directory, m.get("path", "")), "config.json")
            cfg = cfg or {}
            chosen = [mode for mode, key in _POOLING_KEYS.items() if cfg.get(key)]
            if len(chosen) == 1:
                mode = chosen[0]
            elif chosen:
                raise ReleaseError(f"{directory}: pooling combines {chosen}; SentenceEncoder "
                                   "supports one of mean, cls, max")
    return mode, normalize


class SentenceEncoder:
    """Text -> unit-length embeddings with a BERT encoder (``all-MiniLM-L6-v2`` & co).

    Args:
        model: a :class:`~model_zoo.text.bert.BertEncoder` (any backend).
        tokenizer: a ``tokenizers.Tokenizer``; padding and truncation are set here.
        max_length: truncate inputs to this many tokens (special tokens included).
        pooling: "mean" (over the attention mask), "cls" or "max".
        normalize: L2-normalise the embeddings.

    Example:
        >>> encoder = SentenceEncoder.from_pretrained("zoo:all-minilm-l6-v2", backend="torch")
        >>> emb = encoder.encode(["A man is eating food.", "A man rides a horse."])
        >>> emb.shape, float(emb[0] @ emb[1])
        ((2, 384), 0.2...)
    """

    def __init__(self, model, tokenizer, max_length=None, pooling="mean", normalize=True):
        if pooling not in _POOLING_MODES:
            raise ReleaseError(f"`pooling` must be one of {_POOLING_MODES}. "
                               f"Received: pooling={pooling!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = bool(normalize)
        self.max_length = int(max_length or model.get_config()["max_sequence_length"])
        tokenizer.enable_truncation(max_length=self.max_length)
        padding = tokenizer.padding or {}
        # Pad each batch to its longest text (the result does not depend on the padding
        # length: pooling uses the attention mask), with the tokenizer's own pad token.
        tokenizer.enable_padding(direction=padding.get("direction", "right"),
                                 pad_id=padding.get("pad_id", 0),
                                 pad_type_id=padding.get("pad_type_id", 0),
                                 pad_token=padding.get("pad_token", "[PAD]"))

    @classmethod
    def from_pretrained(cls, source, backend=None, **kwargs):
        """Load a BERT checkpoint with its tokenizer from a directory, ``hf://``, or ``zoo:``.

        ``source`` holds an HF ``config.json`` + ``model.safetensors`` and ``tokenizer.json``
        (as sentence-transformers checkpoints do); pooling, normalisation and the maximum
        length follow its ``modules.json`` / ``sentence_bert_config.json`` when present.
        ``kwargs`` override them (see the class arguments).
        """
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ReleaseError(_NO_TOKENIZERS) from None
        from kbridge import hub
        from kbridge.hub import sources

        directory = sources.resolve(source)
        tokenizer_path = os.path.join(directory, "tokenizer.json")
        if not os.path.exists(tokenizer_path):
            raise ReleaseError(f"{source}: no tokenizer.json in {directory}; SentenceEncoder "
                               "needs a fast-tokenizer file next to the weights")
        model = hub.load(directory, backend=backend)
        with open(tokenizer_path, encoding="utf-8") as f:
            tokenizer_json = json.load(f)
        mode, normalize = _pooling(directory)
        options = {"max_length": _max_length(directory, tokenizer_json, model.get_config()),
                   "pooling": mode, "normalize": normalize}
        options.update(kwargs)
        return cls(model, Tokenizer.from_str(json.dumps(tokenizer_json)), **options)

    def tokenize(self, texts):
        """``{"input_ids", "attention_mask", "token_type_ids"}`` int32 arrays for ``texts``."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype="int32"),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype="int32"),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype="int32"),
        }

    def _pool(self, states, mask):
        mask = mask[..., None].astype(states.dtype)
        if self.pooling == "cls":
            return states[:, 0]
        if self.pooling == "max":
            return np.where(mask > 0, states, -1e9).max(axis=1)
        return (states * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)

    def encode(self, texts, batch_size=32):
        """Embeddings of ``texts`` (a string or a list of them): float32 ``(n, hidden_dim)``.

        Example:
            >>> encoder.encode(["hello world"]).shape
            (1, 384)
        """
        from kbridge import ops

        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ReleaseError(f"`batch_size` must be a positive int. Received: {batch_size!r}")
        hidden = self.model.get_config()["hidden_dim"]
        chunks = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenize(texts[start:start + batch_size])
            states = ops.convert_to_numpy(self.model(batch)).astype("float32")
            chunks.append(self._pool(states, batch["attention_mask"]))
        embeddings = np.concatenate(chunks) if chunks else np.zeros((0, hidden), "float32")
        if self.normalize:
            norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
            embeddings = embeddings / np.maximum(norms, 1e-12)
        return embeddings.astype("float32")
