"""Distillation losses: how a student's outputs are compared with its teacher's."""

from kbridge import ops, tree
from kbridge.errors import ArgumentError, KbridgeError
from kbridge.saving import registry


def _loss_function(item):
    """A loss from a name ("mse", "kl_divergence"), a loss object or None."""
    if item is None or not isinstance(item, str):
        return item
    from kbridge import losses

    try:
        return losses.get(item)
    except ValueError:
        raise ArgumentError(f"Unknown loss function: {item!r}.") from None


def _sum_losses(values):
    """The sum of the non-None scalar losses."""
    kept = [v for v in tree.flatten(values) if v is not None]
    total = kept[0]
    for v in kept[1:]:
        total = ops.add(total, v)
    return total


def _serialize_losses(loss):
    return tree.map_structure(lambda l: None if l is None else registry.serialize(l), loss)


def _deserialize_losses(config):
    from kbridge import losses

    if isinstance(config, dict) and "class_name" in config:
        return losses.deserialize(config)
    if isinstance(config, (list, tuple)):
        return type(config)(_deserialize_losses(c) for c in config)
    if isinstance(config, dict):
        return {k: _deserialize_losses(v) for k, v in config.items()}
    return None if config is None else losses.deserialize(config)


class DistillationLoss(registry.Registered):
    """Base class of distillation losses: override :meth:`compute_loss`.

    Example:
        >>> class L1Logits(kbridge.distillation.DistillationLoss):
        ...     def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        ...         return kbridge.ops.mean(kbridge.ops.abs(teacher_outputs - student_outputs))
    """

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """The scalar loss between teacher and student outputs (same structure)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement compute_loss(teacher_outputs, "
            "student_outputs, **kwargs).")

    def validate_outputs(self, teacher_outputs, student_outputs):
        """Raise ``ValueError`` unless the outputs nest the same way."""
        tree.assert_same_structure(teacher_outputs, student_outputs)

    def validate_model_compatibility(self, teacher, student):
        """Raise ``ValueError`` if this loss cannot compare these models (default: any)."""


def _check_losses(loss, message):
    if all(l is None for l in tree.flatten(loss)):
        raise ArgumentError(message)


class FeatureDistillation(DistillationLoss):
    """Match intermediate features: ``loss(teacher_features, student_features)``.

    Args:
        loss: a loss name, a loss object, a nested structure of them matching the features
            (``None`` skips a feature), at least one not None.
        teacher_layer_name: the teacher layer whose output is used (None: the final output).
        student_layer_name: the student layer whose output is used (None: the final output).

    Example:
        >>> kbridge.distillation.FeatureDistillation(
        ...     loss="mse", teacher_layer_name="hidden", student_layer_name="hidden")
    """

    def __init__(self, loss="mse", teacher_layer_name=None, student_layer_name=None):
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = tree.map_structure(_loss_function, loss)
        _check_losses(self.loss, "The `loss` argument in `FeatureDistillation` must contain "
                                 "at least one non-`None` value.")

    def validate_model_compatibility(self, teacher, student):
        if self.teacher_layer_name is None and self.student_layer_name is None:
            return
        subclassed = [role for role, m in (("teacher", teacher), ("student", student))
                      if getattr(m, "inputs", None) is None]
        if subclassed:
            raise ArgumentError(
                "FeatureDistillation with specific layer names requires Functional or "
                f"Sequential models. The {' and '.join(subclassed)} model(s) appear to be "
                "subclassed (no symbolic inputs/outputs). Either use Functional/Sequential "
                "models, or use FeatureDistillation without layer names (to distill final "
                "outputs only), or use LogitsDistillation instead.")
        for role, model, name in (("teacher", teacher, self.teacher_layer_name),
                                  ("student", student, self.student_layer_name)):
            if name is not None:
                try:
                    model.get_layer(name=name)
                except (ValueError, KbridgeError) as e:  # get_layer's error for a bad name
                    raise ArgumentError(f"In {role} model: {e}") from None

    def validate_outputs(self, teacher_outputs, student_outputs):
        super().validate_outputs(teacher_outputs, student_outputs)
        try:
            tree.assert_same_structure(self.loss, teacher_outputs)
        except ValueError as e:
            raise ArgumentError(
                "Loss structure mismatch: the `loss` structure must match the features. "
                f"Error: {e}") from None

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """Sum over features of ``mean(loss(teacher_feature, student_feature))``."""
        values = tree.map_structure(
            lambda fn, t, s: None if fn is None else ops.mean(fn(t, s)),
            self.loss, teacher_outputs, student_outputs)
        return _sum_losses(values)

    def get_config(self):
        return {"loss": _serialize_losses(self.loss),
                "teacher_layer_name": self.teacher_layer_name,
                "student_layer_name": self.student_layer_name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = _deserialize_losses(config["loss"])
        return cls(**config)


class LogitsDistillation(DistillationLoss):
    """Match final logits, both divided by ``temperature`` first.

    With a ``kbridge.losses.KLDivergence`` object, the loss compares the softmax
    distributions and is multiplied by ``temperature ** 2`` (Hinton et al., 2015). Any other
    loss -- including the default *name* ``"kl_divergence"``, which resolves to the function
    -- is applied to the scaled logits as they are, as in Keras 3.

    Args:
        temperature: the positive softening temperature.
        loss: a loss name, a loss object or a nested structure of them (``None`` skips an
            output), at least one not None.

    Example:
        >>> kbridge.distillation.LogitsDistillation(
        ...     temperature=4.0, loss=kbridge.losses.KLDivergence())
    """

    def __init__(self, temperature=3.0, loss="kl_divergence"):
        self.temperature = temperature
        self.loss = tree.map_structure(_loss_function, loss)
        _check_losses(self.loss, "At least one loss must be non-`None`.")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise ArgumentError(f"`temperature` must be a number. Received: "
                                f"temperature={temperature!r}")
        if temperature <= 0.0:
            raise ArgumentError(f"`temperature` must be positive. Received: "
                                f"temperature={temperature}")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """Sum over outputs of the loss between the temperature-scaled logits."""
        from kbridge import losses

        t = self.temperature
        teacher = tree.map_structure(lambda x: ops.divide(x, t), teacher_outputs)
        student = tree.map_structure(lambda x: ops.divide(x, t), student_outputs)

        def one(fn, teacher_logits, student_logits):
            if fn is None:
                return None
            if isinstance(fn, losses.KLDivergence):
                value = ops.mean(fn(ops.softmax(teacher_logits, axis=-1),
                                    ops.softmax(student_logits, axis=-1)))
                return ops.multiply(value, t ** 2)
            return ops.mean(fn(teacher_logits, student_logits))

        return _sum_losses(tree.map_structure(one, self.loss, teacher, student))

    def get_config(self):
        return {"temperature": self.temperature, "loss": _serialize_losses(self.loss)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = _deserialize_losses(config["loss"])
        return cls(**config)
