"""``kbridge.layers.Layer``: state (Variables), lazy building, calls and configs.

A layer remembers the backend that was active when it was created; its variables live there,
and numpy inputs are converted to that backend when it is called. Calling a layer on
:class:`kbridge.KerasTensor` placeholders builds it from their shapes and records a node of
the Functional graph instead of computing.
"""

import contextvars
import functools
import inspect
import threading

import numpy as np

from kbridge import dtype_policies
from kbridge.backend.common import context, naming, symbolic
from kbridge.backend.common.dispatch import backend_module
from kbridge.backend.common.keras_tensor import KerasTensor
from kbridge.backend.common.structure import flatten as _flatten
from kbridge.backend.common.structure import map_structure
from kbridge.backend.common.variables import Variable
from kbridge.errors import ArgumentError, KbridgeError, ShapeError
from kbridge.saving import registry

# The ``training`` flag of the outermost call, inherited by nested calls that omit it.
_training_context = contextvars.ContextVar("kbridge_training", default=None)
# True inside a layer call: the outermost call clears the losses of the previous call.
_in_call = contextvars.ContextVar("kbridge_in_call", default=False)
# Set while a layer traces its ``call`` on KerasTensors: nested layers then record no nodes.
_tracing = contextvars.ContextVar("kbridge_tracing", default=False)


def _record_op(name, args, kwargs, outputs):
    """An op called on KerasTensors outside a layer's own call becomes a graph node."""
    if not _tracing.get():
        from kbridge.layers.operation import record_operation

        record_operation(name, args, kwargs, outputs)


symbolic.set_recorder(_record_op)


class _FastCallState(threading.local):
    """Per-thread state of the *plain* call path, which writes no ContextVar.

    ``torch.compile`` (Dynamo) cannot trace ``ContextVar.set``, so a caller that runs a
    whole built model in one go (``TorchModule.forward``) switches this on with
    :func:`plain_calls`; nested layer calls then keep the training flag and the "inside a
    call" flag here, as ordinary attributes, instead of in the context variables above.
    """

    def __init__(self):
        self.active = False   # calls take the plain path
        self.training = None  # the inherited ``training`` flag (as ``_training_context``)
        self.in_call = False  # inside a layer call (as ``_in_call``)


_fast = _FastCallState()


def plain_calls_active():
    """True while layer calls on this thread take the plain path (see :func:`enter_plain_calls`)."""
    return _fast.active


def enter_plain_calls(training):
    """Switch this thread's layer calls to the plain path; returns what :func:`exit_plain_calls`
    restores.

    Only plain attribute writes happen here and in the calls that follow, so a
    ``torch.compile`` / ``torch.export`` trace of the whole forward has no graph break. The
    backend of each layer is made active through ``context.force`` (a plain attribute too).
    Example:
        >>> saved = enter_plain_calls(training=False)
        >>> try:
        ...     y = model(x)
        ... finally:
        ...     exit_plain_calls(saved)
    """
    saved = (_fast.active, _fast.training, _fast.in_call, context.forced())
    _fast.active, _fast.training, _fast.in_call = True, training, False
    return saved


def exit_plain_calls(saved):
    _fast.active, _fast.training, _fast.in_call, backend = saved
    context.force(backend)


