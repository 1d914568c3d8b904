"""Convolutional LSTMs: ``ConvLSTM1D``, ``ConvLSTM2D`` and ``ConvLSTM3D``.

An LSTM whose input and recurrent transforms are convolutions, run over the time axis by
kbridge's generic :class:`~kbridge.layers.RNN` (``kbridge.ops.scan``). Inside the loop the cell
carries its ``h`` and ``c`` states flattened to ``(batch, size)``, so the RNN's masking (keep
the previous state at masked steps) applies to them unchanged; the layer gives them their
spatial shape back. Weights are Keras 3's:
``kernel`` ``(*kernel_size, in_channels, 4 * filters)``, ``recurrent_kernel``
``(*kernel_size, filters, 4 * filters)`` and ``bias`` ``(4 * filters,)``, gates ``i, f, c, o``.
The recurrent convolution always uses stride 1 and "same" padding.
"""

import numpy as np

from kbridge import ops
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import ArgumentError
from kbridge.layers.convolution import (normalize_data_format, normalize_padding,
                                        normalize_tuple)
from kbridge.layers.layer import InputSpec, Layer
from kbridge.layers.rnn import (_DropoutCellMixin, _dropout_mask, _FlatConfigRNN,
                                get_activation, serialize_activation)

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]


def _conv_output_length(length, kernel, stride, padding, dilation):
    if length is None:
        return None
    if padding == "same":
        return (length + stride - 1) // stride
    return (length - dilation * (kernel - 1) - 1) // stride + 1


