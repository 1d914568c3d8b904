"""numpy has no gradients: ``evaluate`` and ``predict`` only (``fit`` explains this)."""

from kbridge.backend.common.trainer_utils import (  # noqa: F401 (the steps are this backend's)
    EagerRunner,
    predict_step,
    test_step,
)
from kbridge.backend.numpy.core import convert_to_tensor
from kbridge.errors import KbridgeError


def train_step(model, data):
    raise KbridgeError("The numpy backend cannot train (it has no gradients). Use jax, torch "
                       "or tensorflow: kbridge.convert(model, 'jax').")


def make_train_function(model):
    return EagerRunner(model.train_step, convert_to_tensor)


def make_test_function(model):
    return EagerRunner(model.test_step, convert_to_tensor)


def make_predict_function(model):
    return EagerRunner(model.predict_step, convert_to_tensor, collect_outputs=True)
