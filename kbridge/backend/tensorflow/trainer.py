"""TensorFlow steps: a ``GradientTape`` inside ``tf.function`` (eager with run_eagerly=True).

A custom ``train_step(self, data)`` on a tensorflow-backend model looks like::

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        grads = tape.gradient(loss, [v.value for v in self.trainable_weights])
        self.optimizer.apply(grads, self.trainable_weights)
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        return self.compute_metrics(x, y, y_pred)
"""

import tensorflow as tf

from kbridge.backend.common import trainer_utils
from kbridge.backend.common.trainer_utils import (  # noqa: F401 (predict_step is this backend's)
    EagerRunner,
    ensure_optimizer_built,
    predict_step,
)
from kbridge.backend.tensorflow import distribution_lib
from kbridge.backend.tensorflow.core import convert_to_tensor
from kbridge.backend.common.structure import flatten as _flatten
from kbridge.trainers.trainer import Trainer, unpack_x_y_sample_weight


def _batch_size(x):
    return tf.shape(_flatten(x)[0])[0]


def train_step(model, data):
    x, y, sample_weight = unpack_x_y_sample_weight(data)
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model._compute_loss(x, y, y_pred, sample_weight, training=True)
        scaled = model.optimizer.scale_loss(loss) if model.optimizer is not None else loss
    model._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
    trainable = model.trainable_weights
    if trainable:
        grads = tape.gradient(scaled, [v.value for v in trainable])
        model.optimizer.apply(grads, trainable)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def test_step(model, data):
    return trainer_utils.test_step(model, data, _batch_size)


def _compiled(model, step):
    if model.run_eagerly:
        return step
    # autograph=False: kbridge's layers branch on static shapes only, and rewriting them
    # into graph control flow is slow to trace and can change what they do.
    return tf.function(step, reduce_retracing=True, jit_compile=bool(model.jit_compile),
                       autograph=False)


def make_train_function(model):
    ensure_optimizer_built(model)
    if distribution_lib.current() is not None and type(model).train_step is Trainer.train_step:
        # kbridge.distribution.DataParallel: tf.distribute.MirroredStrategy
        step = distribution_lib.make_train_step(model, distribution_lib.current())
        return EagerRunner(step, convert_to_tensor)
    return EagerRunner(_compiled(model, model.train_step), convert_to_tensor)


def make_test_function(model):
    return EagerRunner(_compiled(model, model.test_step), convert_to_tensor)


def make_predict_function(model):
    return EagerRunner(_compiled(model, model.predict_step), convert_to_tensor,
                       collect_outputs=True)
