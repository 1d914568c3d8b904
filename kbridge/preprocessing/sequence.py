"""``kbridge.preprocessing.sequence``: ``pad_sequences`` (from
:mod:`kbridge.utils.sequence_utils`)."""

from kbridge.utils.sequence_utils import pad_sequences

__all__ = ["pad_sequences"]
