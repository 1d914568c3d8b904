"""Adapters for streaming sources (generators, PyDataset, tf.data, torch DataLoader)."""


def adapter_for(x, y, sample_weight, batch_size, steps_per_epoch, shuffle, class_weight):
    """An adapter for a streaming source, or None when ``x`` holds in-memory arrays."""
    return None
