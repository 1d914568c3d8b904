"""``ReversibleEmbedding``: an embedding that also projects hidden states back to logits."""

from kbridge import ops
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.layers.core import Embedding

__all__ = ["ReversibleEmbedding"]


class ReversibleEmbedding(Embedding):
    """An :class:`Embedding` whose ``call(x, reverse=True)`` maps ``(..., output_dim)`` hidden
    states to ``(..., input_dim)`` logits: ``x @ embeddings.T`` with ``tie_weights=True``
    (default), else ``x @ reverse_embeddings``, a separate ``(output_dim, input_dim)`` weight.

    ``logit_soft_cap`` bounds the logits to ``(-cap, cap)`` as ``cap * tanh(logits / cap)``;
    ``reverse_dtype`` casts both operands of the reverse projection (e.g. "float32" under
    mixed precision).

    Example:
        >>> emb = kbridge.layers.ReversibleEmbedding(100, 16)
        >>> h = emb(np.array([[1, 2, 3]]))            # (1, 3, 16)
        >>> logits = emb(h, reverse=True)              # (1, 3, 100)
    """

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 reverse_dtype=None, logit_soft_cap=None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint, mask_zero=mask_zero,
                         **kwargs)
        self.tie_weights = tie_weights
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap

    def build(self, input_shape=None):
        if self.built:
            return
        super().build(input_shape)
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                name="reverse_embeddings", shape=(self.output_dim, self.input_dim),
                initializer=self.embeddings_initializer, trainable=True)
        self.built = True

    def call(self, inputs, reverse=False):
        if not reverse:
            return super().call(inputs)
        kernel = (ops.transpose(self.embeddings) if self.tie_weights
                  else self.reverse_embeddings)
        if self.reverse_dtype is not None:
            inputs = ops.cast(inputs, self.reverse_dtype)
            kernel = ops.cast(kernel, self.reverse_dtype)
        logits = ops.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            cap = self.logit_soft_cap
            logits = ops.multiply(ops.tanh(ops.divide(logits, cap)), cap)
        return logits

    def compute_mask(self, inputs, mask=None):
        # only the forward (integer ids) direction carries a padding mask
        if inputs is None or "int" not in str(inputs.dtype):
            return None
        return super().compute_mask(inputs, mask)

    def compute_output_spec(self, inputs, reverse=False):
        shape = list(inputs.shape)
        if reverse:
            shape[-1] = self.input_dim
        else:
            shape.append(self.output_dim)
        dtype = self.reverse_dtype if reverse and self.reverse_dtype else self.compute_dtype
        return KerasTensor(tuple(shape), dtype)

    def compute_output_shape(self, input_shape, reverse=False):
        return self.compute_output_spec(KerasTensor(tuple(input_shape), "float32"),
                                        reverse=reverse).shape

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights,
                "reverse_dtype": self.reverse_dtype, "logit_soft_cap": self.logit_soft_cap}
