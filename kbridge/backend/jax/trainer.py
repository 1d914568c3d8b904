"""JAX steps: pure functions of the model state, compiled once with ``jax.jit``.

The state is four lists of arrays, in the order of ``model.trainable_variables``,
``model.non_trainable_variables``, ``model.optimizer.variables`` and
``model.metrics_variables``. It is read from the model's Variables when an epoch starts and
written back when it ends (or when fit/evaluate returns), so the compiled step never touches
Python objects. A custom step keeps Keras's JAX signature::

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        x, y = data
        def loss_fn(trainable, non_trainable):
            y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x,
                                                        training=True)
            loss, _ = self.stateless_compute_loss(trainable, non_trainable, metrics_vars,
                                                  x=x, y=y, y_pred=y_pred)
            return loss, (y_pred, non_trainable)
        (loss, (y_pred, non_trainable)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable, non_trainable)
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads,
                                                                   trainable)
        ...
        return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)
"""

import jax
import numpy as np
import jax.numpy as jnp

from kbridge.backend.common import trainer_utils
from kbridge.backend.common.stateless import StatelessScope
from kbridge.backend.common.trainer_utils import (
    batch_size_of,
    ensure_optimizer_built,
    to_backend,
)
from kbridge.backend.jax import distribution_lib as dist
from kbridge.backend.jax.core import convert_to_tensor
from kbridge.trainers.trainer import unpack_x_y_sample_weight


def _scope(model, trainable=None, non_trainable=None, metrics=None, optimizer=None):
    pairs = []
    if trainable is not None:
        pairs += zip(model.trainable_variables, trainable)
    if non_trainable is not None:
        pairs += zip(model.non_trainable_variables, non_trainable)
    if metrics is not None:
        pairs += zip(model.metrics_variables, metrics)
    if optimizer is not None:
        pairs += zip(model.optimizer.variables, optimizer)
    return StatelessScope(pairs)


def _finals(scope, variables):
    return [scope.final_value(v) for v in variables]


def train_step(model, state, data):
    trainable, non_trainable, optimizer_vars, metrics_vars = state
    x, y, sample_weight = unpack_x_y_sample_weight(data)

    def loss_and_updates(trainable, non_trainable, metrics_vars):
        with _scope(model, trainable, non_trainable, metrics_vars) as scope:
            y_pred = model(x, training=True)
            loss = model._compute_loss(x, y, y_pred, sample_weight, training=True)
            model._loss_tracker.update_state(loss, sample_weight=batch_size_of(x))
        if model.optimizer is not None:  # differentiate the scaled loss (loss scaling)
            with _scope(model, optimizer=optimizer_vars):
                loss = model.optimizer.scale_loss(loss)
        return loss, (y_pred, _finals(scope, model.non_trainable_variables),
                      _finals(scope, model.metrics_variables))

    grad_fn = jax.value_and_grad(loss_and_updates, has_aux=True)
    (_, (y_pred, non_trainable, metrics_vars)), grads = grad_fn(trainable, non_trainable,
                                                                metrics_vars)
    if trainable:
        trainable, optimizer_vars = model.optimizer.stateless_apply(optimizer_vars, grads,
                                                                    trainable)
    with _scope(model, trainable, non_trainable, metrics_vars) as scope:
        logs = model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    metrics_vars = _finals(scope, model.metrics_variables)
    return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)


def test_step(model, state, data):
    trainable, non_trainable, metrics_vars = state
    with _scope(model, trainable, non_trainable, metrics_vars) as scope:
        logs = trainer_utils.test_step(model, data)
    return logs, (trainable, _finals(scope, model.non_trainable_variables),
                  _finals(scope, model.metrics_variables))


def predict_step(model, state, data):
    trainable, non_trainable = state
    with _scope(model, trainable, non_trainable) as scope:
        y_pred = trainer_utils.predict_step(model, data)
    return y_pred, (trainable, _finals(scope, model.non_trainable_variables))


class JaxRunner:
    """Threads the model state through a jitted step; syncs it with the Variables."""

    def __init__(self, model, kind):
        self.model = model
        self.kind = kind
        step = {"train": model.train_step, "test": model.test_step,
                "predict": model.predict_step}[kind]
        collect = kind == "predict"

        def run(state, batches):
            results = []
            for batch in batches:
                result, state = step(state, batch)
                results.append(result)
            if self._shardings is not None:  # under a distribution: keep each layout
                state = dist.constrain(state, self._shardings[:len(state)])
            if collect:  # predict: the weights pass through; returning them copies them
                return results, state[1:]
            return results[-1], state

        # Train and test steps donate the state they are given: XLA writes the new weights,
        # optimizer slots and metric totals into the old buffers instead of allocating.
        donate = (0,) if kind != "predict" else ()
        self.fn = jax.jit(run, donate_argnums=donate) if model.jit_compile else run
        self.state = None
        self._shardings = None  # the state's NamedShardings under a distribution
        self._shared = False  # whether ``state`` holds the Variables' own buffers

    def _variables(self):
        model = self.model
        groups = [model.trainable_variables, model.non_trainable_variables]
        if self.kind == "train":
            groups.append(model.optimizer.variables)
        if self.kind in ("train", "test"):
            groups.append(model.metrics_variables)
        return groups

    def sync_from_model(self):
        groups = self._variables()
        self._shardings = dist.state_shardings(groups, dist.current())
        self.state = tuple([v.value for v in group] for group in groups)
        if self._shardings is not None:
            self.state = jax.device_put(self.state, self._shardings)
        self._shared = True

    def sync_to_model(self):
        if self.state is None:
            return
        for group, values in zip(self._variables(), self.state):
            for v, value in zip(group, values):
                v.assign(value)
        self._shared = True

    def __call__(self, batches):
        # A jitted step takes numpy batches as they are: its own argument transfer is far
        # cheaper than a device_put per array first.
        convert = _numpy_or_tensor if self.model.jit_compile else convert_to_tensor
        batches = [to_backend(b, convert) for b in batches]
        if self._shardings is not None:
            batches = [dist.distribute_batch(b, dist.current()) for b in batches]
        if self._shared and self.model.jit_compile and self.kind != "predict":
            # The Variables hold these buffers: donate copies, never the Variables' own.
            self.state = jax.tree.map(jnp.copy, self.state)
            self._shared = False
        result, state = self.fn(self.state, batches)
        self.state = (self.state[0], *state) if self.kind == "predict" else state
        return result


def _numpy_or_tensor(x):
    if isinstance(x, np.ndarray) and x.dtype.kind in "biufc":
        return x
    return convert_to_tensor(x)


def make_train_function(model):
    ensure_optimizer_built(model)
    return JaxRunner(model, "train")


def make_test_function(model):
    return JaxRunner(model, "test")


def make_predict_function(model):
    return JaxRunner(model, "predict")