class InputSpec:
    """Constraints on a layer's input: ``ndim``, ``min_ndim``, ``max_ndim``, ``axes``, ``dtype``."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = dtype
        self.shape = shape
        self.ndim = len(shape) if shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        self.name = name
        self.optional = optional

    def check(self, layer_name, shape):
        ndim = len(shape)
        if self.ndim is not None and ndim != self.ndim:
            raise ShapeError(f"Input of layer '{layer_name}' must have {self.ndim} dimensions. "
                             f"Received: shape={tuple(shape)}")
        if self.min_ndim is not None and ndim < self.min_ndim:
            raise ShapeError(f"Input of layer '{layer_name}' must have at least {self.min_ndim} "
                             f"dimensions. Received: shape={tuple(shape)}")
        if self.max_ndim is not None and ndim > self.max_ndim:
            raise ShapeError(f"Input of layer '{layer_name}' must have at most {self.max_ndim} "
                             f"dimensions. Received: shape={tuple(shape)}")
        for axis, size in self.axes.items():
            got = shape[axis] if -ndim <= axis < ndim else None
            if size is not None and got is not None and got != size:
                raise ShapeError(f"Input of layer '{layer_name}' must have size {size} on axis "
                                 f"{axis}. Received: shape={tuple(shape)}")


class Node:
    """One call of a layer on KerasTensors: the edge of a Functional graph."""

    def __init__(self, layer, args, kwargs, outputs):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.output_tensors = _flatten(outputs)
        self.input_tensors = [t for t in _flatten((args, kwargs)) if isinstance(t, KerasTensor)]


def _has_symbolic(values):
    return any(isinstance(t, KerasTensor) for t in _flatten(values))


def _shape_of(x):
    if isinstance(x, (list, tuple)):
        return type(x)(_shape_of(v) for v in x)
    if isinstance(x, dict):
        return {k: _shape_of(v) for k, v in x.items()}
    shape = getattr(x, "shape", None)
    return None if shape is None else tuple(shape)


class Layer:
    """Base class of every layer: weights, lazy ``build``, ``call``, config round trip.

    Subclasses implement ``build(input_shape)`` (create weights with :meth:`add_weight`) and
    ``call(inputs, ...)`` (compute with ``kbridge.ops``). Constructor keywords are Keras 3's.

    Example:
        >>> class Scale(kbridge.layers.Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight(shape=input_shape[-1:], initializer="ones")
        ...     def call(self, x):
        ...         return x * self.w
    """

    _unsafe_to_deserialize = False

    # TensorFlow's AutoGraph must run layers as they are (``ds.map(layer)``), not rewrite them.
    autograph_info__ = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith(("kbridge.", "model_zoo.")):
            registry.register(cls)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            cls.build = _marking_built(build)

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        # Set before any subclass __init__ runs, so attribute tracking always works.
        obj.__dict__.update(_layers=[], _variables=[], _losses=[], _regularized=[],
                            _seed_generators=[],
                            built=False, _build_shapes_dict=None, _call_signature=None,
                            _remat_mode=None)
        return obj

    def __init__(self, *, activity_regularizer=None, trainable=True, dtype=None, autocast=True,
                 name=None, **kwargs):
        input_shape = kwargs.pop("input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        batch_size = kwargs.pop("batch_size", None)
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        kwargs.pop("input_dtype", None)
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                            f"{sorted(kwargs)}")
        self.name = naming.validate_name(
            name or naming.uniquify(naming.to_snake_case(type(self).__name__)), "layer")
        self.backend_name = context.get()
        self._remat_mode = _current_remat_mode()
        self.dtype_policy = dtype_policies.get(dtype)
        self.autocast = autocast
        self._trainable = bool(trainable)
        self.supports_masking = False
        self.input_spec = None
        self.activity_regularizer = _get_regularizer(activity_regularizer)
        if batch_input_shape is not None:
            self._input_shape_arg = tuple(batch_input_shape)
        elif input_shape is not None or input_dim is not None:
            shape = tuple(input_shape) if input_shape is not None else (input_dim,)
            self._input_shape_arg = (batch_size,) + shape
        else:
            self._input_shape_arg = None

    # --- tracking -----------------------------------------------------------------
    def __setattr__(self, name, value):
        if not name.startswith("__"):
            for item in _flatten(value) if isinstance(value, (list, tuple, dict)) else [value]:
                if isinstance(item, Layer) and item is not self and item not in self._layers:
                    self._layers.append(item)
                elif isinstance(item, Variable) and all(item is not v for v in self._variables):
                    self._variables.append(item)
                elif isinstance(item, _seed_generator_class()) and all(
                        item is not g for g in self._seed_generators):
                    self._seed_generators.append(item)
        object.__setattr__(self, name, value)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    @property
    def dtype(self):
        """The dtype of the layer's variables."""
        return self.dtype_policy.variable_dtype

    compute_dtype = property(lambda self: self.dtype_policy.compute_dtype)
    variable_dtype = property(lambda self: self.dtype_policy.variable_dtype)

    @property
    def layers(self):
        return list(self._layers)

    def _flat_layers(self):
        seen, out = set(), []
        for layer in self._layers:
            for sub in [layer] + layer._flat_layers():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    out.append(sub)
        return out

    def _all_variables(self):
        seen, out = set(), []
        for v in self._variables + [w for layer in self._layers for w in layer._all_variables()]:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    @property
    def weights(self):
        """All variables, in creation order per layer (Keras's order)."""
        return self._all_variables()

    @property
    def variables(self):
        return self._all_variables()

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        own = [v for v in self._variables if v.trainable]
        return _unique(own + [w for layer in self._layers for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self):
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    trainable_variables = trainable_weights

    def _seed_states(self):
        states = [g.state for g in self._seed_generators]
        for layer in self._layers:
            states.extend(layer._seed_states())
        return _unique(states)

    @property
    def non_trainable_variables(self):
        """Non-trainable weights plus random-seed states: the state a pure call threads
        through (``stateless_call``). Seed states are not saved with the weights."""
        return _unique(self.non_trainable_weights + self._seed_states())

    # --- the stateless API ----------------------------------------------------------
    def stateless_call(self, trainable_variables, non_trainable_variables, *args,
                       return_losses=False, **kwargs):
        """Call the layer as a pure function of its state.

        Args:
            trainable_variables: values for :attr:`trainable_variables`, in order.
            non_trainable_variables: values for :attr:`non_trainable_variables`, in order.
            *args, **kwargs: the call arguments.
            return_losses: also return the losses added during the call.

        Returns:
            ``(outputs, new_non_trainable_values)`` (plus ``losses`` if asked). Nothing in
            the layer changes, so it can be traced by ``jax.jit``.

        Example:
            >>> y, nt = layer.stateless_call([v.value for v in layer.trainable_variables],
            ...                              [v.value for v in layer.non_trainable_variables], x)
        """
        from kbridge.backend.common.stateless import StatelessScope

        trainable, non_trainable = self.trainable_variables, self.non_trainable_variables
        if len(trainable_variables) != len(trainable) or len(non_trainable_variables) != len(
                non_trainable):
            raise ShapeError(
                f"stateless_call on '{self.name}' expects {len(trainable)} trainable and "
                f"{len(non_trainable)} non-trainable values. Received: "
                f"{len(trainable_variables)} and {len(non_trainable_variables)}")
        mapping = list(zip(trainable, trainable_variables)) + list(
            zip(non_trainable, non_trainable_variables))
        self._clear_losses()
        with StatelessScope(mapping) as scope:
            outputs = self(*args, **kwargs)
            losses = self.losses if return_losses else None
        self._clear_losses()
        new_non_trainable = [scope.final_value(v) for v in non_trainable]
        if return_losses:
            return outputs, new_non_trainable, losses
        return outputs, new_non_trainable

    # --- weights --------------------------------------------------------------------
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                   regularizer=None, constraint=None, aggregation="none",
                   overwrite_with_gradient=False, name=None):
        """Create and track a Variable on this layer's backend.

        ``initializer`` is a name ("glorot_uniform", "zeros", ...), an initializer object or a
        callable ``f(shape, dtype)``; by default glorot_uniform for floats, zeros otherwise.
        """
        from kbridge import initializers

        shape = () if shape is None else tuple(int(d) for d in shape)
        dtype = dtype_policies.get(dtype).variable_dtype if dtype else self.variable_dtype
        if initializer is None:
            initializer = "glorot_uniform" if "float" in dtype else "zeros"
        initializer = initializers.get(initializer)
        with context.use(self.backend_name):
            variable = Variable(initializer, shape=shape, dtype=dtype, trainable=trainable,
                                autocast=autocast, aggregation=aggregation, name=name or "variable")
        variable.constraint = _get_constraint(constraint)
        variable.overwrite_with_gradient = overwrite_with_gradient
        self._variables.append(variable)
        if regularizer is not None:
            self._regularized.append((variable, _get_regularizer(regularizer)))
        return variable

    add_variable = add_weight

    # A weight's constructor arguments ``<prefix>_initializer``, ``_regularizer`` and
    # ``_constraint`` (``kernel_initializer`` ...), stored, used and serialized together.
    def _set_weight_args(self, prefix, initializer, regularizer, constraint):
        """Stores ``<prefix>_initializer``, ``<prefix>_regularizer`` and ``<prefix>_constraint``."""
        from kbridge import initializers

        setattr(self, f"{prefix}_initializer", initializers.get(initializer))
        setattr(self, f"{prefix}_regularizer", _get_regularizer(regularizer))
        setattr(self, f"{prefix}_constraint", _get_constraint(constraint))

    def _add_weight_from(self, prefix, name, shape, **kwargs):
        """A weight made with the ``<prefix>_*`` initializer, regularizer and constraint
        (``kwargs``: more :meth:`add_weight` arguments)."""
        return self.add_weight(name=name, shape=shape,
                               initializer=getattr(self, f"{prefix}_initializer"),
                               regularizer=getattr(self, f"{prefix}_regularizer"),
                               constraint=getattr(self, f"{prefix}_constraint"), **kwargs)

    def _weight_config(self, *prefixes, kinds=("initializer", "regularizer", "constraint")):
        """The serialized ``<prefix>_<kind>`` arguments, in Keras's key order (prefixes vary
        fastest)."""
        return {f"{prefix}_{kind}": registry.serialize(getattr(self, f"{prefix}_{kind}"))
                for kind in kinds for prefix in prefixes}

    def get_weights(self):
        """The values of :attr:`weights` as numpy arrays (copies: later training leaves them
        unchanged; torch's ``numpy()`` shares memory with the tensor)."""
        return [np.array(v.numpy(), copy=True) for v in self.weights]

    def set_weights(self, weights):
        """Assign numpy arrays to :attr:`weights`, in the same order and shapes."""
        params = self.weights
        if len(weights) != len(params):
            raise ShapeError(f"Layer '{self.name}' expects {len(params)} weight arrays. "
                             f"Received: {len(weights)}")
        for v, w in zip(params, weights):
            if tuple(np.shape(w)) != v.shape:
                raise ShapeError(f"Weight '{v.path}' has shape {v.shape}. "
                                 f"Received a value of shape {tuple(np.shape(w))}")
        for v, w in zip(params, weights):
            v.assign(w)

    def count_params(self):
        if not self.built:
            raise KbridgeError(f"Layer '{self.name}' is not built yet, so it has no weights to "
                               "count. Call it on data or call build(input_shape) first.")
        return int(sum(np.prod(v.shape, dtype=np.int64) for v in self.weights))

    # --- losses ---------------------------------------------------------------------
    def add_loss(self, loss):
        from kbridge.backend.common import stateless

        scope = stateless.current_scope()
        if scope is not None and hasattr(scope, "add_loss"):  # kbridge.StatelessScope
            scope.add_loss(loss)
        self._losses.append(loss)

    @property
    def losses(self):
        """Losses added during the last call, plus regularisation of the weights."""
        from kbridge import ops

        out = list(self._losses)
        for v, reg in self._regularized:
            out.append(reg(v))
        for layer in self._layers:
            out.extend(layer.losses)
        return [ops.convert_to_tensor(x) if not isinstance(x, KerasTensor) else x for x in out]

    def _clear_losses(self):
        self._losses.clear()
        for layer in self._layers:
            layer._clear_losses()

    # --- building -------------------------------------------------------------------
    def build(self, input_shape=None):
        """Create the layer's weights for ``input_shape``; the default creates none."""
        self.built = True

    def _signature(self):
        if self._call_signature is None:
            object.__setattr__(self, "_call_signature", inspect.signature(self.call))
        return self._call_signature

    def _maybe_build(self, bound):
        if self.built:
            return
        shapes = {f"{k}_shape": _shape_of(v) for k, v in bound.items()
                  if k != "training" and k != "mask" and not k.endswith("_mask")
                  and _shape_of(v) is not None}
        build_params = [p for p in inspect.signature(self.build).parameters.values()
                        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        object.__setattr__(self, "_build_shapes_dict", shapes)
        # build(query_shape, value_shape, key_shape=None): pass by name when the names match
        # the call arguments (those with defaults may be absent); else the first input's shape.
        by_name = (len(build_params) > 1 and build_params[0].name in shapes and all(
            p.name in shapes or p.default is not p.empty for p in build_params))
        with naming.layer_scope(self.name):
            if by_name:
                self.build(**{p.name: shapes[p.name] for p in build_params if p.name in shapes})
            else:
                self.build(next(iter(shapes.values()), None))
        self.built = True

    def get_build_config(self):
        if self._build_shapes_dict:
            if len(self._build_shapes_dict) == 1:
                return {"input_shape": next(iter(self._build_shapes_dict.values()))}
            return {"shapes_dict": self._build_shapes_dict}
        return None

    def build_from_config(self, config):
        if config:
            with naming.layer_scope(self.name):
                if "input_shape" in config:
                    self.build(_tuplify(config["input_shape"]))
                elif "shapes_dict" in config:
                    self.build(**{k: _tuplify(v) for k, v in config["shapes_dict"].items()})
            object.__setattr__(self, "_build_shapes_dict",
                               config.get("shapes_dict") or {"input_shape": config.get("input_shape")})
            self.built = True

    # --- calling --------------------------------------------------------------------
    def call(self, *args, **kwargs):
        raise NotImplementedError(f"Layer {type(self).__name__} does not implement call().")

    def _convert_input(self, x):
        if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind in "USO":
            return x  # strings stay numpy: lookup and text layers read them there
        if isinstance(x, (np.ndarray, np.generic, list, float, int)) and not isinstance(x, bool):
            return backend_module(self.backend_name, "core").convert_to_tensor(x)
        return x

    def _convert_other_inputs(self, args, kwargs):
        """numpy arrays among the other positional and keyword arguments become this layer's
        backend tensors too (as in Keras); Python scalars and strings stay as they are."""

        def convert(x):
            if x.__class__ is np.ndarray and x.dtype.kind not in "USO":
                return backend_module(self.backend_name, "core").convert_to_tensor(x)
            return x

        if len(args) > 1:
            args = args[:1] + tuple(map_structure(convert, a) for a in args[1:])
        if kwargs and any(v.__class__ in (np.ndarray, list, tuple, dict)
                          for v in kwargs.values()):
            kwargs = {k: map_structure(convert, v) for k, v in kwargs.items()}
        return args, kwargs

    def _cast_inputs(self, args, kwargs, float_name=None):
        """Float tensors in ``args``/``kwargs`` cast to the compute dtype, as Keras's autocast
        (float64 numpy data into a float32 model); ints, bools and strings are left alone.
        ``float_name`` replaces the cached dtype lookup (the plain call path passes its own)."""
        lookup = float_name or _float_name
        target = self.compute_dtype
        if lookup(target) is None:  # an integer or string layer: nothing to autocast
            return args, kwargs

        def cast(x):
            dtype = getattr(x, "dtype", None)
            if dtype is None or x is None:
                return x
            name = lookup(dtype)
            if name is None or name == target:
                return x
            if isinstance(x, KerasTensor):
                out = KerasTensor(x.shape, target, sparse=x.sparse)
                out._keras_mask = getattr(x, "_keras_mask", None)
                return out
            if isinstance(x, (np.ndarray, np.generic)):
                # The numpy backend's tensors: cast here, since ops on numpy arrays would
                # run on the caller's active backend, which need not be this layer's.
                from kbridge.backend.common.dtypes import numpy_dtype

                return x.astype(numpy_dtype(target))
            from kbridge import ops

            return ops.cast(x, target)

        def needs_cast(x):
            dtype = getattr(x, "dtype", None)
            return dtype is not None and lookup(dtype) not in (None, target)

        if not any(needs_cast(x) for x in _flatten((args, kwargs))):  # the usual case
            return args, kwargs
        return map_structure(cast, args), {k: map_structure(cast, v) for k, v in kwargs.items()}

    def __call__(self, *args, **kwargs):
        if _fast.active:
            # A layer that keeps Layer.build creates nothing when built: plain-callable as is.
            if (self.built or type(self).build is Layer.build) and self._remat_mode is None:
                return self._plain_call(args, kwargs)
            return self._general_call_from_plain(args, kwargs)
        return self._general_call(args, kwargs)

    def _general_call(self, args, kwargs):
        """``__call__`` with every feature: building, symbolic calls, name scopes, remat."""
        user_kwargs = dict(kwargs)
        if args:
            args = (map_structure(self._convert_input, args[0]),) + args[1:]
        args, kwargs = self._convert_other_inputs(args, kwargs)
        takes_training, takes_mask = self._call_arguments()
        if takes_training:
            if kwargs.get("training") is None:
                kwargs["training"] = _training_context.get()
        else:
            kwargs.pop("training", None)
        if not takes_mask:
            kwargs.pop("mask", None)
        # Binding the arguments to ``call``'s signature is only needed to build (shapes by
        # argument name); a built layer's call on tensors skips it.
        bound = None if self.built else self._signature().bind(*args, **kwargs).arguments
        if _has_symbolic((args, kwargs)):
            if bound is None:
                bound = self._signature().bind(*args, **kwargs).arguments
            return self._symbolic_call(args, kwargs, bound, user_kwargs)
        if self.autocast:
            args, kwargs = self._cast_inputs(args, kwargs)
        if self.input_spec is not None and args:
            self._check_input_spec(args[0])
        # The layer's backend is active inside its build and call, so ops on plain numpy
        # arrays (the numpy backend's tensors) go to it, not to the caller's active backend.
        outermost = not _in_call.get()
        if outermost and bound is None and self._remat_mode is None:
            # A built model called on tensors: its inner layers take the plain path (no
            # context-variable writes or name scopes per layer), as under ``to_torch``.
            saved = enter_plain_calls(kwargs.get("training", _training_context.get()))
            try:
                return self._plain_call(args, kwargs)
            finally:
                exit_plain_calls(saved)
        backend_token = context._override.set(self.backend_name)
        call_token = _in_call.set(True)
        token = _training_context.set(kwargs.get("training", _training_context.get()))
        try:
            self._maybe_build(bound)
            if outermost:
                self._clear_losses()
            with naming.layer_scope(self.name):
                if self._remat_mode is None:
                    outputs = self.call(*args, **kwargs)
                else:
                    from kbridge import scopes

                    outputs = scopes.rematerialized_call(self, self._remat_mode, self.call,
                                                         *args, **kwargs)(*args, **kwargs)
        finally:
            _training_context.reset(token)
            context._override.reset(backend_token)
            _in_call.reset(call_token)
        if self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
        return outputs

    def _add_activity_loss(self, outputs):
        from kbridge import ops

        for out in _flatten(outputs):
            self.add_loss(ops.divide(self.activity_regularizer(out),
                                     ops.cast(ops.shape(out)[0], out.dtype)))

    def _call_arguments(self):
        """``(takes training, takes mask)`` of ``call``, resolved once per layer."""
        flags = self.__dict__.get("_call_flags")
        if flags is None:
            params = self._signature().parameters
            flags = ("training" in params, "mask" in params)
            object.__setattr__(self, "_call_flags", flags)
        return flags

    def _plain_call(self, args, kwargs):
        """``__call__`` of a built layer on concrete tensors, with plain state only.

        The same steps as the general path (input conversion, inherited ``training``,
        autocast, input spec, losses, activity regularizer) without signature binding,
        name scopes or context-variable writes: what ``torch.compile`` traces whole.
        """
        state = _fast
        takes_training, takes_mask = self._call_arguments()
        if args:
            args = (map_structure(self._convert_input, args[0]),) + args[1:]
        args, kwargs = self._convert_other_inputs(args, kwargs)
        if takes_training:
            if kwargs.get("training") is None:
                kwargs["training"] = state.training
        elif "training" in kwargs:
            kwargs.pop("training")
        if not takes_mask and "mask" in kwargs:
            kwargs.pop("mask")
        if self.autocast:
            args, kwargs = self._cast_inputs(args, kwargs, _plain_float_name)
        if self.input_spec is not None and args:
            self._check_input_spec(args[0])
        saved = (state.training, state.in_call, context.forced())
        state.training = kwargs.get("training", saved[0])
        state.in_call = True
        context.force(self.backend_name)
        try:
            if not saved[1]:
                self._clear_losses()
            outputs = self.call(*args, **kwargs)
        finally:
            state.training, state.in_call = saved[0], saved[1]
            context.force(saved[2])
        if self.activity_regularizer is not None:
            self._add_activity_loss(outputs)
        return outputs

    def _general_call_from_plain(self, args, kwargs):
        """A call the plain path cannot take (an unbuilt layer, rematerialization) made while
        plain calls are on: the general path, with the plain state moved into the context
        variables for its duration."""
        saved = enter_plain_calls(None)
        _fast.active = False
        context.force(None)
        backend_token = context._override.set(saved[3]) if saved[3] is not None else None
        call_token = _in_call.set(saved[2])
        token = _training_context.set(saved[1])
        try:
            # Straight to the general path: under torch.compile the plain flag's reset above
            # may not be visible yet after a graph break, and ``__call__`` would loop.
            return self._general_call(args, kwargs)
        finally:
            _training_context.reset(token)
            _in_call.reset(call_token)
            if backend_token is not None:
                context._override.reset(backend_token)
            exit_plain_calls(saved)

    def _check_input_spec(self, x):
        specs = self.input_spec if isinstance(self.input_spec, (list, tuple)) else [self.input_spec]
        for spec, t in zip(specs, _flatten(x)):
            shape = getattr(t, "shape", None)
            if spec is not None and shape is not None:
                spec.check(self.name, tuple(shape))

    def _symbolic_call(self, args, kwargs, bound, user_kwargs):
        if self.input_spec is not None and args:
            self._check_input_spec(args[0])
        self._maybe_build(bound)
        if kwargs.get("training") is None and "training" in kwargs:
            kwargs["training"] = False
        call_args, call_kwargs = self._cast_inputs(args, kwargs) if self.autocast else (args, kwargs)
        token = _tracing.set(True)
        was_tracing = token.old_value is True
        try:
            with naming.layer_scope(self.name):
                try:
                    outputs = self.compute_output_spec(*call_args, **call_kwargs)
                except Exception:
                    if type(self).compute_output_spec is not Layer.compute_output_spec:
                        raise
                    # ``call`` needs concrete values (a shape with the unknown batch size in
                    # it, a Python loop over a dimension): infer the output by running it.
                    outputs = self._probe_output_spec(call_args, call_kwargs)
        finally:
            _tracing.reset(token)
        # A layer that returns its input unchanged (Dropout at inference, Identity) must
        # still produce a new graph tensor, or the Functional graph would loop on itself.
        input_ids = {id(t) for t in _flatten((args, kwargs)) if isinstance(t, KerasTensor)}
        if input_ids:
            outputs = map_structure(
                lambda t: KerasTensor(t.shape, t.dtype, sparse=t.sparse)
                if isinstance(t, KerasTensor) and id(t) in input_ids else t, outputs)
        object.__setattr__(self, "_last_output_shape",
                           map_structure(lambda t: getattr(t, "shape", None), outputs))
        if self.supports_masking or type(self).compute_mask is not Layer.compute_mask:
            mask = kwargs.get("mask")
            if mask is None and args:
                mask = map_structure(lambda t: getattr(t, "_keras_mask", None), args[0])
                mask = None if all(m is None for m in _flatten(mask)) else mask
            try:
                out_mask = self.compute_mask(args[0] if args else None, mask)
            except Exception:  # masks are best-effort metadata on placeholders
                out_mask = None
            for t, m in zip(_flatten(outputs), _flatten(out_mask) if out_mask is not None else []):
                if isinstance(t, KerasTensor):
                    t._keras_mask = m
        if not was_tracing:
            node = Node(self, args, user_kwargs, outputs)
            self._inbound_nodes.append(node)
            for i, t in enumerate(node.output_tensors):
                if isinstance(t, KerasTensor):
                    t._keras_history = (self, len(self._inbound_nodes) - 1, i)
        return outputs

    def _probe_output_spec(self, args, kwargs):
        """Output KerasTensors found by calling ``call`` on small concrete tensors of this
        layer's backend, twice with different sizes for the unknown dimensions (a dimension
        that differs between the two runs is unknown). The way Keras traces ``call``."""
        from kbridge.backend.common.dtypes import numpy_dtype
        from kbridge.backend.common.symbolic import _PROBES, _merge

        core = backend_module(self.backend_name, "core")

        def concrete(t, probe):
            if not isinstance(t, KerasTensor):
                return t
            shape = tuple(probe if d is None else d for d in t.shape)
            dtype = numpy_dtype(t.dtype)
            value = np.ones(shape, dtype) if dtype.kind in "fc" else np.zeros(shape, dtype)
            return core.convert_to_tensor(value)

        results = []
        backend_token = context._override.set(self.backend_name)
        try:
            for probe in _PROBES:
                out = self.call(*map_structure(lambda t: concrete(t, probe), args),
                                **{k: map_structure(lambda t: concrete(t, probe), v)
                                   for k, v in kwargs.items()})
                results.append(map_structure(
                    lambda t: np.asarray(core.convert_to_numpy(t))
                    if hasattr(t, "shape") and hasattr(t, "dtype") else t, out))
        finally:
            context._override.reset(backend_token)
        self._clear_losses()
        return _merge(results[0], results[1])

    @property
    def _inbound_nodes(self):
        nodes = self.__dict__.get("_nodes")
        if nodes is None:
            nodes = []
            object.__setattr__(self, "_nodes", nodes)
        return nodes

    def compute_output_spec(self, *args, **kwargs):
        """KerasTensors of the output, by running ``call`` on the placeholder inputs."""
        return self.call(*args, **kwargs)

    def compute_output_shape(self, *args, **kwargs):
        inputs = placeholders_for(args[0], self.compute_dtype)
        out = self.compute_output_spec(inputs, *args[1:], **kwargs)
        return map_structure(lambda t: t.shape, out)

    def compute_mask(self, inputs, previous_mask):
        """The output mask; by default the input mask when ``supports_masking``, else None."""
        return previous_mask if self.supports_masking else None

    # --- config ---------------------------------------------------------------------
    # Constructor arguments that get_config lists as stored: ``config[name] = getattr(self, name)``.
    _config_attrs = ()

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": registry.serialize(self.dtype_policy)}
        if self._input_shape_arg is not None:
            config["batch_input_shape"] = list(self._input_shape_arg)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = registry.serialize(self.activity_regularizer)
        config.update((name, getattr(self, name)) for name in self._config_attrs)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = dtype_policies.get(config["dtype"])
        params = inspect.signature(cls.__init__).parameters
        if any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return cls(**config)
        # A subclass whose constructor takes fewer arguments than the base config holds
        # (``def __init__(self):``): pass what it accepts, then restore name and trainable.
        base = {k: config.pop(k) for k in ("name", "trainable", "dtype") if k not in params
                and k in config}
        if "batch_input_shape" not in params:
            config.pop("batch_input_shape", None)
        layer = cls(**config)
        if "name" in base:
            layer.name = naming.validate_name(base["name"], "layer")
        if "trainable" in base:
            layer.trainable = base["trainable"]
        return layer

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _current_remat_mode():
    """The ``kbridge.RematScope`` active when a layer is created (None almost always)."""
    import sys

    scopes = sys.modules.get("kbridge.scopes")  # no scope can be active before it is imported
    return None if scopes is None else scopes.get_current_remat_mode()


_FLOAT_NAMES = {}  # framework dtype object -> its kbridge float name, or None (not a float)


def _float_name(dtype, cache=_FLOAT_NAMES):
    """The kbridge name of ``dtype`` if it is a float dtype, else None (cached per object)."""
    if dtype is None:
        return None
    try:
        return cache[dtype]
    except (KeyError, TypeError):
        pass
    from kbridge.backend.common.dtypes import FLOAT_TYPES, standardize_dtype

    try:
        name = standardize_dtype(dtype)
    except Exception:  # strings, objects: nothing to cast
        name = None
    name = name if name in FLOAT_TYPES else None
    try:
        cache[dtype] = name
    except TypeError:
        pass
    return name


# The same, for the plain call path: it holds only the dtypes seen there (torch's), so a
# Dynamo trace never hashes another framework's dtype objects (TensorFlow's DType has a C
# ``__hash__`` Dynamo cannot trace).
_PLAIN_FLOAT_NAMES = {}


def _marking_built(build):
    """``build`` that leaves the layer built, its shapes recorded for ``get_build_config``,
    also when user code calls it directly (``model.build((None, 6))``), as in Keras."""

    @functools.wraps(build)
    def wrapper(self, *args, **kwargs):
        out = build(self, *args, **kwargs)
        if self._build_shapes_dict is None:
            shapes = dict(kwargs)
            if len(args) == 1 and not shapes:
                shapes = {"input_shape": args[0]}
            if shapes:
                object.__setattr__(self, "_build_shapes_dict", shapes)
        self.built = True
        return out

    wrapper._marks_built = True
    return wrapper


def _plain_float_name(dtype):
    # Only names and torch dtypes enter the cache Dynamo traces: it can hash those, not
    # TensorFlow's DType or numpy's dtype (which other backends' plain calls bring).
    if not isinstance(dtype, str) and type(dtype).__module__ != "torch":
        return _float_name(dtype)
    return _float_name(dtype, _PLAIN_FLOAT_NAMES)


def _unique(items):
    seen, out = set(), []
    for v in items:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _tuplify(shape):
    if is_shape(shape):
        return tuple(shape)
    if isinstance(shape, (list, tuple)):
        return type(shape)(_tuplify(s) for s in shape)
    if isinstance(shape, dict):
        return {k: _tuplify(v) for k, v in shape.items()}
    return shape


def is_shape(value):
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, int) for d in value)


def placeholders_for(shape, dtype):
    """KerasTensors for a (nested) structure of shapes."""
    if is_shape(shape):
        return KerasTensor(tuple(shape), dtype)
    if isinstance(shape, (list, tuple)):
        return type(shape)(placeholders_for(s, dtype) for s in shape)
    if isinstance(shape, dict):
        return {k: placeholders_for(v, dtype) for k, v in shape.items()}
    return shape


def _seed_generator_class():
    from kbridge.random.seed_generator import SeedGenerator

    return SeedGenerator


def _check_layer(value, name="layer"):
    """Raises unless ``value``, a wrapper's argument ``name``, is a Layer."""
    if not isinstance(value, Layer):
        raise ArgumentError(f"`{name}` must be a kbridge Layer instance. "
                            f"Received: {name}={value!r}")


def _get_regularizer(identifier):
    if identifier is None:
        return None
    from kbridge import regularizers

    return regularizers.get(identifier)


def _get_constraint(identifier):
    if identifier is None:
        return None
    from kbridge import constraints

    return constraints.get(identifier)
