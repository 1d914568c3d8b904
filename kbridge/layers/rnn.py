"""Recurrent layers: the generic ``RNN`` over a cell, the SimpleRNN / LSTM / GRU cells and
layers, ``StackedRNNCells``, and the ``Bidirectional`` and ``TimeDistributed`` wrappers.

The time loop is ``kbridge.ops.scan`` (``lax.scan`` on JAX, a ``tf.while_loop`` on
TensorFlow, a Python loop on numpy and torch). Weight layouts and gate orders are Keras 3's,
so Keras weights load unchanged: LSTM gates are ``i, f, c, o`` and GRU gates ``z, r, h``.
"""

from kbridge import ops
from kbridge.backend.common import context, naming
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.errors import ArgumentError
from kbridge.layers.layer import Layer, _check_layer, map_structure
from kbridge.saving import registry

__all__ = [
    "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "SimpleRNN", "LSTM",
    "GRU", "Bidirectional", "TimeDistributed",
]


# --- small helpers ------------------------------------------------------------------------
# The shared ValueError-compatible argument error, under this module's historical name.
LayerArgumentError = ArgumentError


def _identity(x):
    return x


def get_activation(identifier):
    """An activation function from a name, a serialised name or a callable (None: linear)."""
    if identifier is None:
        return _identity
    try:  # the activations package, once it exists, is the single source of truth
        from kbridge import activations
    except ImportError:
        activations = None
    if activations is not None and hasattr(activations, "get"):
        return activations.get(identifier)
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        if identifier == "linear":
            return _identity
        fn = getattr(ops, identifier, None)
        if fn is not None and hasattr(fn, "__kbridge_op__"):
            return fn
    raise LayerArgumentError(f"Unknown activation {identifier!r}. Expected a name such as 'tanh' or "
                       "a callable.")


def serialize_activation(fn):
    try:
        from kbridge import activations
    except ImportError:
        activations = None
    if activations is not None and hasattr(activations, "serialize"):
        return activations.serialize(fn)
    if fn is _identity:
        return "linear"
    return getattr(fn, "__name__", None) or registry.serialize(fn)


def _serialize(obj):
    return None if obj is None else registry.serialize(obj)


def _deserialize_layer(config):
    if isinstance(config, Layer) or config is None:
        return config
    return registry.deserialize(config)


