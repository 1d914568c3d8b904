"""Merging layers: combine a list of tensors (Add, Concatenate, Dot, ...)."""

from kbridge import ops
from kbridge.errors import KbridgeError, ShapeError
from kbridge.layers.layer import Layer

__all__ = [
    "Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract",
    "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply", "subtract",
]


class _Merge(Layer):
    """Element-wise merge of a list of tensors; lower-rank inputs get size-1 axes after the
    batch axis (Keras's rule) so they broadcast."""

    _min_inputs = 2
    _max_inputs = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise KbridgeError(f"{type(self).__name__} must be called on a list of tensors. "
                               f"Received: {type(inputs).__name__}")
        n = len(inputs)
        if n < self._min_inputs or (self._max_inputs is not None and n > self._max_inputs):
            wanted = (f"exactly {self._max_inputs}" if self._max_inputs == self._min_inputs
                      else f"at least {self._min_inputs}")
            raise KbridgeError(f"{type(self).__name__} needs {wanted} inputs. Received: {n}")

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.built = True

    def _merge(self, inputs):
        raise NotImplementedError

    def call(self, inputs):
        self._check_inputs(inputs)
        ranks = [len(x.shape) for x in inputs]
        if len(set(ranks)) > 1:
            top = max(ranks)
            expanded = []
            for x, r in zip(inputs, ranks):
                for _ in range(top - r):
                    x = ops.expand_dims(x, axis=1)
                expanded.append(x)
            inputs = expanded
        return self._merge(list(inputs))

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise KbridgeError("`mask` of a merge layer must be a list with one entry per input.")
        masks = [ops.expand_dims(m, 0) for m in mask if m is not None]
        if not masks:
            return None
        return ops.all(ops.concatenate(masks, axis=0), axis=0)


def _fold(fn, inputs):
    out = inputs[0]
    for x in inputs[1:]:
        out = fn(out, x)
    return out


