"""Which adapter reads ``x``: streaming sources here, in-memory arrays in adapters.py."""

import collections.abc
import inspect

from kbridge.errors import KbridgeError


def _is_iterator(x):
    return inspect.isgenerator(x) or (isinstance(x, collections.abc.Iterator)
                                      and not hasattr(x, "shape"))


def adapter_for(x, y, sample_weight, batch_size, steps_per_epoch, shuffle, class_weight):
    """An adapter for a streaming source, or None when ``x`` holds in-memory arrays.

    Streaming sources (generators and iterators, ``kbridge.utils.PyDataset``,
    ``tf.data.Dataset``, ``torch.utils.data.DataLoader``) carry their own targets and
    batching, so ``y``, ``sample_weight`` and ``batch_size`` must not be given with them.
    """
    from kbridge.data import py_dataset, streams

    if isinstance(x, py_dataset.PyDataset):
        kind, make = "PyDataset", lambda: py_dataset.PyDatasetAdapter(
            x, steps_per_epoch=steps_per_epoch, shuffle=shuffle, class_weight=class_weight)
    elif streams.is_tf_dataset(x):
        kind, make = "tf.data.Dataset", lambda: streams.TFDatasetAdapter(
            x, steps_per_epoch=steps_per_epoch, class_weight=class_weight)
    elif streams.is_torch_dataloader(x):
        kind, make = "torch DataLoader", lambda: streams.TorchDataLoaderAdapter(
            x, steps_per_epoch=steps_per_epoch, class_weight=class_weight)
    elif _is_iterator(x):
        kind, make = "generator", lambda: streams.GeneratorAdapter(
            x, steps_per_epoch=steps_per_epoch, class_weight=class_weight)
    else:
        return None
    for name, value in (("y", y), ("sample_weight", sample_weight),
                        ("batch_size", batch_size)):
        if value is not None:
            raise KbridgeError(
                f"`{name}` cannot be given when x is a {kind}: its batches already hold "
                f"(x, y[, sample_weight]) and their size. Received: {name}={_short(value)}")
    return make()


def _short(value):
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
