"""The ``Optimizer`` base class: Keras 3's optimizer contract on every kbridge backend.

An optimizer owns kbridge Variables (the iteration counter, the learning rate, per-variable
slots such as Adam's moments) created in the backend of the variables it is built on, so a
torch model gets ``torch.nn.Parameter`` slots and a jax model gets ``jax.Array`` slots.
Updates are written with ``kbridge.ops`` and ``Variable.assign``, which gives:

* eager numpy / torch / tensorflow: in-place updates (a torch Parameter keeps its identity);
* ``stateless_apply``: the same code inside a ``StatelessScope``, hence pure and jittable;
* ``tf.function``: the same code traced into a graph.

Steps that only happen on some iterations (gradient accumulation, EMA overwrite, skipped
loss-scaled steps) branch in Python when the condition is a concrete value and otherwise
(inside ``jax.jit`` or ``tf.function``) compute the update and select old or new values with
``ops.where``, so no backend needs a traced ``cond`` that assigns variables.

A subclass implements ``build(var_list)`` (call ``super().build`` first, then
``add_optimizer_variables``) and ``update_step(gradient, variable, learning_rate)``, and keeps
its own arguments with ``_keep_config``, which also adds them to ``get_config``.
"""

import re
import warnings

from kbridge import ops
from kbridge.backend.common import context, naming
from kbridge.backend.common.dispatch import backend_module
from kbridge.backend.common.variables import Variable
from kbridge.errors import KbridgeError
from kbridge.optimizers import schedules
from kbridge.saving import registry


class OptimizerError(KbridgeError, ValueError):
    """An optimizer was configured or called incorrectly."""


def _int_dtype(backend):
    # Keras's "int" resolves to int32 on jax/numpy and int64 on torch/tensorflow.
    return "int32" if backend in ("jax", "numpy") else "int64"


def concrete_bool(pred):
    """``pred`` as a Python bool, or None when it is symbolic (jax tracer, tf graph tensor)."""
    if isinstance(pred, bool):
        return pred
    try:
        return bool(pred)
    except Exception:  # TracerBoolConversionError, OperatorNotAllowedInGraphError, ...
        return None


def _snapshot(value):
    # A copy, so that later in-place assigns (torch Parameter, tf.Variable) cannot change it.
    return ops.copy(value)


def run_if(pred, fn, variables):
    """Run ``fn`` (which assigns ``variables``) only where ``pred`` holds.

    With a concrete ``pred`` this is a Python ``if``; with a traced one, ``fn`` always runs
    and every variable is then set to ``where(pred, new, old)``.
    """
    flag = concrete_bool(pred)
    if flag is not None:
        if flag:
            fn()
        return
    old = [_snapshot(v.value) for v in variables]
    fn()
    for v, before in zip(variables, old):
        v.assign(ops.where(pred, v.value, before))


# Backends with fused update steps (``kbridge.backend.<name>.optimizers``).
_FUSED_BACKENDS = frozenset({"torch"})


class _NoGrad:
    """``torch.no_grad()`` for the torch backend, a no-op elsewhere."""

    def __init__(self, backend):
        self.ctx = None
        if backend == "torch":
            import torch

            self.ctx = torch.no_grad()

    def __enter__(self):
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)
        return False


