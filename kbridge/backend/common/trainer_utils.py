"""Pieces shared by the per-backend step builders."""

from kbridge.backend.common.structure import flatten as _flatten
from kbridge.backend.common.structure import map_structure
from kbridge.errors import KbridgeError


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch given as x, (x,), (x, y) or (x, y, sw)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise KbridgeError(f"A batch must be x, (x,), (x, y) or (x, y, sample_weight). "
                       f"Received a tuple of {len(data)} elements")


def batch_size_of(x):
    """Number of samples in a batch (first dimension of its first array)."""
    first = _flatten(x)[0]
    return first.shape[0]


def test_step(model, data, batch_size=batch_size_of):
    """Forward pass, loss and metrics of one evaluation batch; returns the metric logs.

    ``batch_size(x)`` weighs the loss (tensorflow passes a graph-safe one)."""
    x, y, sample_weight = unpack_x_y_sample_weight(data)
    y_pred = model(x, training=False)
    loss = model._compute_loss(x, y, y_pred, sample_weight, training=False)
    model._loss_tracker.update_state(loss, sample_weight=batch_size(x))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def predict_step(model, data):
    """The model's outputs on the inputs of one batch."""
    x, _, _ = unpack_x_y_sample_weight(data)
    return model(x, training=False)


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