class _LayerArgs:
    """Config of a layer built around other layers: each constructor argument named in
    ``_layer_args`` (mapped to the attribute holding it: a layer, a list of layers or None) is
    serialized by :meth:`_layer_args_config` and rebuilt by :meth:`from_config`."""

    _layer_args = {}

    def _layer_args_config(self):
        return {arg: registry.serialize(getattr(self, attr))
                for arg, attr in self._layer_args.items()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for arg in cls._layer_args.keys() & config.keys():
            value = config[arg]
            config[arg] = ([_deserialize_layer(v) for v in value] if isinstance(value, list)
                           else _deserialize_layer(value))
        return super().from_config(config)


def _swap_batch_time(x):
    perm = [1, 0] + list(range(2, len(x.shape)))
    return ops.transpose(x, perm)


def _is_nested(x):
    return isinstance(x, (list, tuple))


def _flatten(x):
    if _is_nested(x):
        return [leaf for v in x for leaf in _flatten(v)]
    return [x]


def _pack_like(structure, leaves):
    """``leaves`` (flat) in the nesting of ``structure``, as lists."""
    leaves = iter(leaves)

    def pack(s):
        if _is_nested(s):
            return [pack(v) for v in s]
        return next(leaves)

    return pack(structure)


def _state_sizes(cell):
    size = cell.state_size
    return list(size) if _is_nested(size) else [size]


def _state_structure(cell):
    """Sizes of ``cell``'s states nested as the RNN carries them (as Keras's
    ``get_initial_state``): a flat list, or for stacked cells one list per cell."""
    if isinstance(cell, StackedRNNCells):
        return [_state_sizes(c) for c in cell.cells]
    return _state_sizes(cell)


def _output_size(cell):
    size = getattr(cell, "output_size", None)
    if size is None:
        size = _flatten(_state_sizes(cell))[0]
    return size


def _call_takes(fn, name):
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _seed_generator(seed):
    """A ``kbridge.random.SeedGenerator``, or None while kbridge.random lacks it."""
    from kbridge import random

    cls = getattr(random, "SeedGenerator", None)
    return cls(seed) if cls is not None else None


def _dropout_mask(like, rate, generator):
    """Inverted-dropout mask of ``like``'s shape: 0 with probability ``rate``, else 1/(1-rate)."""
    from kbridge import random

    if generator is None or not hasattr(random, "uniform"):
        raise LayerArgumentError("Recurrent dropout needs kbridge.random.SeedGenerator and "
                           "kbridge.random.uniform, which this build does not have yet.")
    noise = random.uniform(ops.shape(like), dtype=ops.dtype(like), seed=generator)
    keep = ops.cast(ops.greater_equal(noise, rate), ops.dtype(like))
    return keep / (1.0 - rate)


def _unit_forget_bias(base, units):
    """An LSTM bias initializer: ``[base, ones, base x 2]`` over the four gates, as Keras."""
    import numpy as np

    def init(shape, dtype=None):
        parts = [np.asarray(base((units,), dtype=dtype)),
                 np.ones((units,), dtype=np.asarray(base((1,), dtype=dtype)).dtype),
                 np.asarray(base((2 * units,), dtype=dtype))]
        return np.concatenate(parts)

    return init


class _DropoutCellMixin:
    """Weights of the built-in cells (``kernel``, ``recurrent_kernel``, ``bias``) and their
    dropout masks, fixed for a whole sequence (as Keras): made before the time loop."""

    _WEIGHTS = ("kernel", "recurrent", "bias")

    def _init_weights(self, initializers_, regularizers, constraints):
        """Stores ``<weight>_initializer`` (resolved), ``_regularizer`` and ``_constraint``
        for each of :attr:`_WEIGHTS`, given one value each in that order."""
        from kbridge import initializers

        for name, init, reg, con in zip(self._WEIGHTS, initializers_, regularizers,
                                        constraints):
            setattr(self, f"{name}_initializer", initializers.get(init))
            setattr(self, f"{name}_regularizer", reg)
            setattr(self, f"{name}_constraint", con)

    def _add_kernels(self, kernel_shape, recurrent_shape):
        self.kernel = self.add_weight(
            shape=kernel_shape, name="kernel", initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            shape=recurrent_shape, name="recurrent_kernel",
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint)

    def _add_bias(self, shape, initializer=None):
        return self.add_weight(shape=shape, name="bias",
                               initializer=initializer or self.bias_initializer,
                               regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _add_lstm_bias(self, units):
        """The ``(4 * units,)`` bias of LSTM gates ``i, f, c, o`` (None without ``use_bias``);
        ``unit_forget_bias`` starts the forget gate at one."""
        if not self.use_bias:
            return None
        init = _unit_forget_bias(self.bias_initializer, units) if self.unit_forget_bias else None
        return self._add_bias((4 * units,), initializer=init)

    def _weights_config(self, *kinds):
        """The serialized ``<weight>_<kind>`` arguments, weights varying fastest."""
        return {f"{name}_{kind}": _serialize(getattr(self, f"{name}_{kind}"))
                for kind in kinds for name in self._WEIGHTS}

    def _init_dropout(self, dropout, recurrent_dropout, seed):
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self.seed_generator = (_seed_generator(seed)
                               if self.dropout or self.recurrent_dropout else None)
        self._dropout_mask = None
        self._recurrent_dropout_mask = None

    def get_dropout_mask(self, step_input):
        if self._dropout_mask is None and self.dropout > 0:
            self._dropout_mask = _dropout_mask(step_input, self.dropout, self.seed_generator)
        return self._dropout_mask

    def get_recurrent_dropout_mask(self, step_state):
        if self._recurrent_dropout_mask is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = _dropout_mask(step_state, self.recurrent_dropout,
                                                         self.seed_generator)
        return self._recurrent_dropout_mask

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None

    def _masks(self, training):
        if not training:
            return None, None
        return self._dropout_mask, self._recurrent_dropout_mask


class _CellBase(_DropoutCellMixin, Layer):
    """Shared arguments of the built-in cells: initializers, regularizers, constraints."""

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise LayerArgumentError(f"`units` must be a positive integer. Received: units={units!r}")
        self.units = units
        self.activation = get_activation(activation)
        self.use_bias = use_bias
        self._init_weights((kernel_initializer, recurrent_initializer, bias_initializer),
                           (kernel_regularizer, recurrent_regularizer, bias_regularizer),
                           (kernel_constraint, recurrent_constraint, bias_constraint))
        self._init_dropout(dropout, recurrent_dropout, seed)
        self.supports_masking = False

    def _add_cell_kernels(self, input_dim, width):
        self._add_kernels((input_dim, width), (self.units, width))

    def _dropped(self, sequence, state, training):
        """``sequence`` and the recurrent ``state`` times their dropout masks (in training)."""
        dp, rdp = self._masks(training)
        return (sequence if dp is None else sequence * dp,
                state if rdp is None else state * rdp)

    def get_initial_state(self, batch_size=None):
        sizes = _state_sizes(self)
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in sizes]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": serialize_activation(self.activation),
            "use_bias": self.use_bias,
            **self._weights_config("initializer", "regularizer", "constraint"),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


def _first_state(states):
    return states[0] if _is_nested(states) else states


# --- cells ----------------------------------------------------------------------------------
class SimpleRNNCell(_CellBase):
    """One step of a fully connected RNN: ``h = activation(x @ W + h_prev @ U + b)``.

    Example:
        >>> layer = kbridge.layers.RNN(kbridge.layers.SimpleRNNCell(8))
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self._add_cell_kernels(input_shape[-1], self.units)
        self.bias = self._add_bias((self.units,)) if self.use_bias else None
        self.built = True

    def call(self, sequence, states, training=False):
        sequence, prev = self._dropped(sequence, _first_state(states), training)
        h = ops.matmul(sequence, self.kernel)
        if self.bias is not None:
            h = h + self.bias
        output = self.activation(h + ops.matmul(prev, self.recurrent_kernel))
        return output, ([output] if _is_nested(states) else output)


class _GatedCell(_CellBase):
    """A cell whose gates squash with ``recurrent_activation`` (LSTM, GRU)."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = get_activation(recurrent_activation)

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": serialize_activation(self.recurrent_activation)}


class LSTMCell(_GatedCell):
    """One step of a long short-term memory cell (gates ``i, f, c, o``; state ``[h, c]``).

    Example:
        >>> layer = kbridge.layers.RNN(kbridge.layers.LSTMCell(8))
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, **kwargs)
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self._add_cell_kernels(input_shape[-1], 4 * self.units)
        self.bias = self._add_lstm_bias(self.units)
        self.built = True

    def call(self, sequence, states, training=False):
        sequence, h_prev = self._dropped(sequence, states[0], training)
        c_prev = states[1]
        z = ops.matmul(sequence, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.bias is not None:
            z = z + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_GatedCell):
    """One step of a gated recurrent unit (gates ``z, r, h``); ``reset_after`` as in Keras.

    Example:
        >>> layer = kbridge.layers.RNN(kbridge.layers.GRUCell(8, reset_after=False))
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, **kwargs)
        self.reset_after = reset_after
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self._add_cell_kernels(input_shape[-1], 3 * self.units)
        self.bias = None
        if self.use_bias:
            # reset_after keeps separate input and recurrent biases (the cuDNN layout).
            shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
            self.bias = self._add_bias(shape)
        self.built = True

    def call(self, sequence, states, training=False):
        h_prev = _first_state(states)
        sequence, h_rec = self._dropped(sequence, h_prev, training)
        if self.bias is not None and self.reset_after:
            input_bias, recurrent_bias = self.bias[0], self.bias[1]
        else:
            input_bias, recurrent_bias = self.bias, None
        x = ops.matmul(sequence, self.kernel)
        if input_bias is not None:
            x = x + input_bias
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)
        u = self.units
        if self.reset_after:
            inner = ops.matmul(h_rec, self.recurrent_kernel)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
            r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            inner = ops.matmul(h_rec, self.recurrent_kernel[:, :2 * u])
            r_z, r_r = ops.split(inner, 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(
                x_h + ops.matmul(r * h_rec, self.recurrent_kernel[:, 2 * u:]))
        h = z * h_prev + (1.0 - z) * candidate
        return h, ([h] if _is_nested(states) else h)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


class StackedRNNCells(_LayerArgs, Layer):
    """Several cells applied one after another within each time step.

    Example:
        >>> cells = [kbridge.layers.LSTMCell(8), kbridge.layers.GRUCell(4)]
        >>> layer = kbridge.layers.RNN(kbridge.layers.StackedRNNCells(cells))
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for cell in cells:
            if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
                raise LayerArgumentError("Every cell of StackedRNNCells needs `call` and "
                                   f"`state_size`. Received: {cell!r}")
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return _output_size(self.cells[-1])

    def get_initial_state(self, batch_size=None):
        out = []
        for cell in self.cells:
            fn = getattr(cell, "get_initial_state", None)
            if fn is not None:
                out.append(fn(batch_size=batch_size))
            else:
                out.append([ops.zeros((batch_size, d), dtype=self.compute_dtype)
                            for d in _state_sizes(cell)])
        return out

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                with naming.name_scope(cell.name):
                    cell.build(shape)
                cell.built = True
            shape = shape[:-1] + (_output_size(cell),)
        self.built = True

    def call(self, inputs, states, training=False):
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            was_list = _is_nested(cell_states)
            cell_states = list(cell_states) if was_list else [cell_states]
            kwargs = {"training": training} if _call_takes(cell.call, "training") else {}
            inputs, cell_new = cell.call(inputs, cell_states, **kwargs)
            cell_new = list(cell_new) if _is_nested(cell_new) else [cell_new]
            if len(cell_new) == 1 and not was_list:
                cell_new = cell_new[0]
            new_states.append(cell_new)
        return inputs, new_states

    _layer_args = {"cells": "cells"}

    def get_config(self):
        return {**super().get_config(), **self._layer_args_config()}


# --- the generic RNN layer -----------------------------------------------------------------
class RNN(_LayerArgs, Layer):
    """Runs a cell over the time axis of ``(batch, time, features)`` inputs.

    ``mask`` (``(batch, time)`` booleans) skips steps: a masked step keeps the previous
    states, and its output repeats the previous output (zeros with
    ``zero_output_for_mask=True``). ``unroll`` is accepted and ignored (the loop is
    ``kbridge.ops.scan``).

    Example:
        >>> y = kbridge.layers.RNN(kbridge.layers.LSTMCell(8))(np.ones((2, 5, 3)))  # (2, 8)
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
            raise LayerArgumentError("`cell` must have a `call` method and a `state_size` "
                               f"attribute. Received: cell={cell!r}")
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.supports_masking = True
        object.__setattr__(self, "states", None)  # stateful state: not weights (as Keras)

    @property
    def state_size(self):
        return _state_sizes(self.cell)

    # --- building and state --------------------------------------------------------------
    def build(self, sequences_shape, initial_state_shape=None):
        step_shape = (sequences_shape[0],) + tuple(sequences_shape[2:])
        if isinstance(self.cell, Layer) and not self.cell.built:
            with naming.name_scope(self.cell.name):
                self.cell.build(step_shape)
            self.cell.built = True
        if self.stateful:
            if sequences_shape[0] is None:
                raise LayerArgumentError("A stateful RNN needs a static batch size. Received: "
                                   f"sequences shape={tuple(sequences_shape)}")
            self._create_state_variables(sequences_shape[0])
        self.built = True

    def _create_state_variables(self, batch_size):
        from kbridge.backend.common.variables import Variable

        with context.use(self.backend_name):
            values = self.get_initial_state(batch_size)
            states = map_structure(
                lambda v: Variable(ops.convert_to_numpy(v), trainable=False,
                                   dtype=self.variable_dtype, name="rnn_state"), values)
        object.__setattr__(self, "states", states)

    def reset_state(self):
        if self.states is not None:
            for v in _flatten(self.states):
                v.assign(ops.zeros_like(v.value))

    reset_states = reset_state

    def get_initial_state(self, batch_size):
        fn = getattr(self.cell, "get_initial_state", None)
        if fn is not None:
            state = fn(batch_size=batch_size)
        else:
            state = [ops.zeros((batch_size, d), dtype=self.cell.compute_dtype)
                     for d in self.state_size]
        return list(state) if _is_nested(state) else [state]

    # --- shapes and masks -----------------------------------------------------------------
    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, length = sequences_shape[0], sequences_shape[1]
        states = []
        for size in _state_structure(self.cell):
            if _is_nested(size):
                states.append([(batch, s) for s in size])
            else:
                states.append((batch, size))
        units = _output_size(self.cell)
        output = (batch, length, units) if self.return_sequences else (batch, units)
        return (output, *states) if self.return_state else output

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=False):
        shapes = self.compute_output_shape(tuple(sequences.shape))
        dtype = self.compute_dtype
        if self.return_state:
            return [KerasTensor(shapes[0], dtype)] + [
                [KerasTensor(s, dtype) for s in shape] if isinstance(shape, list)
                else KerasTensor(shape, dtype) for shape in shapes[1:]]
        return KerasTensor(shapes, dtype)

    def compute_mask(self, inputs, mask):
        if _is_nested(mask):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None for _ in self.state_size]
        return output_mask

    # --- the time loop --------------------------------------------------------------------
    def _config_dropout_masks(self, cell, step_input, states):
        state = states[0] if _is_nested(states) else states
        if isinstance(cell, _DropoutCellMixin):
            cell.get_dropout_mask(step_input)
            cell.get_recurrent_dropout_mask(state)
        elif isinstance(cell, StackedRNNCells):
            for c, s in zip(cell.cells, states):
                self._config_dropout_masks(c, step_input, s)
                s = list(s) if _is_nested(s) else [s]
                step_input, _ = c.call(step_input, s)

    def _reset_dropout_masks(self, cell):
        if isinstance(cell, _DropoutCellMixin):
            cell.reset_dropout_mask()
            cell.reset_recurrent_dropout_mask()
        elif isinstance(cell, StackedRNNCells):
            for c in cell.cells:
                self._reset_dropout_masks(c)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        with context.use(self.backend_name):
            return self._run(sequences, initial_state, mask, training)

    def _run(self, sequences, initial_state, mask, training):
        dtype = self.cell.compute_dtype
        if initial_state is None:
            if self.stateful:
                initial_state = map_structure(lambda v: v.value, self.states)
            else:
                initial_state = self.get_initial_state(ops.shape(sequences)[0])
        if not _is_nested(initial_state):
            initial_state = [initial_state]
        initial_state = map_structure(lambda s: ops.cast(s, dtype), list(initial_state))
        # the structure the cell expects (stacked cells: one list per sub-cell)
        states = _pack_like(_state_structure(self.cell), _flatten(initial_state))

        step_kwargs = {}
        if _call_takes(self.cell.call, "training"):
            step_kwargs["training"] = training
        if training:
            self._config_dropout_masks(self.cell, sequences[:, 0], states)

        xs = _swap_batch_time(sequences)
        if mask is not None:
            mask = ops.cast(mask, "bool")
            if len(mask.shape) == 3:  # (batch, time, 1) masks, as Keras accepts
                mask = mask[..., 0]
            mask = ops.expand_dims(_swap_batch_time(mask), -1)
        if self.go_backwards:
            xs = ops.flip(xs, axis=0)
            mask = None if mask is None else ops.flip(mask, axis=0)

        cell = self.cell
        zero_output = self.zero_output_for_mask

        def cell_step(x_t, states):
            output, new_states = cell.call(x_t, states, **step_kwargs)
            new_states = _pack_like(states, _flatten(new_states))
            return output, new_states

        if mask is None:
            def step(carry, x_t):
                output, new_states = cell_step(x_t, carry)
                return new_states, output

            final_states, outputs = ops.scan(step, states, xs)
        else:
            def step(carry, inputs):
                x_t, m_t = inputs
                output, new_states = cell_step(x_t, carry)
                # Keras's rule: the first state is the previous output (for stacked cells,
                # the first state of the last cell).
                prev = carry[0]
                if _is_nested(prev):
                    prev = _flatten(carry[-1])[0]
                if zero_output:
                    output = ops.where(m_t, output, ops.zeros_like(output))
                else:
                    output = ops.where(m_t, output, prev)
                flat = [ops.where(m_t, n, o)
                        for n, o in zip(_flatten(new_states), _flatten(carry))]
                return _pack_like(carry, flat), output

            final_states, outputs = ops.scan(step, states, (xs, mask))
        if training:
            self._reset_dropout_masks(self.cell)

        outputs = _swap_batch_time(outputs)
        final_states = list(final_states)
        if self.stateful:
            for var, value in zip(_flatten(self.states), _flatten(final_states)):
                var.assign(value)
        output = outputs if self.return_sequences else outputs[:, -1]
        output = ops.cast(output, self.compute_dtype)
        if self.return_state:
            return [output] + final_states
        return output

    # --- config ---------------------------------------------------------------------------
    def _rnn_config(self):
        return {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }

    _layer_args = {"cell": "cell"}

    def get_config(self):
        return {**super().get_config(), **self._rnn_config(), **self._layer_args_config()}


