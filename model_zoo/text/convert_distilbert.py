"""Hugging Face DistilBERT checkpoints <-> :class:`~model_zoo.text.bert.BertEncoder`.

DistilBERT is a post-LN BERT without token types: word + position embeddings, LayerNorm, then
blocks of ``LN(x + attention(x))`` and ``LN(h + FFN(h))`` -- a ``BertEncoder`` with
``type_vocabulary_size=0`` (inputs ``{"input_ids", "attention_mask"}``). Only the weight names
(``transformer.layer.i.attention.q_lin`` ...) and the config keys (``dim``, ``n_layers`` ...)
differ; its LayerNorm epsilon is fixed at 1e-12. Sinusoidal position tables
(``sinusoidal_pos_embds``) are stored in the checkpoint like learned ones, so they load as
they are. ``load_hf_distilbert(dir, backend)`` reads ``model_type: "distilbert"`` (registered
with ``kbridge.hub``); ``export_distilbert_to_hf`` writes a ``DistilBertModel`` checkpoint.
"""

from kbridge.hub.errors import ReleaseError
from model_zoo import hf_checkpoint
from model_zoo._blocks import export_config, write_hf
from model_zoo.text import convert_bert

__all__ = ["config_from_hf", "config_to_hf", "detect", "export_distilbert_to_hf",
           "hf_to_kbridge_weights", "kbridge_to_hf_weights", "load_hf_distilbert", "register"]

# HF config key -> (BertEncoder argument, DistilBertConfig default).
_CONFIG_KEYS = {
    "vocab_size": ("vocabulary_size", None), "n_layers": ("num_layers", 6),
    "n_heads": ("num_heads", 12), "dim": ("hidden_dim", 768),
    "hidden_dim": ("intermediate_dim", 3072), "max_position_embeddings":
    ("max_sequence_length", 512), "activation": ("hidden_activation", "gelu"),
    "dropout": ("dropout", 0.1), "attention_dropout": ("attention_dropout", 0.1),
    "initializer_range": ("initializer_range", 0.02),
}
_PREFIXES = ("distilbert.",)
# BERT's weight tables (kbridge paths and array layouts) without token types, under
# DistilBERT's module names.
_EMBEDDING_WEIGHTS = tuple(w for w in convert_bert._EMBEDDING_WEIGHTS if "token_type" not in w[0])
_MODULES = {
    "attention.self.query": "attention.q_lin", "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin", "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm", "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2", "output.LayerNorm": "output_layer_norm",
}


def _renamed(bert_name):
    module, leaf = bert_name.rsplit(".", 1)
    return f"{_MODULES[module]}.{leaf}"


_BLOCK_WEIGHTS = tuple((_renamed(hf), ours, kind)
                       for hf, ours, kind in convert_bert._BLOCK_WEIGHTS)

# DistilBERT's LayerNorms use this epsilon whatever the config says.
LAYER_NORM_EPSILON = 1e-12


def detect(path, config):
    """True for an HF DistilBERT checkpoint directory (``model_type: "distilbert"``)."""
    return isinstance(config, dict) and config.get("model_type") == "distilbert"


def config_from_hf(hf_config):
    """``BertEncoder`` keyword arguments from an HF DistilBERT ``config.json`` dict."""
    if "vocab_size" not in hf_config:
        raise ReleaseError("config.json: a DistilBERT config needs ['vocab_size']")
    from model_zoo.text.bert import ACTIVATIONS

    act = hf_config.get("activation", "gelu")
    if act not in ACTIVATIONS:
        raise ReleaseError(f"config.json: activation must be one of {sorted(ACTIVATIONS)}. "
                           f"Received: activation={act!r}")
    config = {ours: hf_config.get(theirs, default)
              for theirs, (ours, default) in _CONFIG_KEYS.items()}
    config.update(type_vocabulary_size=0, layer_norm_epsilon=LAYER_NORM_EPSILON)
    return config


def config_to_hf(config):
    """An HF ``config.json`` dict (``DistilBertModel``) for a ``BertEncoder`` config."""
    hf = {"architectures": ["DistilBertModel"], "model_type": "distilbert",
          "sinusoidal_pos_embds": False, "pad_token_id": 0}
    hf.update({theirs: config[ours] for theirs, (ours, _) in _CONFIG_KEYS.items()})
    return hf


def _weight_table(config):
    return convert_bert._weight_table(config, _EMBEDDING_WEIGHTS, _BLOCK_WEIGHTS,
                                      "transformer.layer")


def hf_to_kbridge_weights(arrays, config):
    """``{kbridge variable path: array}`` from HF DistilBERT weights ``{name: array}``
    (``distilbert.`` of task checkpoints is stripped; heads are ignored)."""
    arrays = hf_checkpoint.strip_prefix(arrays, _PREFIXES)
    heads = config["num_heads"]
    head_dim = config["hidden_dim"] // heads
    return {ours: convert_bert._to_kbridge(hf_checkpoint.pop(arrays, hf, "DistilBERT"), kind,
                                           heads, head_dim)
            for hf, ours, kind in _weight_table(config)}


def kbridge_to_hf_weights(arrays, config):
    """The inverse of :func:`hf_to_kbridge_weights`: ``{HF name: array}``."""
    return {hf: convert_bert._to_hf(arrays[ours], kind, config["hidden_dim"])
            for hf, ours, kind in _weight_table(config)}


def load_hf_distilbert(directory, backend=None, dtype=None, quantize=None):
    """A :class:`BertEncoder` (no token types) on ``backend`` with the weights of an HF
    DistilBERT checkpoint; ``model({"input_ids", "attention_mask"})`` is the last hidden state.

    Example:
        >>> model = load_hf_distilbert("distilbert-base-uncased/", backend="torch")
        >>> model({"input_ids": ids, "attention_mask": mask}).shape
        (2, 7, 768)
    """
    from model_zoo.text.bert import BertEncoder

    return hf_checkpoint.load(directory, BertEncoder, config_from_hf, hf_to_kbridge_weights,
                              backend, quantize, dtype=dtype, name="distilbert_encoder")


def export_distilbert_to_hf(model, directory):
    """Write ``model`` (a ``BertEncoder`` without token types) as an HF ``DistilBertModel``
    checkpoint; returns ``directory``. ``DistilBertModel.from_pretrained(directory)`` gives
    the same last hidden state.

    Example:
        >>> export_distilbert_to_hf(model, "exported/")
    """
    from model_zoo.text.bert import BertEncoder

    config = export_config(model, BertEncoder, "export_distilbert_to_hf")
    wanted = {"type_vocabulary_size": 0, "padding_index": None,
              "layer_norm_epsilon": LAYER_NORM_EPSILON}
    received = {k: config.get(k) for k in wanted}
    if received != wanted:
        raise ReleaseError(f"export_distilbert_to_hf expects a BertEncoder with {wanted}. "
                           f"Received: {received}")
    arrays = kbridge_to_hf_weights(hf_checkpoint.model_arrays(model), config)
    return write_hf(directory, config_to_hf(config), arrays)


def register():
    """Register the DistilBERT converter with ``kbridge.hub`` (done on import)."""
    from kbridge import hub

    hub.register_checkpoint_loader("hf-distilbert", detect, load_hf_distilbert)


register()
