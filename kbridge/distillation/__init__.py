"""``kbridge.distillation``: knowledge distillation (Keras 3's ``keras.distillation``).

A :class:`Distiller` is a model that trains a student on labels and on what a frozen teacher
outputs, through the losses of :class:`LogitsDistillation` (final outputs, temperature-scaled)
and :class:`FeatureDistillation` (intermediate layers), or a custom :class:`DistillationLoss`.

Example:
    >>> distiller = kbridge.distillation.Distiller(
    ...     teacher, student, kbridge.distillation.LogitsDistillation(temperature=3.0))
    >>> distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> distiller.fit(x, y, epochs=3)
    >>> trained = distiller.student
"""

from kbridge.distillation.distillation_loss import (
    DistillationLoss,
    FeatureDistillation,
    LogitsDistillation,
)
from kbridge.distillation.distiller import Distiller

__all__ = ["DistillationLoss", "Distiller", "FeatureDistillation", "LogitsDistillation"]
