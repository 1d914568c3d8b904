"""What ``compile(loss=..., metrics=...)`` turns into for single- and multi-output models."""

from kbridge.errors import KbridgeError


def _output_names(model):
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    outputs = getattr(model, "outputs", None)
    if outputs:
        return [t._keras_history[0].name if getattr(t, "_keras_history", None) else f"output_{i}"
                for i, t in enumerate(outputs)]
    return None


def _flatten_outputs(value):
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _per_output(spec, names, what):
    """Spread a compile argument over outputs: a single value, a list, or a dict by name."""
    n = len(names)
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise KbridgeError(f"compile({what}=...) names outputs {unknown}; the model's "
                               f"outputs are {names}")
        return [spec.get(name) for name in names]
    if isinstance(spec, (list, tuple)) and n > 1 and not (what == "metrics" and spec and not
                                                          isinstance(spec[0], (list, tuple))):
        if len(spec) != n:
            raise KbridgeError(f"compile({what}=...) got {len(spec)} entries for {n} outputs")
        return list(spec)
    return [spec] * n


def _as_loss(losses, identifier):
    """A Loss object (plain functions get reductions and sample weights via a wrapper)."""
    found = losses.get(identifier)
    if isinstance(found, losses.Loss):
        return found
    return losses.LossFunctionWrapper(found, name=getattr(found, "__name__", "loss"))


class CompileLoss:
    """The total loss: per-output losses, weighted by ``loss_weights``, summed."""

    def __init__(self, loss, loss_weights=None, output_names=None):
        from kbridge import losses

        self.output_names = output_names or ["output"]
        specs = _per_output(loss, self.output_names, "loss")
        self.losses = [_as_loss(losses, s) if s is not None else None for s in specs]
        weights = loss_weights if loss_weights is not None else 1.0
        self.loss_weights = _per_output(weights, self.output_names, "loss_weights") \
            if isinstance(weights, (dict, list, tuple)) else [weights] * len(self.output_names)
        # With several losses, each output's unweighted loss is also logged ("<output>_loss").
        self.trackers = [None] * len(self.losses)
        if sum(fn is not None for fn in self.losses) > 1:
            from kbridge.metrics import Mean

            self.trackers = [Mean(name=f"{name}_loss") if fn is not None else None
                             for name, fn in zip(self.output_names, self.losses)]

    @property
    def metrics(self):
        """The per-output loss trackers (empty for a single loss)."""
        return [t for t in self.trackers if t is not None]

    def __call__(self, y_true, y_pred, sample_weight=None):
        from kbridge import ops

        y_trues = _flatten_outputs(y_true) if len(self.output_names) > 1 else [y_true]
        y_preds = _flatten_outputs(y_pred) if len(self.output_names) > 1 else [y_pred]
        if isinstance(y_true, dict) and isinstance(y_pred, dict):
            y_trues = [y_true[k] for k in y_pred]
        if len(y_trues) != len(y_preds):
            raise KbridgeError(f"The model has {len(y_preds)} outputs but {len(y_trues)} "
                               "targets were given")
        sws = _flatten_outputs(sample_weight) if isinstance(sample_weight, (list, tuple, dict)) \
            else [sample_weight] * len(y_preds)
        total = None
        for fn, w, yt, yp, sw, tracker in zip(self.losses, self.loss_weights, y_trues, y_preds,
                                               sws, self.trackers):
            if fn is None or yt is None:
                continue
            value = fn(yt, yp, sample_weight=sw)
            if tracker is not None:
                tracker.update_state(value, sample_weight=ops.shape(yp)[0])
            value = ops.multiply(value, w)
            total = value if total is None else ops.add(total, value)
        return total


def _target_kind(y_true, y_pred):
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if pred_shape[-1:] == (1,) or len(pred_shape) == 1:
        return "binary"
    if len(true_shape) == len(pred_shape) - 1 or (true_shape[-1:] == (1,) != pred_shape[-1:]):
        return "sparse"
    return "categorical"


def _accuracy_by_shape(y_true, y_pred):
    from kbridge import metrics

    kind = _target_kind(y_true, y_pred)
    return {"binary": metrics.binary_accuracy, "sparse": metrics.sparse_categorical_accuracy,
            "categorical": metrics.categorical_accuracy}[kind](y_true, y_pred)


def _crossentropy_by_shape(y_true, y_pred):
    from kbridge import losses

    kind = _target_kind(y_true, y_pred)
    return {"binary": losses.binary_crossentropy,
            "sparse": losses.sparse_categorical_crossentropy,
            "categorical": losses.categorical_crossentropy}[kind](y_true, y_pred)


class CompileMetrics:
    """Metrics per output; logs are named like Keras's (``accuracy`` or ``out_accuracy``)."""

    def __init__(self, metrics, weighted_metrics=None, output_names=None, backend=None):
        self.output_names = output_names or ["output"]
        self.backend = backend
        self.metrics = []  # (output index, metric, weighted)
        for spec, weighted in ((metrics, False), (weighted_metrics, True)):
            if spec is None:
                continue
            for i, entries in enumerate(_per_output(spec, self.output_names, "metrics")):
                if entries is None:
                    continue
                for entry in entries if isinstance(entries, (list, tuple)) else [entries]:
                    metric = self._make(entry)
                    if len(self.output_names) > 1:
                        metric.name = f"{self.output_names[i]}_{metric.name}"
                    self.metrics.append((i, metric, weighted))

    def _make(self, identifier):
        from kbridge import metrics
        from kbridge.backend.common import context

        with context.use(self.backend or context.get()):
            if identifier in ("accuracy", "acc"):
                # As in Keras: binary, sparse or categorical accuracy, decided per call from
                # the (static) shapes of the targets and predictions.
                metric = metrics.MeanMetricWrapper(_accuracy_by_shape, name=identifier)
            elif identifier in ("crossentropy", "ce"):
                metric = metrics.MeanMetricWrapper(_crossentropy_by_shape, name=identifier)
            elif callable(identifier) and not isinstance(identifier, (metrics.Metric, type)):
                metric = metrics.MeanMetricWrapper(
                    identifier, name=getattr(identifier, "__name__", "metric"))
            else:
                metric = metrics.get(identifier)
                if getattr(metric, "backend_name", self.backend) not in (None, self.backend):
                    metric = type(metric).from_config(metric.get_config())
                if isinstance(identifier, str):
                    metric.name = identifier  # logs use the name the user wrote ("mae")
        return metric

    def update_state(self, y_true, y_pred, sample_weight=None):
        multi = len(self.output_names) > 1
        y_trues = _flatten_outputs(y_true) if multi else [y_true]
        y_preds = _flatten_outputs(y_pred) if multi else [y_pred]
        for i, metric, weighted in self.metrics:
            sw = sample_weight if weighted else None
            if isinstance(sw, (list, tuple)):
                sw = sw[i]
            metric.update_state(y_trues[i], y_preds[i], sample_weight=sw)

    @property
    def variables(self):
        return [v for _, m, _ in self.metrics for v in m.variables]

    def reset_state(self):
        for _, m, _ in self.metrics:
            m.reset_state()

    def result(self):
        return {m.name: m.result() for _, m, _ in self.metrics}