class ConvLSTMCell(_DropoutCellMixin, Layer):
    """One step of a convolutional LSTM over ``(batch, *spatial, channels)`` inputs.

    Used by the ConvLSTM layers; state is ``[h, c]``, each the conv output flattened to
    ``(batch, size)`` (:meth:`state_shape` gives the spatial shape).
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        if rank not in (1, 2, 3):
            raise ArgumentError(f"ConvLSTM supports rank 1, 2 or 3. Received: rank={rank!r}")
        if not isinstance(filters, int) or filters <= 0:
            raise ArgumentError(f"`filters` must be a positive int. Received: filters={filters!r}")
        self.rank = rank
        self.filters = filters
        self.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size")
        self.strides = normalize_tuple(strides, rank, "strides")
        self.padding = normalize_padding(padding)
        self.data_format = normalize_data_format(data_format)
        self.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ArgumentError("`strides > 1` cannot be combined with `dilation_rate > 1`. "
                                f"Received: strides={self.strides}, "
                                f"dilation_rate={self.dilation_rate}")
        self.activation = get_activation(activation)
        self.recurrent_activation = get_activation(recurrent_activation)
        self.use_bias = use_bias
        self._init_weights((kernel_initializer, recurrent_initializer, bias_initializer),
                           (kernel_regularizer, recurrent_regularizer, bias_regularizer),
                           (kernel_constraint, recurrent_constraint, bias_constraint))
        self.unit_forget_bias = unit_forget_bias
        self._init_dropout(dropout, recurrent_dropout, seed)
        self.state_size = [filters, filters]  # flat sizes, set in build
        self.output_size = filters
        self.spatial_dims = None

    def build(self, input_shape):
        if self.data_format == "channels_first":
            channels, spatial = input_shape[1], tuple(input_shape[2:])
        else:
            channels, spatial = input_shape[-1], tuple(input_shape[1:-1])
        if len(spatial) != self.rank:
            raise ArgumentError(f"ConvLSTM{self.rank}D steps need {self.rank} spatial axes. "
                                f"Received: step shape={tuple(input_shape)}")
        if None in spatial or channels is None:
            raise ArgumentError("ConvLSTM layers need static spatial and channel sizes. "
                                f"Received: step shape={tuple(input_shape)}")
        self.spatial_dims = spatial
        self.input_dim = int(channels)
        size = int(np.prod(self.state_shape()[1:]))
        self.state_size = [size, size]
        self._add_kernels(self.kernel_size + (self.input_dim, 4 * self.filters),
                          self.kernel_size + (self.filters, 4 * self.filters))
        self.bias = self._add_lstm_bias(self.filters)
        self.built = True

    def output_spatial_dims(self, spatial=None):
        spatial = self.spatial_dims if spatial is None else spatial
        return tuple(_conv_output_length(n, k, s, self.padding, d) for n, k, s, d in zip(
            spatial, self.kernel_size, self.strides, self.dilation_rate))

    def state_shape(self, batch_size=None, spatial=None):
        out = self.output_spatial_dims(spatial)
        if self.data_format == "channels_first":
            return (batch_size, self.filters) + out
        return (batch_size,) + out + (self.filters,)

    def get_initial_state(self, batch_size=None):
        size = self.state_size[0]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype),
                ops.zeros((batch_size, size), dtype=self.compute_dtype)]

    # Keras draws one dropout mask per gate: four stacked masks, made once per sequence.
    def get_dropout_mask(self, step_input):
        if self._dropout_mask is None and self.dropout > 0:
            self._dropout_mask = _dropout_mask(ops.stack([step_input] * 4), self.dropout,
                                               self.seed_generator)
        return self._dropout_mask

    def get_recurrent_dropout_mask(self, step_state):
        if self._recurrent_dropout_mask is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = _dropout_mask(
                ops.stack([step_state] * 4), self.recurrent_dropout, self.seed_generator)
        return self._recurrent_dropout_mask

    def _conv(self, x, kernel, strides, padding, dilation_rate):
        return ops.conv(x, kernel, strides=strides, padding=padding,
                        data_format=self.data_format, dilation_rate=dilation_rate)

    def call(self, inputs, states, training=False):
        # states arrive flat, (batch, size); the convolutions need them spatial
        spatial = (-1,) + self.state_shape()[1:]
        h_flat, c_prev = states[0], ops.reshape(states[1], spatial)
        dp, rdp = self._masks(training)
        xs = [inputs * dp[g] for g in range(4)] if dp is not None else [inputs] * 4
        hs = [ops.reshape(h_flat * rdp[g] if rdp is not None else h_flat, spatial)
              for g in range(4)]
        axis = self.rank + 1
        kernels = ops.split(self.kernel, 4, axis=axis)
        recurrent_kernels = ops.split(self.recurrent_kernel, 4, axis=axis)
        biases = ops.split(self.bias, 4) if self.bias is not None else [None] * 4
        ones = (1,) * self.rank
        if self.data_format == "channels_last":
            bias_shape = (1,) + ones + (self.filters,)
        else:
            bias_shape = (1, self.filters) + ones
        z = []
        for g in range(4):
            x = self._conv(xs[g], kernels[g], self.strides, self.padding, self.dilation_rate)
            if biases[g] is not None:
                x = x + ops.reshape(biases[g], bias_shape)
            z.append(x + self._conv(hs[g], recurrent_kernels[g], ones, "same", ones))
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = f * c_prev + i * self.activation(z[2])
        o = self.recurrent_activation(z[3])
        h = ops.reshape(o * self.activation(c), ops.shape(h_flat))
        c = ops.reshape(c, ops.shape(h_flat))
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "rank": self.rank, **_cell_args_config(self)}


def _cell_args_config(cell):
    return {
        "filters": cell.filters, "kernel_size": cell.kernel_size, "strides": cell.strides,
        "padding": cell.padding, "data_format": cell.data_format,
        "dilation_rate": cell.dilation_rate,
        "activation": serialize_activation(cell.activation),
        "recurrent_activation": serialize_activation(cell.recurrent_activation),
        "use_bias": cell.use_bias,
        **cell._weights_config("initializer"),
        "unit_forget_bias": cell.unit_forget_bias,
        **cell._weights_config("regularizer", "constraint"),
        "dropout": cell.dropout, "recurrent_dropout": cell.recurrent_dropout,
        "seed": cell.seed,
    }


class _ConvLSTM(_FlatConfigRNN):
    """A convolutional LSTM of rank ``_rank`` over ``(batch, time, *spatial, channels)``."""

    _rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        cell = ConvLSTMCell(
            self._rank, filters, kernel_size, strides=strides, padding=padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation,
            recurrent_activation=recurrent_activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            name="conv_lstm_cell", dtype=kwargs.get("dtype"))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.input_spec = InputSpec(ndim=self._rank + 3)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is not None:
            initial_state = [ops.reshape(s, (ops.shape(s)[0], -1)) for s in initial_state]
        out = super().call(sequences, initial_state=initial_state, mask=mask,
                           training=training)
        state = self.cell.state_shape()[1:]
        outputs = out if self.return_state else [out]
        shaped = [ops.reshape(outputs[0], tuple(ops.shape(outputs[0])[:-1]) + state)]
        shaped += [ops.reshape(s, (-1,) + state) for s in outputs[1:]]
        return shaped if self.return_state else shaped[0]

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        cell = self.cell
        if cell.data_format == "channels_first":
            spatial = tuple(sequences_shape[3:])
        else:
            spatial = tuple(sequences_shape[2:-1])
        state = cell.state_shape(batch, spatial)
        output = (batch, steps) + state[1:] if self.return_sequences else state
        return (output, state, state) if self.return_state else output

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=False):
        shapes = self.compute_output_shape(tuple(sequences.shape))
        if self.return_state:
            return [KerasTensor(s, self.compute_dtype) for s in shapes]
        return KerasTensor(shapes, self.compute_dtype)

    def compute_mask(self, inputs, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        return [output_mask, None, None] if self.return_state else output_mask

    def _cell_config(self):
        return _cell_args_config(self.cell)


def _cell_property(name):
    return property(lambda self: getattr(self.cell, name),
                    doc=f"The cell's ``{name}`` (read-only, as in Keras).")


# Keras exposes the cell's arguments on the layer (layer.filters, layer.padding, ...).
for _name in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
              "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "unit_forget_bias",
              "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
              "recurrent_dropout"):
    setattr(_ConvLSTM, _name, _cell_property(_name))
del _name


class ConvLSTM1D(_ConvLSTM):
    """1D convolutional LSTM over ``(batch, time, steps, channels)`` inputs.

    Example:
        >>> y = kbridge.layers.ConvLSTM1D(4, 3)(np.ones((2, 5, 8, 3), "float32"))  # (2, 6, 4)
    """

    _rank = 1


class ConvLSTM2D(_ConvLSTM):
    """2D convolutional LSTM over ``(batch, time, rows, cols, channels)`` inputs.

    Example:
        >>> layer = kbridge.layers.ConvLSTM2D(8, (3, 3), padding="same", return_sequences=True)
        >>> layer(np.ones((2, 5, 16, 16, 3), "float32")).shape
        (2, 5, 16, 16, 8)
    """

    _rank = 2


class ConvLSTM3D(_ConvLSTM):
    """3D convolutional LSTM over ``(batch, time, depth, rows, cols, channels)`` inputs.

    Example:
        >>> y = kbridge.layers.ConvLSTM3D(2, 3)(np.ones((1, 3, 5, 5, 5, 1), "float32"))
    """

    _rank = 3
