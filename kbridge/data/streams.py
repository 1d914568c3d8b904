"""Adapters for streaming sources: Python generators/iterators, tf.data, torch DataLoader.

A source is only ever identified through ``sys.modules``: a ``tf.data.Dataset`` cannot exist
unless TensorFlow is imported, so kbridge never imports a framework to look at the data.
Batches come out as numpy structures, so any source feeds any backend.
"""

import sys

from kbridge.data.adapters import (
    DataAdapter,
    _class_weights_to_sample_weights,
    _structure_to_numpy,
)
from kbridge.errors import KbridgeError
from kbridge.layers.layer import _flatten


class StreamAdapter(DataAdapter):
    """Base for sources read batch by batch.

    Without ``steps_per_epoch`` an epoch is one pass over the source. With it, an epoch is
    that many batches, read from one iterator that continues across epochs (a new pass
    starts when a re-iterable source runs out), as Keras does.
    """

    source_name = "data source"  # for error messages

    def __init__(self, num_batches=None, class_weight=None, continues_across_epochs=True):
        self.num_batches = num_batches
        self.class_weight = class_weight
        self._continues = continues_across_epochs and num_batches is not None
        self._iterator = None

    def _raw_batches(self):
        """An iterator over one pass of the source (raw batches)."""
        raise NotImplementedError

    def _convert(self, batch):
        batch = _structure_to_numpy(tuple(batch) if isinstance(batch, list) else batch)
        if self.class_weight is None:
            return batch
        from kbridge.trainers.trainer import unpack_x_y_sample_weight

        x, y, sample_weight = unpack_x_y_sample_weight(batch)
        if y is None:
            raise KbridgeError("class_weight needs targets: the batches must be (x, y) or "
                               "(x, y, sample_weight)")
        weights = _class_weights_to_sample_weights(_flatten(y)[0], self.class_weight)
        return x, y, weights if sample_weight is None else sample_weight * weights

    def batches(self):
        if not self._continues:
            count = 0
            for batch in self._raw_batches():
                count += 1
                yield self._convert(batch)
            if count == 0:
                raise KbridgeError(self._empty_message())
            return
        produced, fresh = 0, False
        while produced < self.num_batches:
            if self._iterator is None:
                self._iterator = iter(self._raw_batches())
                fresh = True
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None
                if fresh:  # a new pass gave nothing: the source is exhausted for good
                    if produced == 0:
                        raise KbridgeError(self._empty_message()) from None
                    return
                continue
            fresh = False
            produced += 1
            yield self._convert(batch)

    def _empty_message(self):
        return (f"The {self.source_name} gave no batch for this epoch. A Python generator "
                "can be read once: for several epochs pass steps_per_epoch with an endless "
                "generator, or use a kbridge.utils.PyDataset, tf.data or DataLoader.")

    def peek(self):
        for batch in self._raw_batches():
            return self._convert(batch)
        raise KbridgeError(self._empty_message())


class GeneratorAdapter(StreamAdapter):
    """A Python generator or iterator of batches; read once (peeked batches are kept)."""

    source_name = "generator"

    def __init__(self, generator, steps_per_epoch=None, class_weight=None):
        super().__init__(num_batches=steps_per_epoch, class_weight=class_weight)
        self._source = generator
        self._buffer = []

    def _raw_batches(self):
        while self._buffer:
            yield self._buffer.pop(0)
        yield from self._source

    def peek(self):
        if not self._buffer:
            try:
                self._buffer.append(next(self._source))
            except StopIteration:
                raise KbridgeError(self._empty_message()) from None
        return self._convert(self._buffer[0])


class TFDatasetAdapter(StreamAdapter):
    """A ``tf.data.Dataset``: each pass is ``as_numpy_iterator()`` (reshuffled by tf.data)."""

    source_name = "tf.data.Dataset"

    def __init__(self, dataset, steps_per_epoch=None, class_weight=None):
        import tensorflow as tf

        cardinality = int(dataset.cardinality())
        known = cardinality if cardinality >= 0 else None
        if cardinality == tf.data.INFINITE_CARDINALITY and steps_per_epoch is None:
            raise KbridgeError("This tf.data.Dataset repeats forever: pass steps_per_epoch "
                               "(or validation_steps / steps) to say how long an epoch is.")
        super().__init__(num_batches=steps_per_epoch or known, class_weight=class_weight,
                         continues_across_epochs=steps_per_epoch is not None)
        self.dataset = dataset

    def _raw_batches(self):
        return self.dataset.as_numpy_iterator()

    def peek(self):
        for batch in self.dataset.take(1).as_numpy_iterator():
            return self._convert(batch)
        raise KbridgeError(self._empty_message())


class TorchDataLoaderAdapter(StreamAdapter):
    """A ``torch.utils.data.DataLoader``: each pass is ``iter(loader)`` (reshuffled by torch)."""

    source_name = "DataLoader"

    def __init__(self, loader, steps_per_epoch=None, class_weight=None):
        try:
            known = len(loader)
        except TypeError:  # an IterableDataset without __len__
            known = None
        super().__init__(num_batches=steps_per_epoch or known, class_weight=class_weight,
                         continues_across_epochs=steps_per_epoch is not None)
        self.loader = loader

    def _raw_batches(self):
        return iter(self.loader)


def is_tf_dataset(x):
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, tf.data.Dataset)


def is_torch_dataloader(x):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.utils.data.DataLoader)
