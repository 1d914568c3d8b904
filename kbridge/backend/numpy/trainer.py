"""numpy has no gradients: ``evaluate`` and ``predict`` only (``fit`` explains this)."""

from kbridge.backend.common.trainer_utils import EagerRunner, batch_size_of
from kbridge.backend.numpy.core import convert_to_tensor
from kbridge.errors import KbridgeError
from kbridge.trainers.trainer import unpack_x_y_sample_weight


def train_step(model, data):
    raise KbridgeError("The numpy backend cannot train (it has no gradients). Use jax, torch "
                       "or tensorflow: kbridge.convert(model, 'jax').")


def test_step(model, data):
    x, y, sample_weight = unpack_x_y_sample_weight(data)
    y_pred = model(x, training=False)
    loss = model._compute_loss(x, y, y_pred, sample_weight, training=False)
    model._loss_tracker.update_state(loss, sample_weight=batch_size_of(x))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def predict_step(model, data):
    x, _, _ = unpack_x_y_sample_weight(data)
    return model(x, training=False)


def make_train_function(model):
    return EagerRunner(model.train_step, convert_to_tensor)


def make_test_function(model):
    return EagerRunner(model.test_step, convert_to_tensor)


def make_predict_function(model):
    return EagerRunner(model.predict_step, convert_to_tensor, collect_outputs=True)
