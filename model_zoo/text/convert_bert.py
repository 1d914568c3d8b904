"""Hugging Face BERT checkpoints <-> :class:`~model_zoo.text.bert.BertEncoder`.

``load_hf_bert(directory, backend)`` reads an HF ``config.json`` (``model_type: "bert"``) and
``model.safetensors`` (or shards + ``model.safetensors.index.json``) and returns the encoder on
``backend``; registered with ``kbridge.hub.register_checkpoint_loader`` so that
``kbridge.hub.load(dir_or_hf_repo, backend=B)`` does the same. ``export_bert_to_hf(model,
directory)`` writes the checkpoint back in HF's layout (``transformers.BertModel`` loads it).

Only numpy (and kbridge's own safetensors reader/writer) is needed: no torch, no transformers.
"""

from kbridge.hub.errors import ReleaseError
from model_zoo import hf_checkpoint
from model_zoo._blocks import export_config, write_hf

__all__ = ["config_from_hf", "config_to_hf", "detect", "export_bert_to_hf", "load_hf_bert",
           "hf_to_kbridge_weights", "kbridge_to_hf_weights"]

# HF config key -> BertEncoder argument.
_CONFIG_KEYS = {
    "vocab_size": "vocabulary_size",
    "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads",
    "hidden_size": "hidden_dim",
    "intermediate_size": "intermediate_dim",
    "max_position_embeddings": "max_sequence_length",
    "type_vocab_size": "type_vocabulary_size",
    "hidden_act": "hidden_activation",
    "hidden_dropout_prob": "dropout",
    "attention_probs_dropout_prob": "attention_dropout",
    "layer_norm_eps": "layer_norm_epsilon",
    "initializer_range": "initializer_range",
}
_HF_DEFAULTS = {"max_position_embeddings": 512, "type_vocab_size": 2, "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
                "layer_norm_eps": 1e-12, "initializer_range": 0.02}
_REQUIRED = ("vocab_size", "num_hidden_layers", "num_attention_heads", "hidden_size",
             "intermediate_size")
# Prefixes of task-model checkpoints (BertForMaskedLM ...) in front of the encoder's weights.
_PREFIXES = ("bert.", "model.")


def detect(path, config):
    """True for a Hugging Face BERT checkpoint directory (``model_type: "bert"``)."""
    return isinstance(config, dict) and config.get("model_type") == "bert"


def config_from_hf(hf_config, what="BERT"):
    """``BertEncoder`` keyword arguments from an HF BERT ``config.json`` dict.

    ``what`` names the family in errors (the RoBERTa converter shares this function).
    """
    missing = [k for k in _REQUIRED if k not in hf_config]
    if missing:
        raise ReleaseError(f"config.json: a {what} config needs {missing}")
    position_type = hf_config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ReleaseError("config.json: only position_embedding_type='absolute' is supported. "
                           f"Received: position_embedding_type={position_type!r}")
    if hf_config.get("is_decoder") or hf_config.get("add_cross_attention"):
        raise ReleaseError(f"config.json: {what} decoders (is_decoder / add_cross_attention) "
                           "are not supported; only the encoder is")
    from model_zoo.text.bert import ACTIVATIONS

    act = hf_config.get("hidden_act", "gelu")
    if act not in ACTIVATIONS:
        raise ReleaseError(f"config.json: hidden_act must be one of {sorted(ACTIVATIONS)}. "
                           f"Received: hidden_act={act!r}")
    return {ours: hf_config.get(theirs, _HF_DEFAULTS.get(theirs))
            for theirs, ours in _CONFIG_KEYS.items()}


def config_to_hf(config):
    """An HF ``config.json`` dict for a ``BertEncoder`` config."""
    hf = {"architectures": ["BertModel"], "model_type": "bert",
          "position_embedding_type": "absolute", "pad_token_id": 0}
    hf.update({theirs: config[ours] for theirs, ours in _CONFIG_KEYS.items()})
    return hf


