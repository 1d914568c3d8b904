"""``kbridge.wrappers``: scikit-learn estimators over kbridge models (Keras's
``keras.wrappers``).

``model`` is a compiled Model or a callable ``model(X, y, **model_kwargs)`` returning a
compiled Model (called at each ``fit``, so it can size layers from the data). The estimators
follow scikit-learn's API: ``get_params``/``set_params``, ``clone``, Pipelines, grid search.

Example:
    >>> def build(X, y, hidden=8):
    ...     model = kbridge.Sequential([kbridge.Input(X.shape[1:]),
    ...                                 kbridge.layers.Dense(hidden, activation="relu"),
    ...                                 kbridge.layers.Dense(len(np.unique(y)),
    ...                                                      activation="softmax")])
    ...     model.compile(optimizer="adam", loss="categorical_crossentropy")
    ...     return model
    >>> clf = kbridge.wrappers.SKLearnClassifier(build, model_kwargs={"hidden": 16},
    ...                                          fit_kwargs={"epochs": 5, "verbose": 0})
    >>> clf.fit(X, y).predict(X)        # class labels, as y
"""

import copy

import numpy as np

from kbridge.errors import KbridgeError

try:
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
except ImportError:  # the classes exist without scikit-learn; creating one says what to install
    sklearn = None
    BaseEstimator = ClassifierMixin = RegressorMixin = TransformerMixin = object

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


def _require_sklearn(name):
    if sklearn is None:
        raise ImportError(f"{name} requires scikit-learn. Install it with "
                          "`pip install scikit-learn`.")


def _validate(estimator, X, y=None, reset=True):
    from sklearn.utils.validation import validate_data

    if y is None:
        return validate_data(estimator, X, reset=reset)
    return validate_data(estimator, X, y, reset=reset, multi_output=True)


def _check_compiled(model):
    if not getattr(model, "compiled", False) or not model.loss or model.optimizer is None:
        raise KbridgeError("The model given to a kbridge.wrappers estimator must be compiled "
                           "with a loss and an optimizer (or be a function returning one).")


class _TargetShape:
    """Remembers whether ``y`` was 1-D so predictions can be squeezed back."""

    def fit(self, y):
        self.ndim_ = np.ndim(y)
        return self

    def transform(self, y):
        y = np.asarray(y)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def inverse_transform(self, y):
        y = np.asarray(y)
        return np.squeeze(y, axis=1) if self.ndim_ == 1 and y.ndim == 2 and y.shape[1] == 1 \
            else y


class _SKLBase(BaseEstimator):
    """Shared fit/predict; subclasses say how targets are encoded."""

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        _require_sklearn(type(self).__name__)
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    def __sklearn_clone__(self):
        # A model-building function is shared; a Model instance is copied, never shared.
        model = self.model if callable(self.model) and not hasattr(self.model, "fit") \
            else copy.deepcopy(self.model)
        return type(self)(model=model, warm_start=self.warm_start,
                          model_kwargs=self.model_kwargs, fit_kwargs=self.fit_kwargs)

    @property
    def epoch_(self):
        """Number of epochs of the last ``fit`` (0 before)."""
        history = getattr(self, "history_", None)
        return len(history.epoch) if history is not None else 0

    def _build_model(self, X, y):
        if self.warm_start and hasattr(self, "model_"):
            return self.model_
        if hasattr(self.model, "fit") and hasattr(self.model, "compile"):
            from kbridge.models.cloning import clone_model
            from kbridge.saving import registry

            _check_compiled(self.model)
            model = clone_model(self.model)
            optimizer = registry.deserialize(registry.serialize(self.model.optimizer))
            model.compile(optimizer=optimizer, loss=self.model.loss)
            return model
        if not callable(self.model):
            raise KbridgeError("`model` must be a compiled kbridge Model or a function "
                               f"model(X, y, **model_kwargs). Received: {self.model!r}")
        return self.model(X=X, y=y, **(self.model_kwargs or {}))

    def fit(self, X, y, **kwargs):
        """Build (or reuse, with ``warm_start``) the model and train it on ``X``, ``y``.

        ``kwargs`` are passed to ``Model.fit`` on top of ``fit_kwargs``.
        """
        X, y = _validate(self, X, y, reset=True)
        y = self._encode_target(y, reset=True)
        model = self._build_model(X, y)
        _check_compiled(model)
        self.history_ = model.fit(X, y, **{**(self.fit_kwargs or {}), **kwargs})
        self.model_ = model
        return self

    def _raw_predict(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        X = _validate(self, X, reset=False)
        return np.asarray(self.model_.predict(X, verbose=0))

    def predict(self, X):
        """Predictions in the target's own form (labels for a classifier)."""
        return self._decode_target(self._raw_predict(X))

    def _encode_target(self, y, reset=False):
        from sklearn.utils.multiclass import type_of_target

        type_of_target(y, raise_unknown=True)
        if reset:
            self._target_shape = _TargetShape().fit(y)
        return self._target_shape.transform(y)

    def _decode_target(self, y):
        return self._target_shape.inverse_transform(y)


class SKLearnClassifier(ClassifierMixin, _SKLBase):
    """A scikit-learn classifier over a kbridge model.

    Targets (binary or multiclass labels, any dtype) are one-hot encoded for training, so the
    model ends in one unit per class (softmax, categorical cross-entropy). ``predict`` gives
    labels, ``decision_function`` the model's raw outputs, ``classes_`` the labels seen.

    Args:
        model: a compiled Model, or ``model(X, y, **model_kwargs)`` returning one.
        warm_start: keep training the same model on later ``fit`` calls.
        model_kwargs: extra arguments for the model function.
        fit_kwargs: arguments for ``Model.fit`` (epochs, batch_size, verbose ...).
    """

    def _encode_target(self, y, reset=False):
        from sklearn.preprocessing import OneHotEncoder
        from sklearn.utils.multiclass import type_of_target

        kind = type_of_target(y, raise_unknown=True)
        if kind not in ("binary", "multiclass"):
            raise KbridgeError("SKLearnClassifier supports binary and multiclass targets. "
                               f"Received a target of type {kind!r}.")
        if reset:
            self.classes_ = np.unique(y)
            if len(self.classes_) == 1:
                raise KbridgeError("A classifier cannot train on a single class. "
                                   f"Received only: {self.classes_[0]!r}")
            self._target_shape = _TargetShape().fit(y)
            self._one_hot = OneHotEncoder(sparse_output=False).fit(
                self._target_shape.transform(y))
        return self._one_hot.transform(self._target_shape.transform(y))

    def _decode_target(self, y):
        return self._target_shape.inverse_transform(self._one_hot.inverse_transform(y))

    def decision_function(self, X):
        """The model's outputs (class scores) for ``X``."""
        return self._raw_predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class SKLearnRegressor(RegressorMixin, _SKLBase):
    """A scikit-learn regressor over a kbridge model (1-D ``y`` gives 1-D predictions).

    Args: as :class:`SKLearnClassifier`.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags


class SKLearnTransformer(TransformerMixin, _SKLBase):
    """A scikit-learn transformer: ``transform(X)`` is the trained model's output (e.g. an
    encoder trained as an autoencoder with ``fit(X, X)``).

    Args: as :class:`SKLearnClassifier`.
    """

    def transform(self, X):
        """The model's outputs for ``X``."""
        return self._raw_predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