class Optimizer(registry.Registered):
    """Base class of kbridge optimizers (Keras 3 ``keras.optimizers.Optimizer``).

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` or a zero-argument callable.
        weight_decay: decoupled weight decay; each step first does
            ``variable -= variable * weight_decay * learning_rate``.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients together to this global L2 norm.
        use_ema: keep an exponential moving average of the model variables.
        ema_momentum: the EMA momentum.
        ema_overwrite_frequency: every this many (accumulated) steps, overwrite the model
            variables with their average; ``None`` leaves it to
            ``finalize_variable_values()``.
        loss_scale_factor: gradients are divided by this before use (see ``scale_loss``).
        gradient_accumulation_steps: update only every this many calls, with the mean of the
            gradients received since the last update.
        name: the name scope of the optimizer's variables.

    Example:
        >>> opt = kbridge.optimizers.SGD(learning_rate=0.1, momentum=0.9)
        >>> opt.apply(grads, model.trainable_variables)
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("The `decay` argument is no longer supported and is ignored.",
                          stacklevel=2)
        if kwargs:
            raise OptimizerError(f"Unrecognised optimizer argument(s): {sorted(kwargs)}")
        self.name = naming.validate_name(
            name or naming.uniquify(naming.to_snake_case(type(self).__name__)), "optimizer")
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        if gradient_accumulation_steps is not None and (
                not isinstance(gradient_accumulation_steps, int)
                or gradient_accumulation_steps < 2):
            raise OptimizerError(
                "`gradient_accumulation_steps` must be an integer >= 2. Received: "
                f"gradient_accumulation_steps={gradient_accumulation_steps!r}")
        if use_ema:
            if not 0 <= ema_momentum <= 1:
                raise OptimizerError(
                    f"`ema_momentum` must be in [0, 1]. Received: ema_momentum={ema_momentum}")
            if ema_overwrite_frequency is not None and (
                    not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1):
                raise OptimizerError(
                    "`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                    f"ema_overwrite_frequency={ema_overwrite_frequency!r}")
        n_clip = sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm))
        if n_clip > 1:
            raise OptimizerError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}")

        self.built = False
        self._backend = None  # the backend of the optimizer's Variables, once created
        self._variables = []
        self._trainable_variables = []
        self._index = {}  # id(model variable) -> position in the built list
        self._iterations = None
        self._exclude_ids = set()
        self._exclude_pattern = None
        self._decay_cache = {}
        self._warned_missing = False

        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
            self._initial_lr = None
        else:
            if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
                raise OptimizerError(
                    "`learning_rate` must be a float, a LearningRateSchedule or a callable "
                    f"returning the learning rate. Received: learning_rate={learning_rate!r}")
            self._learning_rate = None  # a Variable, created with the other state
            self._initial_lr = float(learning_rate)

    # --- state ---------------------------------------------------------------------
    def _ensure_state(self, backend=None):
        """Create (or move to ``backend``) the iteration and learning-rate Variables."""
        backend = backend or self._backend or context.get()
        if self._backend == backend:
            return
        if self._backend is not None and self.built:
            raise OptimizerError(
                f"Optimizer '{self.name}' holds variables on the {self._backend} backend; it "
                f"cannot be used with variables on the {backend} backend. Create a new "
                "optimizer for that model.")
        iterations = 0 if self._iterations is None else int(self._iterations.numpy())
        lr_value = self._initial_lr
        if isinstance(self._learning_rate, Variable):
            lr_value = float(self._learning_rate.numpy())
        self._backend = backend
        self._variables = []
        with context.use(backend), naming.name_scope(self.name):
            self._iterations = Variable(iterations, dtype=_int_dtype(backend), trainable=False,
                                        name="iteration")
            self._variables.append(self._iterations)
            if lr_value is not None and (self._learning_rate is None
                                         or isinstance(self._learning_rate, Variable)):
                self._learning_rate = Variable(lr_value, dtype="float32", trainable=False,
                                               name="learning_rate")
                self._variables.append(self._learning_rate)

    @property
    def variables(self):
        """Every Variable of the optimizer, in creation order (the ``stateless_apply`` order)."""
        self._ensure_state()
        return self._variables[:]

    @property
    def iterations(self):
        """The number of optimizer steps taken (updates, with gradient accumulation)."""
        self._ensure_state()
        if self.gradient_accumulation_steps:
            return ops.floor_divide(self._iterations.value, self.gradient_accumulation_steps)
        return self._iterations

    @property
    def learning_rate(self):
        """The current learning rate (a Variable, or the schedule's value at this step)."""
        self._ensure_state()
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return lr(self._iterations.value)
        if isinstance(lr, Variable):
            return lr
        if callable(lr):
            return lr()
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        self._ensure_state()
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            if isinstance(self._learning_rate, Variable):
                self._variables = [v for v in self._variables if v is not self._learning_rate]
            self._learning_rate = value
            return
        if not isinstance(self._learning_rate, Variable):
            raise OptimizerError(
                "This optimizer was created with a LearningRateSchedule or callable as its "
                "learning rate, so the learning rate cannot be set to a number. Create the "
                "optimizer with a float `learning_rate` to make it settable.")
        self._learning_rate.assign(ops.cast(value, "float32"))

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="none",
                     name=None):
        """Create an optimizer Variable (tracked in ``variables``)."""
        from kbridge import initializers

        self._ensure_state()
        init = initializers.get(initializer)
        with context.use(self._backend), naming.name_scope(self.name):
            variable = Variable(init, shape=tuple(shape), dtype=dtype, trainable=False,
                                aggregation=aggregation, name=name or "variable")
        self._variables.append(variable)
        return variable

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        """A slot shaped and typed like ``reference_variable``, named after its path."""
        prefix = getattr(reference_variable, "path", None) or str(reference_variable.name)
        prefix = prefix.replace("/", "_").replace(":", "_")
        return self.add_variable(reference_variable.shape, initializer=initializer,
                                 dtype=reference_variable.dtype,
                                 name=f"{prefix}_{name or 'var'}")

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """One slot per variable for each name; a list, or a tuple of lists for several names.

        Slots are created variable by variable (all names for the first variable, then the
        next), which is Keras's order of ``optimizer.variables``.
        """
        names = [name] if isinstance(name, str) else list(name)
        inits = (list(initializer) if isinstance(initializer, (list, tuple))
                 else [initializer] * len(names))
        if len(inits) != len(names):
            raise OptimizerError(
                f"Got {len(names)} names but {len(inits)} initializers: name={name!r}, "
                f"initializer={initializer!r}")
        out = tuple([] for _ in names)
        for variable in trainable_variables:
            for slots, n, init in zip(out, names, inits):
                slots.append(self.add_variable_from_reference(variable, n, init))
        return out[0] if isinstance(name, str) else out

    def build(self, var_list):
        """Create the optimizer's Variables for ``var_list`` (on the same backend)."""
        var_list = list(var_list)
        backend = var_list[0].backend_name if var_list else None
        self._ensure_state(backend)
        self._trainable_variables = var_list
        self._index = {id(v): i for i, v in enumerate(var_list)}
        if self.use_ema:
            self._ema_averages = self.add_optimizer_variables(var_list, "average")
        if self.gradient_accumulation_steps:
            self._accumulators = self.add_optimizer_variables(var_list, "gradient_accumulator")
        self.built = True

    def _var_index(self, variable):
        return self._index[id(variable)]

    # --- weight decay ----------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exempt variables from weight decay: those in ``var_list``, and those whose name
        contains one of the strings (regular expressions) in ``var_names``. Call before build.

        Example:
            >>> opt = kbridge.optimizers.AdamW(weight_decay=0.01)
            >>> opt.exclude_from_weight_decay(var_names=["bias", "gamma"])
        """
        if self.built:
            raise OptimizerError(
                "`exclude_from_weight_decay()` must be called before the optimizer is built.")
        self._exclude_ids = {id(v) for v in (var_list or ())}
        self._exclude_pattern = re.compile("|".join(sorted(set(var_names)))) if var_names else None
        self._decay_cache = {}

    def _use_weight_decay(self, variable):
        key = id(variable)
        if key not in self._decay_cache:
            use = key not in self._exclude_ids and not (
                self._exclude_pattern is not None
                and self._exclude_pattern.search(variable.name) is not None)
            self._decay_cache[key] = use
        return self._decay_cache[key]

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return
        lr = self.learning_rate
        for variable in variables:
            if self._use_weight_decay(variable):
                decay = ops.multiply(
                    ops.multiply(variable.value, self.weight_decay),
                    ops.cast(lr, variable.dtype))
                variable.assign(ops.subtract(variable.value, decay))

    # --- clipping --------------------------------------------------------------------
    def _clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            return [clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            return clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue and self.clipvalue > 0:
            return [ops.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    # --- applying gradients ------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """``apply`` for a list of ``(gradient, variable)`` pairs; returns ``iterations``."""
        grads, variables = zip(*grads_and_vars)
        self.apply(list(grads), list(variables))
        return self._iterations

    def apply(self, grads, trainable_variables=None):
        """Update variables with ``grads`` (one per variable; ``None`` skips a variable).

        ``trainable_variables`` may be left out once the optimizer is built; the first call
        with them builds it. The iteration counter goes up by one per call.
        """
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            trainable_variables = self._built_variables()
            if len(grads) != len(trainable_variables):
                raise OptimizerError(
                    f"Expected {len(trainable_variables)} gradients (one per variable "
                    f"the optimizer was built with). Received {len(grads)}.")
        else:
            trainable_variables = list(trainable_variables)
            if len(grads) != len(trainable_variables):
                raise OptimizerError(
                    f"Expected one gradient per variable: {len(trainable_variables)} "
                    f"variables, {len(grads)} gradients.")
            if not self.built:
                self.build(trainable_variables)
            for v in trainable_variables:
                if id(v) not in self._index:
                    raise OptimizerError(
                        f"Unknown variable {getattr(v, 'path', v)!r}: this optimizer was built "
                        "for other variables. Create a new optimizer for a new set of "
                        "variables.")
        with context.use(self._backend), _NoGrad(self._backend):
            pairs = [(g, v) for g, v in zip(grads, trainable_variables) if g is not None]
            if not pairs:
                raise OptimizerError("No gradients provided for any variable (all are None).")
            if len(pairs) < len(grads) and not self._warned_missing:
                self._warned_missing = True
                missing = [getattr(v, "path", v) for g, v in zip(grads, trainable_variables)
                           if g is None]
                warnings.warn(f"Gradients do not exist for variables {missing}; they are "
                              "left unchanged.", stacklevel=2)
            grads = [ops.convert_to_tensor(g) for g, _ in pairs]
            variables = [v for _, v in pairs]
            if self.loss_scale_factor is not None:
                grads = [ops.divide(g, self.loss_scale_factor) for g in grads]
            self._apply_internal(grads, variables)
            for v in variables:
                constraint = getattr(v, "constraint", None)
                if constraint is not None:
                    v.assign(constraint(v))
            self._iterations.assign(ops.add(self._iterations.value, 1))

    def _built_variables(self):
        """The variables the optimizer was built with (for ``apply`` without variables)."""
        if not self.built:
            raise OptimizerError(
                "`apply(grads)` without variables needs a built optimizer: call "
                "`optimizer.build(trainable_variables)` or pass the variables.")
        return self._trainable_variables

    def _apply_internal(self, grads, variables):
        if self.gradient_accumulation_steps:
            self._accumulate_and_maybe_update(grads, variables)
        else:
            self._clip_decay_update(grads, variables)
        if self.use_ema:
            self._update_ema()
            if self.ema_overwrite_frequency:
                should = ops.equal(
                    ops.mod(ops.add(self.iterations, 1), self.ema_overwrite_frequency), 0)
                run_if(should, self._overwrite_with_ema, self._trainable_variables)

    def _clip_decay_update(self, grads, variables):
        grads = self._clip_gradients(grads)
        self._apply_weight_decay(variables)
        self._backend_update_step(grads, variables, self.learning_rate)

    def _accumulate_and_maybe_update(self, grads, variables):
        steps = self.gradient_accumulation_steps
        accs = [self._accumulators[self._var_index(v)] for v in variables]
        summed = [ops.add(ops.cast(g, a.dtype), a.value) for g, a in zip(grads, accs)]
        is_update = ops.equal(ops.mod(ops.add(self._iterations.value, 1), steps), 0)
        flag = concrete_bool(is_update)

        def update():
            self._clip_decay_update([ops.divide(s, steps) for s in summed], variables)

        if flag is None:
            tracked = list(variables) + [v for v in self._variables if v is not self._iterations]
            run_if(is_update, update, tracked)
            for a, s in zip(accs, summed):
                a.assign(ops.where(is_update, ops.zeros_like(s), s))
        elif flag:
            update()
            for a in accs:
                a.assign(ops.zeros_like(a.value))
        else:
            for a, s in zip(accs, summed):
                a.assign(s)

    def _backend_update_step(self, grads, variables, learning_rate):
        fused = self._fused_step()
        if fused is not None and fused(self, grads, variables, learning_rate):
            return
        for g, v in zip(grads, variables):
            self.update_step(g, v, learning_rate)

    def _fused_step(self):
        """The backend's fused (foreach, in-place) step for this optimizer, or None."""
        cached = self.__dict__.get("_fused")
        if cached is not None and cached[0] == self._backend:
            return cached[1]
        fused = None
        if self._backend in _FUSED_BACKENDS:
            fused = backend_module(self._backend, "optimizers").fused_update_step(self)
        self.__dict__["_fused"] = (self._backend, fused)
        return fused

    def update_step(self, gradient, variable, learning_rate):
        """Update one variable from its gradient. Subclasses implement this."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement update_step(gradient, variable, "
            "learning_rate).")

    # --- EMA ---------------------------------------------------------------------------
    def _update_ema(self):
        for var, avg in zip(self._trainable_variables, self._ema_averages):
            # The first step copies the variable; later steps blend with ema_momentum.
            started = ops.cast(ops.not_equal(self.iterations, 0), var.dtype)
            momentum = ops.multiply(started, self.ema_momentum)
            avg.assign(ops.add(ops.multiply(momentum, avg.value),
                               ops.multiply(ops.subtract(1, momentum), var.value)))

    def _overwrite_with_ema(self, var_list=None):
        var_list = self._trainable_variables if var_list is None else list(var_list)
        if len(var_list) != len(self._ema_averages):
            raise OptimizerError(
                f"Expected {len(self._ema_averages)} variables (those the optimizer was built "
                f"with). Received {len(var_list)}.")
        for var, avg in zip(var_list, self._ema_averages):
            var.assign(avg.value)

    def finalize_variable_values(self, var_list=None):
        """End of training: with ``use_ema``, set the variables to their moving averages."""
        if self.use_ema and self.built:
            with context.use(self._backend), _NoGrad(self._backend):
                self._overwrite_with_ema(var_list)

    # --- stateless ---------------------------------------------------------------------
    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """``apply`` as a pure function of values; returns ``(trainable, optimizer_vars)``.

        Example:
            >>> trainable, opt_vars = jax.jit(opt.stateless_apply)(opt_vars, grads, trainable)
        """
        from kbridge.backend.common.stateless import StatelessScope

        if not self.built:
            raise OptimizerError(
                f"{type(self).__name__}.stateless_apply needs a built optimizer: call "
                "`optimizer.build(trainable_variables)` first.")
        own = self.variables
        if len(optimizer_variables) != len(own):
            raise OptimizerError(
                f"Expected {len(own)} optimizer variable values (one per "
                f"`optimizer.variables`). Received {len(optimizer_variables)}.")
        if len(trainable_variables) != len(self._trainable_variables):
            raise OptimizerError(
                f"Expected {len(self._trainable_variables)} trainable values (the variables "
                f"the optimizer was built with). Received {len(trainable_variables)}.")
        mapping = list(zip(self._trainable_variables, trainable_variables))
        mapping += list(zip(own, optimizer_variables))
        with StatelessScope(mapping) as scope:
            self.apply(grads)
        return ([scope.final_value(v) for v in self._trainable_variables],
                [scope.final_value(v) for v in own])

    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (``loss`` unchanged without a factor)."""
        if self.loss_scale_factor is not None:
            return ops.multiply(loss, self.loss_scale_factor)
        return loss

    # --- weights -----------------------------------------------------------------------
    def get_weights(self):
        return [v.numpy() for v in self.variables]

    def set_weights(self, weights):
        if not self.built:
            raise OptimizerError("set_weights() needs a built optimizer: call build() first.")
        own = self.variables
        if len(weights) != len(own):
            raise OptimizerError(f"Expected {len(own)} arrays. Received {len(weights)}.")
        for v, w in zip(own, weights):
            v.assign(w)

    def save_own_variables(self, store):
        for i, v in enumerate(self.variables):
            store[str(i)] = v.numpy()

    def load_own_variables(self, store):
        own = self.variables
        if len(store.keys()) != len(own):
            warnings.warn(f"Not loading optimizer '{self.name}': it has {len(own)} variables, "
                          f"the saved state has {len(store.keys())}.", stacklevel=2)
            return
        for i, v in enumerate(own):
            v.assign(store[str(i)])

    # --- config ------------------------------------------------------------------------
    def _learning_rate_config(self):
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return schedules.serialize(lr)
        if isinstance(lr, Variable):
            return float(lr.numpy())
        if lr is None:
            return self._initial_lr
        if callable(lr):
            return registry.serialize(lr)
        return float(lr)

    def get_config(self):
        config = {
            "name": self.name,
            "learning_rate": self._learning_rate_config(),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        config.update(super().get_config())  # a subclass's own arguments (_keep_config)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = registry.deserialize(config["learning_rate"],
                                                           custom_objects=custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name} built={self.built}>"