class Add(_Merge):
    """Sum of the inputs. Example: ``Add()([x1, x2])``."""

    def _merge(self, inputs):
        return _fold(ops.add, inputs)


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs). Example: ``Subtract()([x1, x2])``."""

    _max_inputs = 2

    def _merge(self, inputs):
        return ops.subtract(inputs[0], inputs[1])


class Multiply(_Merge):
    """Element-wise product of the inputs. Example: ``Multiply()([x1, x2])``."""

    def _merge(self, inputs):
        return _fold(ops.multiply, inputs)


class Average(_Merge):
    """Element-wise mean of the inputs. Example: ``Average()([x1, x2])``."""

    def _merge(self, inputs):
        return ops.divide(_fold(ops.add, inputs), len(inputs))


class Maximum(_Merge):
    """Element-wise maximum of the inputs. Example: ``Maximum()([x1, x2])``."""

    def _merge(self, inputs):
        return _fold(ops.maximum, inputs)


class Minimum(_Merge):
    """Element-wise minimum of the inputs. Example: ``Minimum()([x1, x2])``."""

    def _merge(self, inputs):
        return _fold(ops.minimum, inputs)


class Concatenate(_Merge):
    """Joins the inputs along ``axis``. Example: ``Concatenate(axis=-1)([x1, x2])``."""

    _min_inputs = 1

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        self._check_inputs(input_shape)
        shapes = [tuple(s) for s in input_shape]
        if len({len(s) for s in shapes}) != 1:
            raise ShapeError("Concatenate needs inputs of the same rank. "
                             f"Received: input_shape={shapes}")
        rank = len(shapes[0])
        axis = self.axis % rank
        for i in range(rank):
            if i == axis:
                continue
            sizes = {s[i] for s in shapes if s[i] is not None}
            if len(sizes) > 1:
                raise ShapeError("Concatenate needs inputs with matching shapes except on the "
                                 f"concatenation axis {self.axis}. Received: {shapes}")
        self.built = True

    def call(self, inputs):
        self._check_inputs(inputs)
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise KbridgeError("`mask` of Concatenate must be a list with one entry per input.")
        full = []
        for x, m in zip(inputs, mask):
            rank = len(x.shape)
            if m is None:
                m = ops.ones_like(x, dtype="bool")
            elif len(m.shape) < rank:
                m = ops.broadcast_to(ops.expand_dims(m, axis=-1), x.shape)
            full.append(m)
        merged = ops.concatenate(full, axis=self.axis)
        return ops.all(merged, axis=-1)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class Dot(_Merge):
    """Batched dot product of two tensors along ``axes`` (cosine similarity with ``normalize``).

    ``axes`` counts dims of the full tensors (batch included); an int applies to both inputs.

    Example:
        >>> Dot(axes=1)([np.ones((2, 3)), np.ones((2, 3))]).shape   # (2, 1)
    """

    _max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, (list, tuple)) or len(axes) != 2 \
                    or not all(isinstance(a, int) for a in axes):
                raise KbridgeError("`axes` must be an int or a list/tuple of two ints. "
                                   f"Received: axes={axes!r}")
            axes = list(axes)
        self.axes = axes
        self.normalize = normalize
        self.supports_masking = True

    def _axes_for(self, shapes):
        axes = [self.axes, self.axes] if isinstance(self.axes, int) else list(self.axes)
        return [a % len(s) if a < 0 else a for a, s in zip(axes, shapes)]

    def build(self, input_shape):
        self._check_inputs(input_shape)
        s1, s2 = (tuple(s) for s in input_shape)
        a1, a2 = self._axes_for([s1, s2])
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ShapeError(f"Dot: incompatible sizes {s1[a1]} and {s2[a2]} on axes "
                             f"{[a1, a2]}. Received: input_shape={[s1, s2]}")
        self.built = True

    def call(self, inputs):
        self._check_inputs(inputs)
        x1, x2 = inputs
        a1, a2 = self._axes_for([x1.shape, x2.shape])
        if self.normalize:
            x1 = ops.normalize(x1, axis=a1)
            x2 = ops.normalize(x2, axis=a2)
        return _batch_dot(x1, x2, a1, a2)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update({"axes": self.axes, "normalize": self.normalize})
        return config


def _batch_dot(x1, x2, a1, a2):
    """Contract ``x1`` axis ``a1`` with ``x2`` axis ``a2`` per batch entry (Keras batch_dot).

    Output: batch, the remaining dims of x1, then the remaining dims of x2; a result with only
    the batch axis gets a trailing size-1 axis.
    """
    r1, r2 = len(x1.shape), len(x2.shape)
    if a1 == 0 or a2 == 0:
        raise KbridgeError("Dot cannot contract the batch axis (axis 0).")
    letters = "abcdefghijklmnopqrstuvwxyz"
    spec1 = ["z"] + [letters[i] for i in range(r1 - 1)]
    spec2 = ["z"] + [letters[r1 - 1 + i] for i in range(r2 - 1)]
    spec2[a2] = spec1[a1]
    out = [c for i, c in enumerate(spec1) if i != a1] + \
          [c for i, c in enumerate(spec2) if i not in (0, a2)]
    result = ops.einsum(f"{''.join(spec1)},{''.join(spec2)}->{''.join(out)}", x1, x2)
    if len(out) == 1:
        result = ops.expand_dims(result, axis=1)
    return result


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    merge.__name__ = merge.__qualname__ = cls.__name__.lower()
    merge.__doc__ = f"Functional form of :class:`{cls.__name__}`: ``{merge.__name__}([x1, x2])``."
    return merge


add = _functional(Add)
subtract = _functional(Subtract)
multiply = _functional(Multiply)
average = _functional(Average)
maximum = _functional(Maximum)
minimum = _functional(Minimum)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of :class:`Concatenate`: ``concatenate([x1, x2], axis=-1)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """Functional form of :class:`Dot`: ``dot([x1, x2], axes=1)``."""
    return Dot(axes=axes, **kwargs)(inputs)
