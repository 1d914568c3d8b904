"""Hugging Face RoBERTa and XLM-RoBERTa checkpoints <-> :class:`~model_zoo.text.bert.BertEncoder`.

Both are BERT with positions numbered from the padding token (``padding_index`` =
``pad_token_id``: real tokens count from ``pad + 1``) and one token type, so the encoder is a
``BertEncoder(padding_index=...)`` and the weight names are BERT's (``roberta.`` is stripped
from task checkpoints; the pooler and heads are ignored). ``load_hf_roberta(dir, backend)``
reads ``model_type`` ``"roberta"`` or ``"xlm-roberta"``; importing ``model_zoo`` registers it
with ``kbridge.hub`` so ``kbridge.hub.load(dir, backend=B)`` does the same.
``export_roberta_to_hf(model, dir, model_type=...)`` writes a ``RobertaModel`` /
``XLMRobertaModel`` checkpoint back.
"""

from kbridge.hub.errors import ReleaseError
from model_zoo import hf_checkpoint
from model_zoo._blocks import write_hf
from model_zoo.text import convert_bert

__all__ = ["MODEL_TYPES", "config_from_hf", "config_to_hf", "detect", "export_roberta_to_hf",
           "hf_to_kbridge_weights", "kbridge_to_hf_weights", "load_hf_roberta", "register"]

# model_type -> (HF architecture, family name used in messages).
MODEL_TYPES = {"roberta": ("RobertaModel", "RoBERTa"),
               "xlm-roberta": ("XLMRobertaModel", "XLM-RoBERTa")}
_PREFIXES = ("roberta.", "model.")
_DEFAULT_PAD = 1  # RobertaConfig's pad_token_id; other defaults are BERT's


def detect(path, config):
    """True for an HF RoBERTa / XLM-RoBERTa checkpoint (``model_type`` in ``MODEL_TYPES``)."""
    return isinstance(config, dict) and config.get("model_type") in MODEL_TYPES


def config_from_hf(hf_config):
    """``BertEncoder`` keyword arguments (with ``padding_index``) from an HF RoBERTa or
    XLM-RoBERTa ``config.json`` dict."""
    what = MODEL_TYPES.get(hf_config.get("model_type"), (None, "RoBERTa"))[1]
    config = convert_bert.config_from_hf(hf_config, what=what)
    pad = hf_config.get("pad_token_id", _DEFAULT_PAD)
    if not isinstance(pad, int) or not 0 <= pad < config["max_sequence_length"]:
        raise ReleaseError(f"config.json: {what} needs an int pad_token_id below "
                           f"max_position_embeddings={config['max_sequence_length']}. "
                           f"Received: pad_token_id={pad!r}")
    return {**config, "padding_index": pad}


def config_to_hf(config, model_type="roberta"):
    """An HF ``config.json`` dict (``RobertaModel`` or ``XLMRobertaModel``) for an encoder."""
    if model_type not in MODEL_TYPES:
        raise ReleaseError(f"model_type must be one of {sorted(MODEL_TYPES)}. "
                           f"Received: model_type={model_type!r}")
    hf = convert_bert.config_to_hf(config)
    hf.update({"architectures": [MODEL_TYPES[model_type][0]], "model_type": model_type,
               "pad_token_id": config["padding_index"], "bos_token_id": 0, "eos_token_id": 2})
    return hf


def hf_to_kbridge_weights(arrays, config, what="RoBERTa"):
    """``{kbridge variable path: array}`` from HF RoBERTa / XLM-R weights (BERT's names)."""
    return convert_bert.hf_to_kbridge_weights(arrays, config, prefixes=_PREFIXES, what=what)


def kbridge_to_hf_weights(arrays, config):
    """The inverse of :func:`hf_to_kbridge_weights` (``RobertaModel`` names)."""
    return convert_bert.kbridge_to_hf_weights(arrays, config)


def load_hf_roberta(directory, backend=None, dtype=None, quantize=None):
    """A :class:`BertEncoder` on ``backend`` with the weights of an HF RoBERTa / XLM-R
    checkpoint; ``model({"input_ids", "attention_mask"})`` is ``last_hidden_state``.

    Example:
        >>> model = load_hf_roberta("xlm-roberta-base/", backend="jax")
        >>> model({"input_ids": ids, "attention_mask": mask}).shape
        (2, 7, 768)
    """
    from model_zoo.text.bert import BertEncoder

    hf_config, arrays = hf_checkpoint.read(directory)
    config = config_from_hf(hf_config)
    what = MODEL_TYPES.get(hf_config.get("model_type"), (None, "RoBERTa"))[1]
    weights = hf_to_kbridge_weights(arrays, config, what=what)
    name = hf_config["model_type"].replace("-", "_") + "_encoder"
    model = hf_checkpoint.build(BertEncoder, backend, **config, dtype=dtype, name=name)
    return hf_checkpoint.assign(model, weights, directory, quantize=quantize)


def export_roberta_to_hf(model, directory, model_type="roberta"):
    """Write ``model`` (a ``BertEncoder`` with ``padding_index``) as an HF checkpoint of
    ``model_type`` ``"roberta"`` or ``"xlm-roberta"``; returns ``directory``.
    ``transformers.AutoModel.from_pretrained(directory)`` then gives the same last hidden
    state (its pooler, which the encoder lacks, is freshly initialised).

    Example:
        >>> export_roberta_to_hf(model, "exported/", model_type="xlm-roberta")
    """
    from model_zoo.text.bert import BertEncoder

    if not isinstance(model, BertEncoder) or model.get_config().get("padding_index") is None:
        raise ReleaseError("export_roberta_to_hf expects a model_zoo BertEncoder with "
                           f"padding_index set. Received: {type(model).__name__}"
                           + (" without padding_index" if isinstance(model, BertEncoder)
                              else ""))
    config = model.get_config()
    arrays = kbridge_to_hf_weights(hf_checkpoint.model_arrays(model), config)
    return write_hf(directory, config_to_hf(config, model_type), arrays)


def register():
    """Register the RoBERTa / XLM-R converter with ``kbridge.hub`` (done on import)."""
    from kbridge import hub

    hub.register_checkpoint_loader("hf-roberta", detect, load_hf_roberta)


register()
