"""kbridge.wrappers (scikit-learn API) and kbridge.visualization (against Keras's arrays)."""

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import kbridge
from kbridge import visualization
from kbridge.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype("float32")
    return X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")


def _classifier(X, y, hidden=8):
    model = kbridge.Sequential([kbridge.Input(X.shape[1:]),
                                kbridge.layers.Dense(hidden, activation="relu"),
                                kbridge.layers.Dense(y.shape[1], activation="softmax")])
    model.compile(optimizer=kbridge.optimizers.Adam(0.05), loss="categorical_crossentropy")
    return model


def _linear(X, y):
    model = kbridge.Sequential([kbridge.Input(X.shape[1:]),
                                kbridge.layers.Dense(1 if y.ndim == 1 else y.shape[1])])
    model.compile(optimizer=kbridge.optimizers.Adam(0.1), loss="mse")
    return model


def test_classifier_fit_predict_score_in_a_pipeline(trainable_backend):
    X, y = _data()
    clf = SKLearnClassifier(_classifier, model_kwargs={"hidden": 8},
                            fit_kwargs={"epochs": 30, "verbose": 0, "batch_size": 64})
    pipe = make_pipeline(StandardScaler(), clf).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    predictions = pipe.predict(X)
    assert predictions.shape == (64,) and set(predictions) <= {"no", "yes"}
    assert pipe.score(X, y) > 0.9
    assert clf.decision_function(X).shape == (64, 2) and clf.epoch_ == 30
    assert kbridge.backend.of(clf.model_.weights[0]) == trainable_backend
    copy = clone(clf)
    assert copy.get_params()["model_kwargs"] == {"hidden": 8} and not hasattr(copy, "model_")


def test_regressor_and_transformer():
    # The wrappers only call Model.fit/predict; the classifier test covers every backend.
    X, _ = _data()
    y = X @ np.array([1.0, -2.0, 0.5, 0.0], "float32")
    reg = SKLearnRegressor(_linear, fit_kwargs={"epochs": 60, "verbose": 0, "batch_size": 64})
    assert reg.fit(X, y).predict(X).shape == (64,)
    assert reg.score(X, y) > 0.95
    scores = cross_val_score(clone(reg).set_params(fit_kwargs={"epochs": 2, "verbose": 0}),
                             X, y, cv=2)
    assert scores.shape == (2,)
    transformer = SKLearnTransformer(_linear, fit_kwargs={"epochs": 1, "verbose": 0})
    assert transformer.fit(X, X[:, :2]).transform(X).shape == (64, 2)


def test_wrapper_errors():
    X, y = _data()

    def uncompiled(X, y):
        return kbridge.Sequential([kbridge.Input((4,)), kbridge.layers.Dense(2)])

    with pytest.raises(kbridge.KbridgeError, match="compiled"):
        SKLearnClassifier(uncompiled).fit(X, y)
    with pytest.raises(kbridge.KbridgeError, match="single class"):
        SKLearnClassifier(_classifier).fit(X, np.zeros(64))
    with pytest.raises(kbridge.KbridgeError, match="binary and multiclass"):
        SKLearnClassifier(_classifier).fit(X, X[:, 0])


def _images_and_masks():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (2, 8, 8, 3)).astype("float32")
    masks = rng.integers(-1, 3, (2, 8, 8, 1)).astype("int32")
    return images, masks


@pytest.mark.parametrize("kwargs", [{"num_classes": 3}, {"num_classes": 3, "alpha": 0.3},
                                    {"num_classes": 3, "blend": False},
                                    {"num_classes": 4, "ignore_index": 0},
                                    {"num_classes": 3,
                                     "color_mapping": {0: (9, 9, 9), 1: (0, 255, 0),
                                                       2: (1, 2, 3)}}])
def test_draw_segmentation_masks_like_keras(kwargs):
    images, masks = _images_and_masks()
    ours = visualization.draw_segmentation_masks(images, masks, **kwargs)
    theirs = np.asarray(keras.visualization.draw_segmentation_masks(images, masks, **kwargs))
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_draw_segmentation_masks_channels_first_and_errors():
    images, masks = _images_and_masks()
    first = visualization.draw_segmentation_masks(images.transpose(0, 3, 1, 2),
                                                  masks.transpose(0, 3, 1, 2), num_classes=3,
                                                  data_format="channels_first")
    last = visualization.draw_segmentation_masks(images, masks, num_classes=3)
    np.testing.assert_array_equal(first, last)
    with pytest.raises(kbridge.ArgumentError, match="integer dtype"):
        visualization.draw_segmentation_masks(images, masks.astype("float32"))
    with pytest.raises(kbridge.ArgumentError, match="4D"):
        visualization.draw_segmentation_masks(images[0], masks[0])


def test_draw_bounding_boxes_outlines_boxes():
    images = np.zeros((2, 12, 12, 3), "float32")
    boxes = {"boxes": np.array([[[2, 3, 4, 2], [0, 0, 1, 1]], [[1, 1, 9, 9], [0, 0, 0, 0]]],
                               "float32"),
             "labels": np.array([[0, -1], [1, -1]])}
    out = visualization.draw_bounding_boxes(images, boxes, "xywh", color=(255, 0, 0),
                                            line_thickness=1)
    assert out.shape == (2, 12, 12, 3) and out.dtype == np.uint8
    drawn = out[0, :, :, 0] > 0
    # xywh (2, 3, 4, 2) is the xyxy box (2, 3)-(6, 5): its outline and nothing else
    expected = np.zeros((12, 12), bool)
    expected[3, 2:7] = expected[5, 2:7] = expected[3:6, 2] = expected[3:6, 6] = True
    np.testing.assert_array_equal(drawn, expected)
    assert (out[..., 1:] == 0).all()                       # the color is (255, 0, 0)
    assert out[1, 5, 5].sum() == 0 and out[1, 1, 5, 0] == 255
    labelled = visualization.draw_bounding_boxes(np.zeros((1, 64, 64, 3)), {
        "boxes": np.array([[[10, 40, 50, 60]]]), "labels": np.array([[3]])}, "xyxy",
        class_mapping={3: "cat"}, color=(0, 255, 0))
    assert labelled[0, 20:38, 10:40, 1].any()              # the label text above the box
    with pytest.raises(kbridge.ArgumentError, match="'boxes' and 'labels'"):
        visualization.draw_bounding_boxes(images, {"boxes": boxes["boxes"]}, "xyxy")


def test_galleries_write_images(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    images, masks = _images_and_masks()
    fig = visualization.plot_image_gallery(images, y_true=np.array([0, 1]),
                                           label_map={0: "a", 1: "b"}, path=tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0
    assert [ax.get_title() for ax in fig.axes] == ["Label: a", "Label: b"]
    boxes = {"boxes": np.array([[[1, 1, 5, 5]], [[2, 2, 6, 6]]]), "labels": np.array([[0], [0]])}
    visualization.plot_bounding_box_gallery(images, "xyxy", y_true=boxes, y_pred=boxes,
                                            legend=True, path=tmp_path / "b.png")
    fig = visualization.plot_segmentation_mask_gallery(images, 3, y_true=masks, y_pred=masks,
                                                       path=tmp_path / "s.png")
    assert len(fig.axes) == 6 and (tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(kbridge.ArgumentError, match="label_map"):
        visualization.plot_image_gallery(images, y_true=[0, 1])