# --- SimpleRNN / LSTM / GRU: an RNN that owns its cell's arguments ---------------------------
_RNN_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
             "zero_output_for_mask")
_LAYER_ARGS = ("name", "trainable", "dtype", "autocast", "activity_regularizer", "input_shape",
               "input_dim", "batch_size", "batch_input_shape", "input_dtype")


class _FlatConfigRNN(RNN):
    """An RNN layer made from the cell's arguments; its config holds them flat, as Keras's."""

    def _cell_config(self):
        """The cell's arguments for the layer's config."""
        raise NotImplementedError

    def get_config(self):
        config = Layer.get_config(self)
        config.update(self._rnn_config())
        config.update(self._cell_config())
        config.setdefault("activity_regularizer", None)
        return config

    @classmethod
    def from_config(cls, config):
        return Layer.from_config.__func__(cls, config)


class _CellRNN(_FlatConfigRNN):
    _cell_class = None
    _cell_name = None

    def __init__(self, units, **kwargs):
        rnn_kwargs = {k: kwargs.pop(k) for k in _RNN_ARGS + _LAYER_ARGS if k in kwargs}
        cell_kwargs = dict(kwargs)
        if "dtype" in rnn_kwargs:
            cell_kwargs["dtype"] = rnn_kwargs["dtype"]
        if "trainable" in rnn_kwargs:
            cell_kwargs["trainable"] = rnn_kwargs["trainable"]
        cell = self._cell_class(units, name=self._cell_name, **cell_kwargs)
        super().__init__(cell, **rnn_kwargs)

    def __getattr__(self, name):
        # Keras exposes the cell's arguments on the layer (layer.units, layer.dropout, ...).
        if name.startswith("_") or name in ("cell",):
            raise AttributeError(name)
        cell = self.__dict__.get("cell")
        if cell is not None and hasattr(cell, name):
            return getattr(cell, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _cell_config(self):
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return cell_config


class SimpleRNN(_CellRNN):
    """Fully connected RNN whose output is fed back as the next step's state.

    Example:
        >>> y = kbridge.layers.SimpleRNN(4, return_sequences=True)(np.ones((2, 5, 3)))
    """

    _cell_class = SimpleRNNCell
    _cell_name = "simple_rnn_cell"

    def get_config(self):
        config = super().get_config()
        config.pop("seed", None)  # Keras 3's SimpleRNN config has no seed
        return config


class LSTM(_CellRNN):
    """Long short-term memory layer (Keras weight layout, gates ``i, f, c, o``).

    Example:
        >>> y, h, c = kbridge.layers.LSTM(4, return_state=True)(np.ones((2, 5, 3)))
    """

    _cell_class = LSTMCell
    _cell_name = "lstm_cell"


class GRU(_CellRNN):
    """Gated recurrent unit layer (Keras weight layout, gates ``z, r, h``).

    Example:
        >>> y = kbridge.layers.GRU(4, reset_after=False)(np.ones((2, 5, 3)))
    """

    _cell_class = GRUCell
    _cell_name = "gru_cell"


# --- wrappers -----------------------------------------------------------------------------
def _remove_prefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(_LayerArgs, Layer):
    """Runs a recurrent layer forwards and a copy backwards, and merges the two outputs.

    ``merge_mode`` is "concat" (default), "sum", "mul", "ave" or None (a list of both).

    Example:
        >>> y = kbridge.layers.Bidirectional(kbridge.layers.LSTM(4))(np.ones((2, 5, 3)))  # (2, 8)
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        _check_layer(layer)
        if backward_layer is not None:
            _check_layer(backward_layer, "backward_layer")
        if merge_mode not in ("sum", "mul", "ave", "concat", None):
            raise LayerArgumentError("`merge_mode` must be one of 'sum', 'mul', 'ave', 'concat' or "
                               f"None. Received: merge_mode={merge_mode!r}")
        super().__init__(**kwargs)
        # Fresh copies from the config, so the wrapper never shares state with `layer`.
        config = registry.serialize(layer)
        config["config"]["name"] = "forward_" + _remove_prefix(layer.name, "forward_")
        with context.use(self.backend_name):
            self.forward_layer = registry.deserialize(config)
            if backward_layer is None:
                config = registry.serialize(layer)
                config["config"]["go_backwards"] = not config["config"].get("go_backwards",
                                                                             False)
                config["config"]["name"] = "backward_" + _remove_prefix(layer.name, "backward_")
                backward_layer = registry.deserialize(config)
        self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise LayerArgumentError("The forward and backward layers need different `go_backwards` "
                               f"values. Received: {self.forward_layer.go_backwards} for both")
        for attr in ("stateful", "return_sequences", "return_state"):
            f, b = getattr(self.forward_layer, attr), getattr(self.backward_layer, attr)
            if f != b:
                raise LayerArgumentError(f"The forward and backward layers need the same `{attr}`. "
                                   f"Received: {f} (forward) and {b} (backward)")
        for sub in (self.forward_layer, self.backward_layer):
            # Keras zeroes masked outputs of returned sequences, so both directions align.
            if getattr(sub, "zero_output_for_mask", None) is not None:
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self._initial_weights = weights
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True

    def build(self, sequences_shape, initial_state_shape=None):
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                with naming.name_scope(sub.name):
                    sub.build(sequences_shape)
                sub.built = True
        if self._initial_weights is not None:
            n = len(self._initial_weights)
            self.forward_layer.set_weights(self._initial_weights[:n // 2])
            self.backward_layer.set_weights(self._initial_weights[n // 2:])
            self._initial_weights = None
        self.built = True

    def call(self, sequences, initial_state=None, mask=None, training=None):
        kwargs = {"training": training, "mask": mask}
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        y = self.forward_layer(sequences, initial_state=forward_state, **kwargs)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, **kwargs)
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        y = ops.cast(y, self.compute_dtype)
        y_rev = ops.cast(y_rev, self.compute_dtype)
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)  # back to the input's time order
        if self.merge_mode == "concat":
            output = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = [y, y_rev]
        if self.return_state:
            return (output if self.merge_mode is None else [output]) + states
        return output

    def compute_mask(self, inputs, mask):
        if _is_nested(mask):
            mask = mask[0]
        if self.return_sequences:
            output_mask = [mask, mask] if self.merge_mode is None else mask
        else:
            output_mask = [None, None] if self.merge_mode is None else None
        if self.return_state:
            n_states = len(_state_sizes(self.forward_layer.cell))
            head = output_mask if isinstance(output_mask, list) else [output_mask]
            return head + [None] * (2 * n_states)
        return output_mask

    def reset_state(self):
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, "reset_state"):
                sub.reset_state()

    reset_states = reset_state

    _layer_args = {"layer": "forward_layer", "backward_layer": "backward_layer"}

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode,
                **self._layer_args_config()}


class TimeDistributed(_LayerArgs, Layer):
    """Applies a layer to every time step (axis 1) of its input independently.

    Example:
        >>> y = kbridge.layers.TimeDistributed(kbridge.layers.Dense(4))(np.ones((2, 5, 3)))
    """

    def __init__(self, layer, **kwargs):
        _check_layer(layer)
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    def _inner_shape(self, input_shape):
        if len(input_shape) < 3:
            raise LayerArgumentError("TimeDistributed needs inputs of rank 3 or more "
                               f"(batch, time, ...). Received: shape={tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        if not self.layer.built:
            with naming.name_scope(self.layer.name):
                self.layer.build(self._inner_shape(input_shape))
            self.layer.built = True
        self.built = True

    def compute_output_spec(self, inputs, training=None, mask=None):
        inner = KerasTensor(self._inner_shape(tuple(inputs.shape)), inputs.dtype)
        out = self.layer.compute_output_spec(inner)
        return KerasTensor((inputs.shape[0], inputs.shape[1]) + tuple(out.shape[1:]), out.dtype)

    def call(self, inputs, training=None, mask=None):
        shape = ops.shape(inputs)
        batch, steps = shape[0], shape[1]
        flat = ops.reshape(inputs, (-1,) + tuple(shape[2:]))
        kwargs = {}
        if _call_takes(self.layer.call, "training"):
            kwargs["training"] = training
        if mask is not None and _call_takes(self.layer.call, "mask"):
            kwargs["mask"] = ops.reshape(mask, (-1,) + tuple(ops.shape(mask)[2:]))
        out = self.layer(flat, **kwargs)
        return ops.reshape(out, (batch, steps) + tuple(ops.shape(out)[1:]))

    def compute_mask(self, inputs, mask):
        return mask

    _layer_args = {"layer": "layer"}

    def get_config(self):
        return {**super().get_config(), **self._layer_args_config()}
