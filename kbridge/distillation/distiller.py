"""``Distiller``: a model that trains a student on labels and on a frozen teacher."""

from kbridge import ops, tree
from kbridge.backend.common import context
from kbridge.distillation.distillation_loss import _loss_function
from kbridge.errors import ArgumentError
from kbridge.models.model import Model
from kbridge.saving import registry


def _is_model(obj):
    return isinstance(obj, Model)


class _FeatureExtractor:
    """Runs a Functional or Sequential model once and returns its final output and the
    outputs of the named layers: ``{"final_output": ..., name: ...}``."""

    def __init__(self, model, layer_names):
        if getattr(model, "inputs", None) is None:
            raise ArgumentError(f"Cannot create feature extractor for {model.name}. The model "
                                "has no symbolic inputs attribute.")
        self.model = model
        self.layer_names = list(layer_names)
        self.functional = None
        graph_nodes = getattr(model, "_graph_nodes", None)
        if graph_nodes is not None:  # Functional: a second graph over the same layers
            from kbridge.models.functional import Functional

            outputs = {"final_output": model.output}
            for name in self.layer_names:
                layer = model.get_layer(name=name)
                node = next(n for n in graph_nodes if n.layer is layer)
                outputs[name] = node.outputs
            with context.use(model.backend_name):
                self.functional = Functional(model.input, outputs,
                                             name=f"{model.name}_multi_feature_extractor")
        else:
            for name in self.layer_names:
                model.get_layer(name=name)  # fails now for an unknown name

    def __call__(self, x, training=False):
        if self.functional is not None:
            return self.functional(x, training=training)
        # Sequential: run the layers in order, keeping the named ones' outputs.
        features = {}
        for layer in self.model.layers:
            x = layer(x, training=training)
            if layer.name in self.layer_names:
                features[layer.name] = x
        features["final_output"] = x
        return features