def _strip(key, prefixes=_PREFIXES):
    for prefix in prefixes:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


# (HF name, kbridge path, how the array changes). HF linear weights are (out, in); kbridge
# Dense kernels are (in, out) and the attention projections use Keras's einsum shapes:
# (hidden, heads, head_dim) for query/key/value, (heads, head_dim, hidden) for the output.
_EMBEDDING_WEIGHTS = (
    ("embeddings.word_embeddings.weight", "embeddings/word_embeddings/embeddings", "copy"),
    ("embeddings.position_embeddings.weight", "embeddings/position_embeddings", "copy"),
    ("embeddings.token_type_embeddings.weight", "embeddings/token_type_embeddings/embeddings",
     "copy"),
    ("embeddings.LayerNorm.weight", "embeddings/layer_norm/gamma", "copy"),
    ("embeddings.LayerNorm.bias", "embeddings/layer_norm/beta", "copy"),
)
_BLOCK_WEIGHTS = (
    ("attention.self.query.weight", "self_attention/query/kernel", "in_heads"),
    ("attention.self.query.bias", "self_attention/query/bias", "heads"),
    ("attention.self.key.weight", "self_attention/key/kernel", "in_heads"),
    ("attention.self.key.bias", "self_attention/key/bias", "heads"),
    ("attention.self.value.weight", "self_attention/value/kernel", "in_heads"),
    ("attention.self.value.bias", "self_attention/value/bias", "heads"),
    ("attention.output.dense.weight", "self_attention/attention_output/kernel", "heads_out"),
    ("attention.output.dense.bias", "self_attention/attention_output/bias", "copy"),
    ("attention.output.LayerNorm.weight", "attention_layer_norm/gamma", "copy"),
    ("attention.output.LayerNorm.bias", "attention_layer_norm/beta", "copy"),
    ("intermediate.dense.weight", "intermediate/kernel", "transpose"),
    ("intermediate.dense.bias", "intermediate/bias", "copy"),
    ("output.dense.weight", "output/kernel", "transpose"),
    ("output.dense.bias", "output/bias", "copy"),
    ("output.LayerNorm.weight", "output_layer_norm/gamma", "copy"),
    ("output.LayerNorm.bias", "output_layer_norm/beta", "copy"),
)
# Checkpoints converted from the original TensorFlow BERT name LayerNorm weights gamma/beta.
_LEGACY_SUFFIXES = {".LayerNorm.weight": ".LayerNorm.gamma", ".LayerNorm.bias": ".LayerNorm.beta"}


def _weight_table(config, embedding_weights=_EMBEDDING_WEIGHTS, block_weights=_BLOCK_WEIGHTS,
                  hf_layers="encoder.layer"):
    """``[(hf_name, kbridge_path, kind)]`` for every weight of a BERT encoder (DistilBERT
    passes its own tables and ``hf_layers`` prefix)."""
    table = list(embedding_weights)
    for i in range(config["num_layers"]):
        table.extend((f"{hf_layers}.{i}.{hf}", f"transformer_layer_{i}/{ours}", kind)
                     for hf, ours, kind in block_weights)
    return table


def _to_kbridge(array, kind, heads, head_dim):
    hidden = heads * head_dim
    if kind == "transpose":
        return array.T
    if kind == "in_heads":
        return array.T.reshape(hidden, heads, head_dim)
    if kind == "heads":
        return array.reshape(heads, head_dim)
    if kind == "heads_out":
        return array.T.reshape(heads, head_dim, hidden)
    return array


def _to_hf(array, kind, hidden):
    if kind == "transpose":
        return array.T
    if kind in ("in_heads", "heads_out"):
        return array.reshape(hidden, hidden).T
    if kind == "heads":
        return array.reshape(hidden)
    return array


