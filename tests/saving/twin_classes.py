"""The custom classes the Keras-format tests define on both sides, written once over the
library (real ``keras`` in keras_side.py, ``kbridge`` in test_keras_export.py): the custom
layer is registered under the same name in both, the subclassed model has the same
attributes, so each side's files load into the other's classes."""


def define(keras):
    """``(Scale, MLP)`` built on ``keras`` (the keras or the kbridge module)."""

    @keras.saving.register_keras_serializable(package="kbridge_tests", name="Scale")
    class Scale(keras.layers.Layer):
        """Multiplies by a learned per-feature weight and a constant factor."""

        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=input_shape[-1:], initializer="ones")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    class MLP(keras.Model):
        """A subclassed model with a list of sub-layers."""

        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(4, activation="relu")
            self.blocks = [keras.layers.Dense(4), keras.layers.LayerNormalization()]
            self.out = keras.layers.Dense(2)

        def call(self, x):
            x = self.hidden(x)
            for block in self.blocks:
                x = block(x)
            return self.out(x)

    return Scale, MLP
