"""``compile`` / ``fit`` / ``evaluate`` / ``predict``: the framework-neutral training loop.

The loop (epochs, batches, callbacks, validation, logs) lives here. The per-batch step is
built by ``kbridge/backend/<name>/trainer.py`` for the model's backend:

* jax: a jitted pure step over ``(trainable, non_trainable, optimizer, metrics)`` state;
  model variables are read once and written back at sync points (epoch ends, callbacks that
  need them, the end of fit);
* torch: eager ``loss.backward()`` (``jit_compile=True`` wraps the step in ``torch.compile``);
* tensorflow: a ``tf.function`` with a ``GradientTape``;
* numpy: ``evaluate`` / ``predict`` only.

Override ``train_step`` / ``test_step`` / ``predict_step`` with your backend's convention
(see ``docs/customizing_fit.md``), or ``compute_loss`` / ``compute_metrics`` on any backend.
"""

import inspect

import numpy as np

from kbridge.backend.common.dispatch import backend_module
from kbridge.backend.common.trainer_utils import unpack_x_y_sample_weight  # noqa: F401
from kbridge.errors import KbridgeError

TRAINABLE_BACKENDS = ("jax", "torch", "tensorflow")


def _in_model_backend(method):
    """Run ``method`` with the model's backend active: ops on Python numbers and numpy arrays
    inside losses, metrics and steps then create tensors of the model's framework."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        from kbridge.backend.common import context

        token = context._override.set(self.backend_name)
        try:
            return method(self, *args, **kwargs)
        finally:
            context._override.reset(token)

    return wrapper


class Trainer:
    """The training half of :class:`kbridge.Model`."""

    compiled = False
    # What an uncompiled model runs predict() with (compile() sets them per instance).
    steps_per_execution = 1
    run_eagerly = False

    @property
    def jit_compile(self):
        """Whether steps are compiled (``jax.jit``, ``torch.compile``); before ``compile``
        this is Keras's "auto": on for jax, so ``predict`` of an uncompiled model is jitted."""
        value = self.__dict__.get("_jit_compile_value")
        return self.backend_name == "jax" if value is None else value

    @jit_compile.setter
    def jit_compile(self, value):
        object.__setattr__(self, "_jit_compile_value", bool(value))

    # --- compile --------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configure training: optimizer, loss(es), metrics.

        Example:
            >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
            ...               metrics=["accuracy"])
        """
        from kbridge import metrics as metrics_module
        from kbridge import optimizers
        from kbridge.backend.common import context
        from kbridge.trainers.compile_utils import CompileLoss, CompileMetrics, _output_names

        with context.use(self.backend_name):
            self.optimizer = optimizers.get(optimizer) if optimizer is not None else None
            if (auto_scale_loss and self.optimizer is not None
                    and getattr(self.dtype_policy, "name", None) == "mixed_float16"
                    and not isinstance(self.optimizer, optimizers.LossScaleOptimizer)):
                # float16 gradients underflow: a dynamic loss scale, as Keras adds.
                self.optimizer = optimizers.LossScaleOptimizer(self.optimizer,
                                                               name="loss_scale_optimizer")
            names = _output_names(self)
            self._compile_loss = CompileLoss(loss, loss_weights, names) if loss is not None else None
            self._compile_metrics = CompileMetrics(metrics, weighted_metrics, names,
                                                   backend=self.backend_name)
            self._loss_tracker = metrics_module.Mean(name="loss")
        self.loss = loss
        requested_jit_compile = jit_compile
        self.run_eagerly = bool(run_eagerly)
        self.steps_per_execution = int(steps_per_execution)
        if jit_compile == "auto":
            jit_compile = self.backend_name == "jax"
        self.jit_compile = bool(jit_compile) and not self.run_eagerly
        self.compiled = True
        object.__setattr__(self, "_compile_args", {
            "optimizer": self.optimizer, "loss": loss, "loss_weights": loss_weights,
            "metrics": metrics, "weighted_metrics": weighted_metrics,
            "run_eagerly": run_eagerly, "steps_per_execution": steps_per_execution,
            "jit_compile": requested_jit_compile, "auto_scale_loss": auto_scale_loss})
        object.__setattr__(self, "_backend_copy", None)
        self._reset_functions()

    def get_compile_config(self):
        """The arguments ``compile`` was given, serialized (None before ``compile``)."""
        from kbridge.saving import registry

        args = self.__dict__.get("_compile_args")
        if args is None:
            return None
        return {k: registry.serialize(v) if k in _SERIALIZED_COMPILE_ARGS else v
                for k, v in args.items()}

    def compile_from_config(self, config):
        """``compile`` with the arguments of :meth:`get_compile_config`."""
        from kbridge.saving import registry

        if not isinstance(config, dict):
            raise KbridgeError("`compile_from_config` expects the dict that "
                               f"`get_compile_config` returns. Received: {str(config)[:200]}")

        def rebuild(value):  # strings stay names; nested lists and dicts are walked
            if isinstance(value, dict) and "class_name" in value:
                return registry.deserialize(value)
            if isinstance(value, dict):
                return {k: rebuild(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [rebuild(v) for v in value]
            return value

        args = {k: rebuild(v) if k in _SERIALIZED_COMPILE_ARGS else v
                for k, v in config.items()}
        self.compile(**args)
        if self.built and self.optimizer is not None:
            self.optimizer.build(self.trainable_variables)

    def _compile_like(self, other):
        """Compile as ``other`` was, with fresh optimizer and metric objects."""
        args = dict(other.__dict__["_compile_args"])
        for k in ("optimizer", "metrics", "weighted_metrics"):
            args[k] = _fresh(args[k])
        self.compile(**args)

    def _reset_functions(self):
        object.__setattr__(self, "_train_function", None)
        object.__setattr__(self, "_test_function", None)
        object.__setattr__(self, "_predict_function", None)

    def _runner(self, kind):
        """The backend's step runner for ``kind`` ("train", "test", "predict"), built once
        per compile() and reused by later fit/evaluate/predict calls, so compiled steps
        (jax.jit, tf.function) are not traced again. Recompile after changing which
        weights are trainable, as in Keras."""
        from kbridge.distribution.distribution_lib import distribution

        attr = f"_{kind}_function"
        runner = self.__dict__.get(attr)
        # A step built for another kbridge.distribution (or for none) is built again.
        if runner is None or self.__dict__.get(f"{attr}_distribution") is not distribution():
            runner = getattr(self._trainer, f"make_{kind}_function")(self)
            object.__setattr__(self, attr, runner)
            object.__setattr__(self, f"{attr}_distribution", distribution())
        return runner

    def _assert_compiled(self):
        if not self.compiled:
            raise KbridgeError(f"Model '{self.name}' must be compiled before training or "
                               "evaluation: call model.compile(optimizer=..., loss=...).")

    def _assert_trainable_backend(self):
        if self.backend_name not in TRAINABLE_BACKENDS:
            raise KbridgeError(
                f"fit() needs gradients, which the {self.backend_name} backend does not have. "
                f"Train on one of {list(TRAINABLE_BACKENDS)} — e.g. "
                f"kbridge.convert(model, 'jax') — then convert back if you like.")

    @property
    def _trainer(self):
        return backend_module(self.backend_name, "trainer")

    # --- losses and metrics ---------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The scalar loss of a batch: compiled losses + the model's own ``losses``.

        Override to customise the loss on any backend (it is called inside the gradient
        computation of the backend's ``train_step``).
        """
        from kbridge import ops

        total = None
        if self._compile_loss is not None and y is not None:
            total = self._compile_loss(y, y_pred, sample_weight)
        for extra in self.losses:
            extra = ops.cast(extra, "float32") if total is None else ops.cast(extra, total.dtype)
            total = extra if total is None else ops.add(total, extra)
        if total is None:
            if self._compile_loss is None and not self.losses:
                raise KbridgeError("No loss to minimise: compile the model with loss=... or "
                                   "call self.add_loss(...) in the model.")
            total = ops.convert_to_tensor(0.0)
        return total

    def _compute_loss(self, x, y, y_pred, sample_weight, training):
        """``compute_loss``, passing ``training`` only when an override accepts it (as Keras)."""
        takes = type(self).__dict__.get("_compute_loss_takes_training")
        if takes is None:
            params = inspect.signature(self.compute_loss).parameters
            takes = "training" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
            setattr(type(self), "_compute_loss_takes_training", takes)
        if takes:
            return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=training)
        return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    def stateless_compute_loss(self, trainable_variables, non_trainable_variables,
                               metrics_variables, x=None, y=None, y_pred=None,
                               sample_weight=None, training=True):
        """``compute_loss`` as a pure function: ``(loss, (non_trainable, metrics_variables))``."""
        from kbridge.backend.common.stateless import StatelessScope

        metric_vars = self.metrics_variables
        mapping = list(zip(self.trainable_variables, trainable_variables)) + list(
            zip(self.non_trainable_variables, non_trainable_variables)) + list(
            zip(metric_vars, metrics_variables))
        with StatelessScope(mapping) as scope:
            loss = self._compute_loss(x, y, y_pred, sample_weight, training=training)
        return loss, ([scope.final_value(v) for v in self.non_trainable_variables],
                      [scope.final_value(v) for v in metric_vars])

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics for a batch and return ``{name: value}`` logs."""
        if self._compile_metrics is not None and y is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    @property
    def metrics(self):
        out = []
        if getattr(self, "_loss_tracker", None) is not None:
            out.append(self._loss_tracker)
        if getattr(self, "_compile_loss", None) is not None:
            out.extend(self._compile_loss.metrics)
        if getattr(self, "_compile_metrics", None) is not None:
            out.extend(m for _, m, _ in self._compile_metrics.metrics)
        return out

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    @property
    def metrics_variables(self):
        return [v for m in self.metrics for v in m.variables]

    def _metrics_or_step_logs(self, step_logs):
        """Epoch logs: the metrics' results, unless a custom step returned logs of its own
        (other keys than the compiled metrics), which are then reported as they are."""
        results = self.get_metrics_result()
        if isinstance(step_logs, dict) and step_logs and set(step_logs) != set(results):
            return step_logs
        return results

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self):
        logs = {}
        for m in self.metrics:
            value = m.result()
            if isinstance(value, dict):
                logs.update(value)
            else:
                logs[m.name] = value
        return logs

    # --- steps (defaults follow each backend's convention) ---------------------------
    def train_step(self, *args):
        return self._trainer.train_step(self, *args)

    def test_step(self, *args):
        return self._trainer.test_step(self, *args)

    def predict_step(self, *args):
        return self._trainer.predict_step(self, *args)

    def zero_grad(self):
        """torch: clear the gradients of the trainable variables (as torch.nn.Module does)."""
        for v in self.trainable_variables:
            grad = getattr(v.value, "grad", None)
            if grad is not None:
                v.value.grad = None

    # --- the loops ------------------------------------------------------------------
    @_in_model_backend
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, backend=None):
        """Train for ``epochs`` over ``x``/``y`` (arrays, dicts, DataFrames, generators,
        PyDataset, tf.data, torch DataLoader). Returns the :class:`History`.

        ``backend`` (beyond Keras): train on another backend — a name, or ``"auto"`` for
        the one :func:`kbridge.backend.fastest` measures fastest for this model and batch
        (cached per model and machine; ``KBRIDGE_BACKEND=auto`` makes it the default). The
        model is copied there once, with its weights and compile settings; the trained
        weights are written back into this model when ``fit`` returns, and the copy (with
        its optimizer state) is kept for the next ``fit``.
        """
        from kbridge import data as data_module
        from kbridge.callbacks import CallbackList

        from kbridge import config

        self._assert_compiled()
        target = self._fit_backend(backend, x, y, sample_weight, batch_size)
        if target != self.backend_name:
            return self._fit_elsewhere(
                target, x=x, y=y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                callbacks=callbacks, validation_split=validation_split,
                validation_data=validation_data, shuffle=shuffle, class_weight=class_weight,
                sample_weight=sample_weight, initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                validation_batch_size=validation_batch_size, validation_freq=validation_freq)
        self._assert_trainable_backend()
        epochs, steps_per_epoch = config.fit_limits(epochs, steps_per_epoch)
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = data_module.train_validation_split(
                (x, y, sample_weight), validation_split)
        adapter = data_module.adapt(x, y, sample_weight, batch_size=batch_size,
                                    steps_per_epoch=steps_per_epoch, shuffle=shuffle,
                                    class_weight=class_weight)
        val_adapter = None
        if validation_data is not None:
            vx, vy, vsw = unpack_x_y_sample_weight(validation_data)
            val_adapter = data_module.adapt(vx, vy, vsw,
                                            batch_size=validation_batch_size or batch_size,
                                            steps_per_epoch=validation_steps, shuffle=False)
        self._maybe_build_from(adapter)
        steps = adapter.num_batches
        callbacks = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                 model=self, verbose=_verbosity(verbose), epochs=epochs,
                                 steps=steps)
        runner = self._runner("train")
        self.stop_training = False
        object.__setattr__(self, "_fit_runner", runner)
        try:
            return self._fit_epochs(runner, adapter, val_adapter, callbacks, initial_epoch,
                                    epochs, validation_freq)
        finally:
            object.__setattr__(self, "_fit_runner", None)

    def _fit_backend(self, backend, x, y, sample_weight, batch_size):
        """The backend ``fit`` trains on: ``backend``, or the measured fastest for "auto"."""
        from kbridge.backend.common import context

        if backend is None:
            if not context.auto_requested():
                return self.backend_name
            backend = "auto"
        if backend != "auto":
            return context.standardize_name(backend)
        sample = _sample_batch(x, y, sample_weight, batch_size)
        if sample is None:  # generators, datasets: nothing to time without consuming them
            return self.backend_name
        from kbridge.backend.common.selection import fastest

        ranking = fastest(self, sample, workload="train")
        for timing in ranking:
            if timing.seconds is not None:
                return timing.backend
        raise KbridgeError("fit(backend='auto'): no backend could train this model: "
                           + "; ".join(f"{t.backend}: {t.error}" for t in ranking))

    def _fit_elsewhere(self, backend, **fit_kwargs):
        """Train a copy of this model on ``backend``; write its weights back here."""
        from kbridge.models.cloning import convert

        copy = self.__dict__.get("_backend_copy")
        if copy is None or copy.backend_name != backend:
            copy = convert(self, backend)
            copy._compile_like(self)
            object.__setattr__(self, "_backend_copy", copy)
        else:
            copy.set_weights(self.get_weights())
        history = copy.fit(backend=backend, **fit_kwargs)
        self.set_weights(copy.get_weights())
        self.history = history
        return history

    def _fit_epochs(self, runner, adapter, val_adapter, callbacks, initial_epoch, epochs,
                    validation_freq):
        callbacks.on_train_begin()
        # BackupAndRestore sets these in on_train_begin when it resumes an interrupted fit:
        # the epoch to resume, and how many of its batches were trained before the backup.
        resumed_epoch = self.__dict__.pop("_initial_epoch", None)
        skip_steps = self.__dict__.pop("_initial_step", 0)
        if resumed_epoch is not None:
            initial_epoch = resumed_epoch
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            # After on_epoch_begin: callbacks there may set variables (LearningRateScheduler).
            runner.sync_from_model()
            for step, batches in adapter.enumerate_epoch(self.steps_per_execution):
                if step < skip_steps:  # trained before the backup this fit resumes from
                    continue
                callbacks.on_train_batch_begin(step)
                logs = runner(batches)
                if callbacks.needs_batch_logs:
                    callbacks.on_train_batch_end(step, _to_python(logs))
                if self.stop_training:
                    break
            skip_steps = 0
            runner.sync_to_model()
            epoch_logs = _to_python(self._metrics_or_step_logs(logs))
            if val_adapter is not None and _should_validate(epoch, validation_freq):
                val_logs = self._evaluate_adapter(val_adapter, callbacks=callbacks)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            logs = epoch_logs
            if self.stop_training:
                break
        # No sync here: the state was written back at the end of the last epoch, and
        # callbacks may have set weights since (EarlyStopping(restore_best_weights=True)).
        if self.optimizer is not None and epochs > initial_epoch:
            # With use_ema=True the model ends training holding the moving averages (Keras).
            self.optimizer.finalize_variable_values(self.trainable_weights)
        callbacks.on_train_end(logs)
        return self.history

    def _sync_state_for_callbacks(self):
        """Write the step's state into the Variables mid-epoch (jax keeps it in the runner).

        Callbacks that read weights on a batch (``save_freq=<int>``) call this first.
        """
        runner = getattr(self, "_fit_runner", None)
        if runner is not None:
            runner.sync_to_model()

    def _maybe_build_from(self, adapter):
        if self.built:
            return
        from kbridge.layers.layer import Layer

        if type(self).call is Layer.call:
            # No call(): a model driven by its own train_step (a GAN over sub-models built
            # on their own), as Keras allows. Nothing to build from a batch.
            self.built = True
            return
        batch = adapter.peek()
        x, _, _ = unpack_x_y_sample_weight(batch)
        self(x)

    def _evaluate_adapter(self, adapter, callbacks=None):
        self.reset_metrics()
        runner = self._runner("test")
        if callbacks:  # before reading the weights: SwapEMAWeights swaps the averages in
            callbacks.on_test_begin()
        runner.sync_from_model()
        logs = {}
        for step, batches in adapter.enumerate_epoch(self.steps_per_execution):
            if callbacks:
                callbacks.on_test_batch_begin(step)
            logs = runner(batches)
            if callbacks and callbacks.needs_batch_logs:
                callbacks.on_test_batch_end(step, _to_python(logs))
        runner.sync_to_model()
        logs = _to_python(self._metrics_or_step_logs(logs))
        if callbacks:
            callbacks.on_test_end(logs)
        return logs

    @_in_model_backend
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        """Loss and metrics over ``x``/``y``; a list (or dict with ``return_dict=True``)."""
        from kbridge import data as data_module
        from kbridge.callbacks import CallbackList

        self._assert_compiled()
        adapter = data_module.adapt(x, y, sample_weight, batch_size=batch_size,
                                    steps_per_epoch=steps, shuffle=False)
        self._maybe_build_from(adapter)
        callbacks = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                 verbose=_verbosity(verbose), epochs=1,
                                 steps=adapter.num_batches)
        logs = self._evaluate_adapter(adapter, callbacks=callbacks)
        if return_dict:
            return logs
        values = [logs[name] for name in logs]
        return values[0] if len(values) == 1 else values

    @_in_model_backend
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs over ``x`` in batches, concatenated as numpy arrays."""
        from kbridge import data as data_module
        from kbridge.callbacks import CallbackList

        adapter = data_module.adapt(x, None, None, batch_size=batch_size, steps_per_epoch=steps,
                                    shuffle=False)
        self._maybe_build_from(adapter)
        callbacks = CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                 verbose=_verbosity(verbose), epochs=1,
                                 steps=adapter.num_batches)
        runner = self._runner("predict")
        callbacks.on_predict_begin()
        runner.sync_from_model()
        outputs = []
        for step, batches in adapter.enumerate_epoch(self.steps_per_execution):
            callbacks.on_predict_batch_begin(step)
            batch_out = runner(batches)
            outputs.extend(batch_out)
            if callbacks.needs_batch_logs:
                callbacks.on_predict_batch_end(step, {"outputs": batch_out[-1]})
        callbacks.on_predict_end()
        return _concat(outputs)

    @_in_model_backend
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One optimisation step on one batch; returns the logs after it."""
        self._assert_trainable_backend()
        self._assert_compiled()
        logs = self._run_on_batch("train", x, y, sample_weight, class_weight)
        return _format_logs(_to_python(logs), return_dict)

    @_in_model_backend
    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._assert_compiled()
        logs = self._run_on_batch("test", x, y, sample_weight)
        return _format_logs(_to_python(logs), return_dict)

    @_in_model_backend
    def predict_on_batch(self, x):
        return _concat(self._run_on_batch("predict", x))

    def _run_on_batch(self, kind, x, y=None, sample_weight=None, class_weight=None):
        """What the ``kind`` ("train", "test" or "predict") step returns for one batch."""
        from kbridge import data as data_module

        adapter = data_module.adapt(x, y, sample_weight, batch_size=None, shuffle=False,
                                    class_weight=class_weight, single_batch=True)
        self._maybe_build_from(adapter)
        if kind == "test":
            self.reset_metrics()  # the logs are of this batch alone
        runner = self._runner(kind)
        runner.sync_from_model()
        outputs = runner([adapter.peek()])
        if kind != "predict":
            runner.sync_to_model()
        return outputs


# compile() arguments that get_compile_config serializes (the others are plain values).
_SERIALIZED_COMPILE_ARGS = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics")


def _fresh(value):
    """A new object configured as ``value`` (stateful optimizers and metrics must not be
    shared between two models); strings and functions are returned as they are."""
    if isinstance(value, (list, tuple)):
        return type(value)(_fresh(v) for v in value)
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if hasattr(value, "get_config") and hasattr(type(value), "from_config"):
        return type(value).from_config(value.get_config())
    return value


def _sample_batch(x, y, sample_weight, batch_size):
    """The first batch of in-memory ``fit`` data, as ``(x, y, sample_weight)``, for timing;
    None for data that cannot be sliced without consuming it (generators, datasets)."""
    import kbridge.tree as tree

    leaves = [v for v in tree.flatten((x, y, sample_weight)) if v is not None]
    if not leaves or not all(isinstance(v, np.ndarray) or hasattr(v, "__array__")
                             and hasattr(v, "shape") and len(v.shape) for v in leaves):
        return None
    size = batch_size or 32
    head = lambda v: None if v is None else tree.map_structure(  # noqa: E731
        lambda a: np.asarray(a[:size]), v)
    return head(x), head(y), head(sample_weight)


def _verbosity(verbose):
    return 1 if verbose == "auto" else int(verbose)


def _should_validate(epoch, freq):
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


def _to_python(logs):
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(np.asarray(_numpy(v)))
        except (TypeError, ValueError):
            out[k] = v
    return out


def _numpy(value):
    from kbridge import ops

    if isinstance(value, (int, float)):
        return value
    return ops.convert_to_numpy(value)


def _format_logs(logs, return_dict):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _concat(outputs):
    """Concatenate per-batch outputs (arrays, or lists/dicts of arrays) along the batch."""
    if not outputs:
        return None
    first = outputs[0]
    if isinstance(first, dict):
        return {k: np.concatenate([np.asarray(_numpy(o[k])) for o in outputs]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(np.concatenate([np.asarray(_numpy(o[i])) for o in outputs])
                           for i in range(len(first)))
    return np.concatenate([np.asarray(_numpy(o)) for o in outputs])
