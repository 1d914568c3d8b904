"""``kbridge.optimizers``: Keras 3 optimizers and learning-rate schedules on every backend.

Example:
    >>> opt = kbridge.optimizers.get("adam")
    >>> opt = kbridge.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.01, clipnorm=1.0)
    >>> opt.apply(grads, model.trainable_variables)
"""

from kbridge.optimizers import legacy, schedules
from kbridge.optimizers.adam import Adam, Adamax, AdamW, Lamb, Nadam
from kbridge.optimizers.adaptive import Adadelta, Adafactor, Adagrad, RMSprop
from kbridge.optimizers.base_optimizer import Optimizer, OptimizerError
from kbridge.optimizers.ftrl import Ftrl
from kbridge.optimizers.loss_scale_optimizer import LossScaleOptimizer
from kbridge.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from kbridge.optimizers.muon import Muon
from kbridge.optimizers.schedule_free_adamw import ScheduleFreeAdamW
from kbridge.optimizers.sgd import SGD, Lion
from kbridge.saving import registry

__all__ = [
    "SGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lamb",
    "Lion", "LossScaleOptimizer", "MultiOptimizer", "Muon", "Nadam", "Optimizer",
    "OptimizerError", "OptimizerMap", "RMSprop", "ScheduleFreeAdamW", "deserialize", "get",
    "legacy", "schedules", "serialize",
]

_BY_NAME = {cls.__name__.lower(): cls for cls in (
    SGD, Adadelta, Adafactor, Adagrad, Adam, AdamW, Adamax, Ftrl, Lamb, Lion, Muon, Nadam,
    RMSprop, ScheduleFreeAdamW)}


def serialize(optimizer):
    """An optimizer as a config dict (``{"class_name", "config", ...}``)."""
    return registry.serialize(optimizer)


_OWN = {cls.__name__: cls for cls in (
    SGD, Adadelta, Adafactor, Adagrad, Adam, AdamW, Adamax, Ftrl, Lamb, Lion, LossScaleOptimizer,
    MultiOptimizer, Muon, Nadam, OptimizerMap, RMSprop, ScheduleFreeAdamW)}


def deserialize(config, custom_objects=None):
    """Build an optimizer from :func:`serialize`'s dict (optimizer names first, as Keras
    resolves names within the namespace)."""
    return registry.deserialize(config, custom_objects={**_OWN, **(custom_objects or {})})


def get(identifier):
    """An optimizer from a name ("adam", "SGD"), a config dict or an instance.

    Example:
        >>> kbridge.optimizers.get("rmsprop")
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower()) or registry.get_registered_object(identifier)
        if cls is None or not (isinstance(cls, type) and issubclass(cls, Optimizer)):
            raise OptimizerError(
                f"Unknown optimizer {identifier!r}. Known: {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, dict):
        optimizer = deserialize(identifier)
        if isinstance(optimizer, Optimizer):
            return optimizer
    raise OptimizerError(f"Could not interpret optimizer identifier: {identifier!r}")
