"""Knowledge distillation vs Keras 3: the distillation losses' values and the Distiller's
combined loss (Keras in-process, same weights), then distilling a tiny teacher into a tiny
student with fit on jax, torch and tensorflow."""

import numpy as np
import pytest

import kbridge
import kbridge.distillation as D

keras = pytest.importorskip("keras")

rng = np.random.default_rng(3)
X = rng.normal(size=(32, 6)).astype("float32")
Y = rng.integers(0, 3, 32)
TEACHER_LOGITS = rng.normal(size=(8, 3)).astype("float32") * 2
STUDENT_LOGITS = rng.normal(size=(8, 3)).astype("float32")


def _pair(lib):
    return [TEACHER_LOGITS, TEACHER_LOGITS[:, :2]], [STUDENT_LOGITS, STUDENT_LOGITS[:, :2]]


LOSSES = [
    ("logits_default", lambda lib: lib.distillation.LogitsDistillation(), False),
    ("logits_kld_object", lambda lib: lib.distillation.LogitsDistillation(
        temperature=4.0, loss=lib.losses.KLDivergence()), False),
    ("logits_cce", lambda lib: lib.distillation.LogitsDistillation(
        temperature=2.0, loss=lib.losses.CategoricalCrossentropy(from_logits=True)), False),
    ("logits_nested_skip", lambda lib: lib.distillation.LogitsDistillation(
        temperature=2.0, loss=["mse", None]), True),
    ("features_mse", lambda lib: lib.distillation.FeatureDistillation(), False),
    ("features_nested", lambda lib: lib.distillation.FeatureDistillation(
        loss=["cosine_similarity", "mae"]), True),
]


@pytest.mark.parametrize("case", [c[0] for c in LOSSES])
def test_distillation_losses_against_keras(case, backend):
    _, make, nested = next(c for c in LOSSES if c[0] == case)
    teacher, student = _pair(None) if nested else (TEACHER_LOGITS, STUDENT_LOGITS)
    expected = np.asarray(make(keras).compute_loss(teacher, student))
    ours = make(kbridge)
    ours.validate_outputs(teacher, student)
    actual = kbridge.ops.convert_to_numpy(ours.compute_loss(teacher, student))
    assert actual.shape == ()
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    again = type(ours).from_config(ours.get_config())
    np.testing.assert_allclose(
        kbridge.ops.convert_to_numpy(again.compute_loss(teacher, student)), expected,
        rtol=1e-5, atol=1e-6)


def _models(lib, seed):
    def mlp(name):
        return lib.Sequential([lib.Input((6,)),
                               lib.layers.Dense(8, activation="relu", name="hidden"),
                               lib.layers.Dense(3, name="logits")], name=name)

    teacher, student = mlp("teacher"), mlp("student")
    weights = np.random.default_rng(seed)
    for model in (teacher, student):
        model.set_weights([weights.normal(size=w.shape).astype("float32") * 0.5
                           for w in model.get_weights()])
    return teacher, student


def _distiller(lib, teacher, student, student_loss_weight=0.3):
    d = lib.distillation
    return d.Distiller(
        teacher=teacher, student=student,
        distillation_losses=[d.LogitsDistillation(temperature=2.0),
                             d.FeatureDistillation(loss="mse", teacher_layer_name="hidden",
                                                   student_layer_name="hidden")],
        distillation_loss_weights=[1.0, 0.5], student_loss_weight=student_loss_weight)


@pytest.mark.parametrize("student_loss_weight", [0.3, 1.0, 0.0])
def test_distiller_loss_against_keras(student_loss_weight, backend):
    k_teacher, k_student = _models(keras, 0)
    k_dist = _distiller(keras, k_teacher, k_student, student_loss_weight)
    k_dist.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    y_pred = k_dist(X[:8])
    expected = np.asarray(k_dist.compute_loss(X[:8], Y[:8], y_pred))

    teacher, student = _models(kbridge, 0)
    dist = _distiller(kbridge, teacher, student, student_loss_weight)
    dist.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    actual = dist.compute_loss(X[:8], Y[:8], dist(X[:8]))
    np.testing.assert_allclose(kbridge.ops.convert_to_numpy(actual), expected, rtol=1e-5)
    trackers = {m.name: float(kbridge.ops.convert_to_numpy(m.result())) for m in dist.metrics
                if m.name != "loss"}
    for m in k_dist.metrics:
        if m.name in trackers:
            assert trackers[m.name] == pytest.approx(float(m.result()), rel=1e-5), m.name


def test_distill_with_fit(trainable_backend):
    with kbridge.backend.use(trainable_backend):
        teacher, student = _models(kbridge, 1)
    teacher_before = [np.array(w) for w in teacher.get_weights()]
    dist = _distiller(kbridge, teacher, student)
    dist.compile(optimizer=kbridge.optimizers.Adam(0.02),
                 loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = dist.fit(X, Y, batch_size=8, epochs=5, shuffle=False, verbose=0).history
    assert set(history) >= {"loss", "accuracy", "student_loss", "distillation_loss",
                            "total_loss"}
    assert history["distillation_loss"][-1] < 0.8 * history["distillation_loss"][0], history
    np.testing.assert_allclose(history["loss"], history["total_loss"], rtol=1e-5)
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)  # the teacher is frozen
    assert len(dist.trainable_variables) == len(student.trainable_variables)
    # The distiller predicts with the student.
    np.testing.assert_allclose(dist.predict(X, verbose=0), student.predict(X, verbose=0),
                               rtol=1e-6)


def test_arguments_are_checked():
    teacher, student = _models(kbridge, 0)
    logits = D.LogitsDistillation()
    with pytest.raises(ValueError, match="between 0.0 and 1.0"):
        D.Distiller(teacher, student, logits, student_loss_weight=1.5)
    with pytest.raises(ValueError, match=r"distillation_loss_weights \(1\) must match"):
        D.Distiller(teacher, student, [logits, logits], distillation_loss_weights=[1.0])
    with pytest.raises(ValueError, match="cannot be `None`"):
        D.Distiller(teacher, student, None)
    with pytest.raises(ValueError, match="must be a kbridge.Model"):
        D.Distiller(teacher, "student", logits)
    with pytest.raises(ValueError, match="In teacher model"):
        D.Distiller(teacher, student, D.FeatureDistillation(teacher_layer_name="nope"))
    with pytest.raises(ValueError, match="positive"):
        D.LogitsDistillation(temperature=0)
    with pytest.raises(ValueError, match="at least one non-`None`"):
        D.FeatureDistillation(loss=[None])
    other = kbridge.Sequential([kbridge.Input((5,)), kbridge.layers.Dense(3)])
    with pytest.raises(ValueError, match="input shapes are incompatible"):
        D.Distiller(teacher, other, logits)
    with pytest.raises(ValueError, match="'loss' cannot be `None`"):
        D.Distiller(teacher, student, logits).compile(optimizer="sgd")
    with pytest.raises(NotImplementedError):
        D.DistillationLoss().compute_loss(TEACHER_LOGITS, STUDENT_LOGITS)


def test_distiller_config_round_trip():
    teacher, student = _models(kbridge, 0)
    dist = _distiller(kbridge, teacher, student)
    again = D.Distiller.from_config(dist.get_config())
    assert again.student_loss_weight == 0.3 and again.distillation_loss_weights == [1.0, 0.5]
    assert [type(l) for l in again.distillation_losses] == [D.LogitsDistillation,
                                                          D.FeatureDistillation]
    assert again.teacher.trainable is False
    assert sorted(n for n in dir(keras.distillation) if not n.startswith("_")) == \
        sorted(n for n in D.__all__)
