"""Pieces shared by the per-backend step builders."""

from kbridge.backend.common.structure import flatten as _flatten
from kbridge.backend.common.structure import map_structure


def batch_size_of(x):
    """Number of samples in a batch (first dimension of its first array)."""
    first = _flatten(x)[0]
    return first.shape[0]


def _convert_leaf(a, convert):
    if a is None or getattr(getattr(a, "dtype", None), "kind", "") in ("U", "S", "O"):
        return a  # strings stay numpy, for the lookup and text layers that read them
    return convert(a)


def to_backend(batch, convert):
    """A batch of numpy structures as the backend's tensors (None and strings stay)."""
    return map_structure(lambda a: _convert_leaf(a, convert), batch)


def ensure_optimizer_built(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not getattr(optimizer, "built", False):
        optimizer.build(model.trainable_variables)


class EagerRunner:
    """Runs a step function over each batch of an execution; no state to sync."""

    def __init__(self, step, convert, collect_outputs=False):
        self.step = step
        self.convert = convert
        self.collect_outputs = collect_outputs

    def sync_from_model(self):
        pass

    def sync_to_model(self):
        pass

    def __call__(self, batches):
        outputs, logs = [], None
        for batch in batches:
            result = self.step(to_backend(batch, self.convert))
            if self.collect_outputs:
                outputs.append(result)
            else:
                logs = result
        return outputs if self.collect_outputs else logs