def clip_by_norm(values, clipnorm):
    """``values`` rescaled so that its L2 norm is at most ``clipnorm``."""
    l2sum = ops.sum(ops.square(values), keepdims=True)
    positive = ops.greater(l2sum, 0)
    # Two wheres keep the gradient of sqrt finite at zero.
    l2norm = ops.where(positive, ops.sqrt(ops.where(positive, l2sum, ops.ones_like(l2sum))),
                       l2sum)
    return ops.divide(ops.multiply(values, clipnorm), ops.maximum(l2norm, clipnorm))


def global_norm(values):
    """The L2 norm of all ``values`` together (``None`` entries ignored)."""
    squares = [ops.sum(ops.square(v)) for v in values if v is not None]
    return ops.sqrt(ops.sum(ops.stack(squares)))


def clip_by_global_norm(values, clipnorm):
    """``values`` rescaled together so that their global norm is at most ``clipnorm``.

    A non-finite global norm makes every value NaN (as in Keras), so the step is visibly bad.
    """
    norm = global_norm(values)
    scale = ops.multiply(clipnorm, ops.minimum(ops.divide(1.0, norm), 1.0 / clipnorm))
    scale = ops.add(scale, ops.subtract(norm, norm))
    return [None if v is None else ops.multiply(v, ops.cast(scale, v.dtype)) for v in values]
