"""``kbridge.data``: turn whatever ``fit`` receives into batches of numpy structures.

Every source becomes a :class:`DataAdapter` whose epochs yield batches ``x`` or ``(x, y)`` or
``(x, y, sample_weight)`` of numpy arrays (nested in dicts/lists as given); the trainer of
each backend converts a batch to its tensors. numpy is the lingua franca, so any source
feeds any backend: a torch DataLoader can train a JAX model.
"""

from kbridge.data.adapters import DataAdapter, adapt, train_validation_split

__all__ = ["DataAdapter", "adapt", "train_validation_split"]
