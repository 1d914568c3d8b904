"""Data adapters: in-memory arrays (numpy, lists, dicts; pandas when given)."""

import math

import numpy as np

from kbridge.errors import KbridgeError
from kbridge.layers.layer import _flatten, map_structure


def _as_numpy(value):
    """numpy view of an array-like leaf (numpy, Python lists, pandas, framework tensors)."""
    if value is None:
        return None
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):  # pandas
        return value.to_numpy()
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # torch
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy") and not isinstance(value, (list, tuple)):  # tf
        return np.asarray(value.numpy())
    return np.asarray(value)


def _structure_to_numpy(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, (int, float, bool)) for v in value):
        return np.asarray(value)
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # pandas DataFrame
        return value.to_numpy()
    return map_structure(_as_numpy, value)


def _class_weights_to_sample_weights(y, class_weight):
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] > 1:
        labels = np.argmax(y, axis=-1)
    else:
        labels = y.reshape(y.shape[0], -1)[:, 0].astype(np.int64)
    weights = np.ones(labels.shape, dtype="float32")
    for cls, w in class_weight.items():
        weights[labels == int(cls)] = w
    return weights


def shuffled_order(n):
    """A random permutation of ``range(n)`` for shuffling data.

    Drawn from kbridge's own seed source, which ``kbridge.utils.set_random_seed`` reseeds,
    not from numpy's global RNG: importing jax draws from that one (jax/_src/clusters), so a
    shuffle order would depend on whether jax had been imported yet.
    """
    from kbridge.random import seed_generator

    return np.random.default_rng(seed_generator._default_seed_source.getrandbits(64)).permutation(n)


class DataAdapter:
    """Base: ``num_batches`` (None if unknown), ``enumerate_epoch``, ``peek``."""

    num_batches = None

    def batches(self):
        raise NotImplementedError

    def enumerate_epoch(self, steps_per_execution=1):
        """Yields ``(last step index, [batches])`` groups of ``steps_per_execution``."""
        group, step = [], -1
        for step, batch in enumerate(self.batches()):
            group.append(batch)
            if len(group) == steps_per_execution:
                yield step, group
                group = []
        if group:
            yield step, group

    def peek(self):
        for batch in self.batches():
            return batch
        raise KbridgeError("The data is empty: no batch to read")


class ArrayAdapter(DataAdapter):
    """Batches of in-memory arrays, optionally shuffled each epoch."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, steps_per_epoch=None,
                 shuffle=False, class_weight=None, single_batch=False):
        self.x = _structure_to_numpy(x)
        self.y = _structure_to_numpy(y)
        self.sample_weight = _structure_to_numpy(sample_weight)
        if class_weight is not None:
            if self.y is None:
                raise KbridgeError("class_weight needs targets `y`")
            cw = _class_weights_to_sample_weights(_flatten(self.y)[0], class_weight)
            self.sample_weight = cw if self.sample_weight is None else self.sample_weight * cw
        sizes = {a.shape[0] for a in _flatten((self.x, self.y, self.sample_weight))
                 if a is not None}
        if len(sizes) != 1:
            raise KbridgeError(f"All arrays (x, y, sample_weight) must have the same number of "
                               f"samples. Received sizes: {sorted(sizes)}")
        self.num_samples = sizes.pop()
        if single_batch:
            batch_size = self.num_samples
        self.batch_size = batch_size or 32
        self.shuffle = shuffle
        full = math.ceil(self.num_samples / self.batch_size)
        self.num_batches = min(full, steps_per_epoch) if steps_per_epoch else full

    def _take(self, index):
        def take(a):
            return None if a is None else a[index]

        parts = [map_structure(take, self.x)]
        if self.y is not None or self.sample_weight is not None:
            parts.append(map_structure(take, self.y))
        if self.sample_weight is not None:
            parts.append(map_structure(take, self.sample_weight))
        return parts[0] if len(parts) == 1 else tuple(parts)

    def batches(self):
        order = np.arange(self.num_samples)
        if self.shuffle and self.shuffle != "batch":
            order = shuffled_order(self.num_samples)
        for i in range(self.num_batches):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            if self.shuffle is True or self.shuffle == "batch" or not np.all(np.diff(index) == 1):
                yield self._take(index)
            else:
                yield self._take(slice(int(index[0]), int(index[-1]) + 1))


def _is_array_like(value):
    if value is None:
        return True
    leaves = _flatten(value) if isinstance(value, (list, tuple, dict)) else [value]
    return all(isinstance(v, np.ndarray) or hasattr(v, "shape") or isinstance(v, (int, float))
               for v in leaves) or hasattr(value, "to_numpy")


def adapt(x, y=None, sample_weight=None, batch_size=None, steps_per_epoch=None, shuffle=False,
          class_weight=None, single_batch=False):
    """The DataAdapter for ``x`` (and ``y``, ``sample_weight``)."""
    if isinstance(x, DataAdapter):
        return x
    from kbridge.data import sources

    adapter = sources.adapter_for(x, y, sample_weight, batch_size, steps_per_epoch, shuffle,
                                  class_weight)
    if adapter is not None:
        return adapter
    if not _is_array_like(x) and not isinstance(x, (list, tuple)):
        raise KbridgeError(
            "fit/evaluate/predict accept numpy arrays (or dicts/lists of them), pandas "
            "objects, Python generators, kbridge.utils.PyDataset, tf.data.Dataset and "
            f"torch.utils.data.DataLoader. Received: {type(x).__name__}")
    return ArrayAdapter(x, y, sample_weight, batch_size=batch_size,
                        steps_per_epoch=steps_per_epoch, shuffle=shuffle,
                        class_weight=class_weight, single_batch=single_batch)


def train_validation_split(arrays, validation_split):
    """Split ``(x, y, sample_weight)`` arrays: the last ``validation_split`` for validation."""
    if not 0 < validation_split < 1:
        raise KbridgeError(f"`validation_split` must be in (0, 1). Received: {validation_split}")
    leaves = [a for a in _flatten(arrays) if a is not None]
    if not leaves or not all(hasattr(a, "shape") or isinstance(a, list) for a in leaves):
        raise KbridgeError("validation_split works with in-memory arrays only; pass "
                           "validation_data for other sources")
    arrays = map_structure(lambda a: None if a is None else _as_numpy(a), arrays)
    n = _flatten(arrays)[0].shape[0]
    cut = int(math.floor(n * (1.0 - validation_split)))
    train = map_structure(lambda a: None if a is None else a[:cut], arrays)
    val = map_structure(lambda a: None if a is None else a[cut:], arrays)
    return train, val
