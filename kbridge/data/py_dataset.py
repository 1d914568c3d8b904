"""``kbridge.utils.PyDataset``: a Python dataset of batches, loaded by worker threads."""

import concurrent.futures
import collections

import numpy as np

from kbridge.data.adapters import shuffled_order
from kbridge.data.streams import StreamAdapter


def _setting(name, default):
    """A read-write property kept in ``self._<name>``, ``default`` until it is set."""
    attribute = f"_{name}"

    def read(self):
        return getattr(self, attribute, default)

    def write(self, value):
        setattr(self, attribute, value)

    return property(read, write)


class PyDataset:
    """Base class for datasets that produce whole batches by index (Keras 3 API).

    Implement ``__getitem__(index)`` (a batch: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``)
    and ``__len__`` (batches per epoch) — or the ``num_batches`` property, None for an infinite
    dataset. ``on_epoch_begin`` / ``on_epoch_end`` run around each epoch (reshuffle there).

    Args:
        workers: how many threads load batches ahead of the training step.
        use_multiprocessing: accepted for Keras compatibility; batches are loaded by threads
            either way (numpy releases the GIL for most of the work, and no pickling is
            needed).
        max_queue_size: how many batches may be loaded ahead.

    Example:
        >>> class Batches(kbridge.utils.PyDataset):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return -(-len(self.x) // self.batch_size)
        ...     def __getitem__(self, i):
        ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        ...         return self.x[s], self.y[s]
        >>> model.fit(Batches(x, y, 32, workers=2), epochs=3)
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    # Subclasses that skip ``super().__init__()`` read Keras's defaults.
    workers = _setting("workers", 1)
    use_multiprocessing = _setting("use_multiprocessing", False)
    max_queue_size = _setting("max_queue_size", 10)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index), "
                                  "returning one batch.")

    @property
    def num_batches(self):
        """Batches per epoch (``len(self)``), or None if the dataset is infinite."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ or the "
                                  "num_batches property (None for an infinite dataset).")

    def on_epoch_begin(self):
        """Called before each epoch."""

    def on_epoch_end(self):
        """Called after each epoch."""


class PyDatasetAdapter(StreamAdapter):
    """Feeds a PyDataset: batch ``i`` of an epoch is ``dataset[order[i]]``, loaded ahead by
    ``workers`` threads (at most ``max_queue_size`` in flight), in order."""

    def __init__(self, dataset, steps_per_epoch=None, shuffle=False, class_weight=None):
        self.dataset = dataset
        self.shuffle = bool(shuffle)  # the order of batches; a batch is what __getitem__ gives
        self.size = dataset.num_batches
        num_batches = self.size if steps_per_epoch is None else steps_per_epoch
        super().__init__(num_batches=num_batches, class_weight=class_weight,
                         continues_across_epochs=False)

    def _indices(self):
        if self.size is None:  # infinite: 0, 1, 2, ... until __getitem__ raises IndexError
            i = 0
            while self.num_batches is None or i < self.num_batches:
                yield i
                i += 1
            return
        order = shuffled_order(self.size) if self.shuffle else np.arange(self.size)
        count = self.num_batches
        for i in range(count):
            yield int(order[i % self.size])

    def _raw_batches(self):
        self.dataset.on_epoch_begin()
        workers = max(int(self.dataset.workers or 1), 1)
        if workers == 1:
            for i in self._indices():
                try:
                    yield self.dataset[i]
                except IndexError:
                    if self.size is not None:
                        raise
                    break
        else:
            yield from self._threaded(workers)
        self.dataset.on_epoch_end()

    def _threaded(self, workers):
        ahead = max(int(self.dataset.max_queue_size or 1), workers)
        pending = collections.deque()
        indices = self._indices()
        pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="pydataset")
        try:
            for i in indices:
                pending.append(pool.submit(self.dataset.__getitem__, i))
                if len(pending) >= ahead:
                    break
            while pending:
                try:
                    batch = pending.popleft().result()
                except IndexError:
                    if self.size is not None:
                        raise
                    break
                for i in indices:
                    pending.append(pool.submit(self.dataset.__getitem__, i))
                    break
                yield batch
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def peek(self):
        return self._convert(self.dataset[0])