class Distiller(Model):
    """Train ``student`` to match a frozen ``teacher`` as well as the labels.

    The loss is ``student_loss_weight * student_loss + (1 - student_loss_weight) *
    sum_i(weight_i * distillation_loss_i)``, where ``student_loss`` is the compiled loss on
    the labels (averaged over the batch; sample weights are not used, as in Keras). The
    teacher is set ``trainable = False``; calling the distiller runs the student. Logs
    report ``student_loss``, ``distillation_loss`` and ``total_loss`` besides ``loss``.

    Args:
        teacher: a trained model, frozen here.
        student: the model to train (same input and output shapes and dtypes).
        distillation_losses: a :class:`DistillationLoss` or a list of them.
        distillation_loss_weights: one weight per distillation loss (default: all 1).
        student_loss_weight: in [0, 1], the share of the supervised loss.
        name: the model's name.

    Example:
        >>> distiller = kbridge.distillation.Distiller(
        ...     teacher=teacher, student=student,
        ...     distillation_losses=[kbridge.distillation.LogitsDistillation(3.0),
        ...                          kbridge.distillation.FeatureDistillation(
        ...                              teacher_layer_name="h", student_layer_name="h")],
        ...     distillation_loss_weights=[1.0, 0.5])
        >>> distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        >>> distiller.fit(x, y, epochs=5)
    """

    def __init__(self, teacher, student, distillation_losses, distillation_loss_weights=None,
                 student_loss_weight=0.5, name="distiller", **kwargs):
        with context.use(getattr(student, "backend_name", None) or context.get()):
            super().__init__(name=name, **kwargs)
        self._validate_models(teacher, student)
        self.teacher = teacher
        self.student = student
        if isinstance(student_loss_weight, bool) or not isinstance(student_loss_weight,
                                                                   (int, float)):
            raise ArgumentError("`student_loss_weight` must be a number. Received: "
                                f"student_loss_weight={student_loss_weight!r}")
        if not 0.0 <= student_loss_weight <= 1.0:
            raise ArgumentError("`student_loss_weight` must be between 0.0 and 1.0. Received: "
                                f"student_loss_weight={student_loss_weight}")
        self.student_loss_weight = student_loss_weight
        if distillation_losses is None:
            raise ArgumentError(
                "'distillation_losses' cannot be `None`. Provide a distillation loss (e.g., "
                "LogitsDistillation or FeatureDistillation) or a list of distillation losses.")
        if not isinstance(distillation_losses, (list, tuple)):
            distillation_losses, distillation_loss_weights = [distillation_losses], [1.0]
        elif distillation_loss_weights is None:
            distillation_loss_weights = [1.0] * len(distillation_losses)
        elif len(distillation_loss_weights) != len(distillation_losses):
            raise ArgumentError(
                f"Number of distillation_loss_weights ({len(distillation_loss_weights)}) must "
                f"match number of distillation_losses ({len(distillation_losses)}).")
        # Plain attributes: the losses hold no weights to track.
        object.__setattr__(self, "distillation_losses", list(distillation_losses))
        object.__setattr__(self, "distillation_loss_weights", list(distillation_loss_weights))
        for loss in self.distillation_losses:
            loss.validate_model_compatibility(teacher, student)
        self._create_multi_feature_extractors()
        self.teacher.trainable = False

        from kbridge import metrics

        with context.use(self.backend_name):
            self.student_loss_tracker = metrics.Mean(name="student_loss")
            self.distillation_loss_tracker = metrics.Mean(name="distillation_loss")
            self.total_loss_tracker = metrics.Mean(name="total_loss")

    # --- validation ------------------------------------------------------------------
    def _validate_models(self, teacher, student):
        for role, model in (("Teacher", teacher), ("Student", student)):
            if not _is_model(model):
                raise ArgumentError(f"{role} must be a kbridge.Model. Received: "
                                    f"{type(model).__name__}")
        if teacher.backend_name != student.backend_name:
            raise ArgumentError(
                f"Teacher and student must be on the same backend. Teacher: "
                f"{teacher.backend_name}, Student: {student.backend_name}. Convert one with "
                "kbridge.convert(model, backend).")
        for what in ("inputs", "outputs"):
            t_tensors, s_tensors = getattr(teacher, what, None), getattr(student, what, None)
            if t_tensors is None or s_tensors is None:
                continue
            context_name = what[:-1]
            t_flat, s_flat = tree.flatten(t_tensors), tree.flatten(s_tensors)
            if len(t_flat) != len(s_flat):
                raise ArgumentError(f"Teacher and student have a different number of "
                                    f"{what}: {len(t_flat)} and {len(s_flat)}.")
            for t, s in zip(t_flat, s_flat):
                self._assert_shapes_are_compatible(tuple(t.shape), tuple(s.shape), context_name)
                if str(t.dtype) != str(s.dtype):
                    raise ArgumentError(f"Teacher and student {context_name} dtypes must "
                                        f"match. Teacher: {t.dtype}, Student: {s.dtype}.")

    @staticmethod
    def _assert_shapes_are_compatible(shape1, shape2, what):
        compatible = len(shape1) == len(shape2) and all(
            a is None or b is None or a == b for a, b in zip(shape1, shape2))
        if not compatible:
            raise ArgumentError(f"Teacher and student {what} shapes are incompatible. "
                                f"Teacher: {shape1}, Student: {shape2}. All dimensions must "
                                "match.")

    # --- features --------------------------------------------------------------------
    def _create_multi_feature_extractors(self):
        def names(attr):
            out = []
            for loss in self.distillation_losses:
                name = getattr(loss, attr, None)
                if name and name not in out:
                    out.append(name)
            return out

        teacher_names, student_names = names("teacher_layer_name"), names("student_layer_name")
        # Not Layer attributes: the extractors reuse the teacher's and student's layers.
        object.__setattr__(self, "_teacher_feature_extractor",
                           _FeatureExtractor(self.teacher, teacher_names)
                           if teacher_names else None)
        object.__setattr__(self, "_student_feature_extractor",
                           _FeatureExtractor(self.student, student_names)
                           if student_names else None)

    def _teacher_features(self, x):
        if self._teacher_feature_extractor is not None:
            return self._teacher_feature_extractor(x, training=False)
        return {"final_output": self.teacher(x, training=False)}

    def _student_features(self, x, y_pred):
        if self._student_feature_extractor is not None:
            return self._student_feature_extractor(x, training=True)
        return {"final_output": y_pred}

    @staticmethod
    def _pick(features, layer_name, role, loss):
        key = layer_name or "final_output"
        if key not in features:
            raise ArgumentError(
                f"Failed to extract features for {type(loss).__name__}: {role} layer "
                f"'{key}' not found. Available: {list(features)}")
        return features[key]

    # --- training --------------------------------------------------------------------
    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Compile for distillation: ``loss`` is the student's supervised loss (required).

        Example:
            >>> distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
            ...                   metrics=["accuracy"])
        """
        if loss is None:
            raise ArgumentError("'loss' cannot be `None`: it is the student's supervised loss.")
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ArgumentError(f"`metrics` must be a list or tuple. Received: "
                                f"{type(metrics).__name__}")
        object.__setattr__(self, "_student_loss", tree.map_structure(_loss_function, loss))
        object.__setattr__(self, "_student_loss_for_serialization", loss)
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def call(self, inputs, training=None, **kwargs):
        return self.student(inputs, training=training, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """``student_loss_weight * student_loss + (1 - student_loss_weight) *
        weighted distillation losses``; updates the three loss trackers."""
        if y_pred is None:
            y_pred = self(x, training=training)
        student_loss = ops.convert_to_tensor(0.0)
        if self.student_loss_weight > 0.0 and y is not None:
            values = tree.map_structure(lambda fn, target, pred: fn(target, pred),
                                        self._student_loss, y, y_pred)
            flat = tree.flatten(values)
            student_loss = flat[0]
            for value in flat[1:]:
                student_loss = ops.add(student_loss, value)
            if len(student_loss.shape) > 0:
                student_loss = ops.mean(student_loss)
        distillation_loss = ops.convert_to_tensor(0.0)
        if self.student_loss_weight < 1.0:
            teacher_features = self._teacher_features(x)
            student_features = self._student_features(x, y_pred)
            for loss, weight in zip(self.distillation_losses, self.distillation_loss_weights):
                if getattr(loss, "teacher_layer_name", None) is not None:
                    teacher_out = self._pick(teacher_features, loss.teacher_layer_name,
                                             "teacher", loss)
                    student_out = self._pick(student_features,
                                             getattr(loss, "student_layer_name", None),
                                             "student", loss)
                else:
                    teacher_out, student_out = teacher_features["final_output"], y_pred
                loss.validate_outputs(teacher_out, student_out)
                value = loss.compute_loss(teacher_out, student_out)
                if len(getattr(value, "shape", ())) > 0:
                    raise ArgumentError(
                        f"Distillation loss {type(loss).__name__} returned a non-scalar loss "
                        f"with shape {tuple(value.shape)}. The compute_loss method must return "
                        "a scalar tensor.")
                distillation_loss = ops.add(ops.cast(distillation_loss, value.dtype),
                                            ops.multiply(value, weight))
        student_loss = ops.cast(student_loss, "float32")
        distillation_loss = ops.cast(distillation_loss, "float32")
        total = ops.add(ops.multiply(student_loss, self.student_loss_weight),
                        ops.multiply(distillation_loss, 1.0 - self.student_loss_weight))
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.total_loss_tracker.update_state(total)
        return total

    @property
    def metrics(self):
        return super().metrics + [self.student_loss_tracker, self.distillation_loss_tracker,
                                  self.total_loss_tracker]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    # --- config ----------------------------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "teacher": registry.serialize(self.teacher),
            "student": registry.serialize(self.student),
            "distillation_losses": [registry.serialize(l) for l in self.distillation_losses],
            "distillation_loss_weights": list(self.distillation_loss_weights),
            "student_loss_weight": self.student_loss_weight,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("teacher", "student"):
            config[key] = registry.deserialize(config[key], custom_objects=custom_objects)
        config["distillation_losses"] = [
            registry.deserialize(l, custom_objects=custom_objects)
            for l in config["distillation_losses"]]
        return cls(**config)
