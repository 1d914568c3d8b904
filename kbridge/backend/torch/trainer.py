"""PyTorch steps: eager autograd (``loss.backward()``), optionally ``torch.compile``.

A custom ``train_step(self, data)`` on a torch-backend model looks like::

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        loss.backward()
        grads = [v.value.grad for v in self.trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(grads, self.trainable_weights)
        self._loss_tracker.update_state(loss, sample_weight=x.shape[0])
        return self.compute_metrics(x, y, y_pred)
"""

import torch

from kbridge.backend.common import trainer_utils
from kbridge.backend.common.trainer_utils import (
    EagerRunner,
    batch_size_of,
    ensure_optimizer_built,
)
from kbridge.backend.torch import distribution_lib
from kbridge.backend.torch.core import convert_to_tensor
from kbridge.trainers.trainer import unpack_x_y_sample_weight


def train_step(model, data):
    x, y, sample_weight = unpack_x_y_sample_weight(data)
    model.zero_grad()
    y_pred = model(x, training=True)
    loss = model._compute_loss(x, y, y_pred, sample_weight, training=True)
    model._loss_tracker.update_state(loss.detach(), sample_weight=batch_size_of(x))
    trainable = model.trainable_weights
    if trainable:
        model.optimizer.scale_loss(loss).backward()  # loss scaling: apply() divides back
        grads = [v.value.grad for v in trainable]
        with torch.no_grad():
            model.optimizer.apply(grads, trainable)
    with torch.no_grad():
        return model.compute_metrics(x, y, y_pred.detach() if torch.is_tensor(y_pred) else y_pred,
                                     sample_weight=sample_weight)


def test_step(model, data):
    with torch.no_grad():
        return trainer_utils.test_step(model, data)


def predict_step(model, data):
    with torch.no_grad():
        return trainer_utils.predict_step(model, data)


def make_train_function(model):
    ensure_optimizer_built(model)
    step = model.train_step
    if distribution_lib.ddp_active(model):  # kbridge.distribution.DataParallel: DDP
        step = distribution_lib.DDPTrainStep(model)
    if model.jit_compile:
        step = torch.compile(step)
    return EagerRunner(step, convert_to_tensor)


def make_test_function(model):
    return EagerRunner(model.test_step, convert_to_tensor)


def make_predict_function(model):
    return EagerRunner(model.predict_step, convert_to_tensor, collect_outputs=True)