def _hf_array(arrays, name, what="BERT"):
    if name in arrays:
        return arrays[name]
    for suffix, legacy in _LEGACY_SUFFIXES.items():
        if name.endswith(suffix) and name[:-len(suffix)] + legacy in arrays:
            return arrays[name[:-len(suffix)] + legacy]
    raise ReleaseError(f"{what} checkpoint: weight {name!r} is missing (is this a {what} "
                       "encoder checkpoint?)")


def hf_to_kbridge_weights(arrays, config, prefixes=_PREFIXES, what="BERT"):
    """``{kbridge variable path: array}`` from HF BERT weights ``{name: array}``.

    Task-model ``prefixes`` (``bert.``) are stripped; heads, the pooler and buffers are
    ignored. RoBERTa / XLM-R checkpoints use the same names (prefix ``roberta.``).
    """
    arrays = {_strip(k, prefixes): v for k, v in arrays.items()}
    heads = config["num_heads"]
    head_dim = config["hidden_dim"] // heads
    return {ours: _to_kbridge(_hf_array(arrays, hf, what), kind, heads, head_dim)
            for hf, ours, kind in _weight_table(config)}


def kbridge_to_hf_weights(arrays, config):
    """The inverse of :func:`hf_to_kbridge_weights`: ``{HF name: array}`` (BertModel names)."""
    return {hf: _to_hf(arrays[ours], kind, config["hidden_dim"])
            for hf, ours, kind in _weight_table(config)}



def hf_module_map(config):
    """``{HF module name: kbridge layer path}`` of the weight layers (for PEFT adapters)."""
    return {hf[:-len(".weight")]: ours.rsplit("/", 1)[0] for hf, ours, _ in _weight_table(config)
            if hf.endswith(".weight") and ours.endswith(("/kernel", "/embeddings"))}


def load_hf_bert(directory, backend=None, dtype=None, quantize=None):
    """A :class:`BertEncoder` on ``backend`` with the weights of an HF BERT checkpoint.

    Args:
        directory: holds ``config.json`` and ``model.safetensors`` (or shards + index).
        backend: "numpy", "jax", "torch" or "tensorflow" (default: the active backend).
        dtype: variable dtype (default float32; half-precision checkpoints are upcast).

    Example:
        >>> model = load_hf_bert("all-MiniLM-L6-v2/", backend="torch")
    """
    from model_zoo.text.bert import BertEncoder

    return hf_checkpoint.load(directory, BertEncoder, config_from_hf, hf_to_kbridge_weights,
                              backend, quantize, dtype=dtype)


def export_bert_to_hf(model, directory):
    """Write ``model`` (a :class:`BertEncoder`) as an HF BERT checkpoint in ``directory``.

    Writes ``config.json`` and ``model.safetensors`` with ``transformers.BertModel``'s names;
    ``BertModel.from_pretrained(directory)`` then gives the same last hidden state (its pooler,
    which the encoder does not have, is freshly initialised). Returns ``directory``.

    Example:
        >>> export_bert_to_hf(model, "exported/")
        >>> transformers.BertModel.from_pretrained("exported/")
    """
    from model_zoo.text.bert import BertEncoder

    config = export_config(model, BertEncoder, "export_bert_to_hf")
    if config.get("padding_index") is not None or config["type_vocabulary_size"] < 1:
        raise ReleaseError("export_bert_to_hf: this encoder is not a BERT (padding_index="
                           f"{config.get('padding_index')}, type_vocabulary_size="
                           f"{config['type_vocabulary_size']}); use export_roberta_to_hf or "
                           "export_distilbert_to_hf")
    hf_arrays = kbridge_to_hf_weights(hf_checkpoint.model_arrays(model), config)
    return write_hf(directory, config_to_hf(config), hf_arrays)


def register():
    """Register the BERT converter with ``kbridge.hub`` (done on ``import model_zoo``)."""
    from kbridge import hub

    hub.register_checkpoint_loader("hf-bert", detect, load_hf_bert)
    from kbridge.hub import peft

    peft.register_module_map("BertEncoder", hf_module_map)
