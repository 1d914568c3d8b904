"""``MultiOptimizer``: different optimizers for different variables, chosen by an
``OptimizerMap`` (variable path -> optimizer, with regular-expression keys) or a callable."""

from kbridge import ops
from kbridge.backend.common import context
from kbridge.optimizers.base_optimizer import Optimizer, OptimizerError, _NoGrad
from kbridge.optimizers.loss_scale_optimizer import LossScaleOptimizer
from kbridge.saving import registry
from kbridge.utils.path_map import PathMap


def _check_inner(optimizer, what):
    if not isinstance(optimizer, Optimizer):
        raise OptimizerError(f"{what} must be a kbridge Optimizer instance. "
                             f"Received: {optimizer!r}")
    if isinstance(optimizer, LossScaleOptimizer):
        raise OptimizerError(f"{what} cannot be a LossScaleOptimizer: wrap the MultiOptimizer "
                             "instead, or set `loss_scale_factor` on it.")
    if isinstance(optimizer, MultiOptimizer):
        raise OptimizerError(f"{what} cannot be a MultiOptimizer (no nesting).")


class OptimizerMap(PathMap):
    """Variable path -> optimizer, with a default for paths that match no key.

    A key matches a path exactly, or else as a regular expression over the whole path
    (``re.fullmatch``): ``"encoder/.*"`` covers every variable under ``encoder``.

    Example:
        >>> opt_map = kbridge.optimizers.OptimizerMap(kbridge.optimizers.SGD(0.1))
        >>> opt_map["encoder/.*"] = kbridge.optimizers.Adam(1e-3)
        >>> opt_map["encoder/dense/kernel"].name   # 'adam'
    """

    _error = OptimizerError

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise OptimizerError("`default_optimizer` must be a kbridge Optimizer instance. "
                                 f"Received: {default_optimizer!r}")
        self._default_optimizer = default_optimizer
        super().__init__(optimizer_map, "optimizer_map")

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def _check(self, key, optimizer):
        _check_inner(optimizer, "The optimizer")
        return optimizer

    def _default(self):
        return self._default_optimizer

    def __call__(self, variable):
        return self[variable.path]

    def get_config(self):
        return {"default_optimizer": registry.serialize(self._default_optimizer),
                "optimizer_map": {k: registry.serialize(v)
                                  for k, v in self._entries.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        default = registry.deserialize(config["default_optimizer"],
                                       custom_objects=custom_objects)
        mapping = {k: registry.deserialize(v, custom_objects=custom_objects)
                   for k, v in (config.get("optimizer_map") or {}).items()}
        return cls(default, mapping)


registry.register(OptimizerMap)


class MultiOptimizer(Optimizer):
    """Delegates each variable to the optimizer that ``optimizer_map`` picks for it.

    Args:
        optimizer_map: an :class:`OptimizerMap`, or a callable ``variable -> optimizer``.
        loss_scale_factor: set on every inner optimizer (overriding theirs).
        name: the optimizer's name.

    Each inner optimizer keeps its own learning rate, iterations and slots (reach them
    through ``optimizers``); the MultiOptimizer has no single ``learning_rate``.

    Example:
        >>> opt = kbridge.optimizers.MultiOptimizer(kbridge.optimizers.OptimizerMap(
        ...     kbridge.optimizers.SGD(0.1), {"encoder/.*": kbridge.optimizers.Adam(1e-3)}))
        >>> model.compile(optimizer=opt, loss="mse")
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        if not callable(optimizer_map):
            raise OptimizerError("`optimizer_map` must be an OptimizerMap or a callable "
                                 f"returning an optimizer for a variable. Received: "
                                 f"{optimizer_map!r}")
        self._inner_optimizers = []
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        known = list(optimizer_map.values()) if hasattr(optimizer_map, "values") else []
        default = getattr(optimizer_map, "default_optimizer", None)
        for opt in known + ([default] if default is not None else []):
            self._add_inner(opt)

    def _add_inner(self, optimizer):
        if not any(optimizer is o for o in self._inner_optimizers):
            optimizer.loss_scale_factor = self.loss_scale_factor
            self._inner_optimizers.append(optimizer)
        return next(i for i, o in enumerate(self._inner_optimizers) if o is optimizer)

    @property
    def optimizers(self):
        """The inner optimizers."""
        return self._inner_optimizers

    @property
    def loss_scale_factor(self):
        return self.__dict__.get("_loss_scale_factor")

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self._loss_scale_factor = value
        for opt in self.__dict__.get("_inner_optimizers", ()):
            opt.loss_scale_factor = value

    @property
    def learning_rate(self):
        raise AttributeError("A MultiOptimizer has no single learning rate: read it on the "
                             "inner optimizers (`optimizer.optimizers`).")

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError("A MultiOptimizer has no single learning rate: set it on the "
                             "inner optimizers (`optimizer.optimizers`).")

    @property
    def iterations(self):
        self._ensure_state()
        return self._iterations

    @property
    def variables(self):
        """Its own iteration counter and learning rate, then each inner optimizer's."""
        self._ensure_state()
        out = self._variables[:]
        for opt in self._inner_optimizers:
            out.extend(opt.variables)
        return out

    def build(self, var_list):
        if self.built:
            return
        var_list = list(var_list)
        self._owner = {}
        groups = {}
        for variable in var_list:
            opt = self._optimizer_map(variable)
            _check_inner(opt, f"The optimizer for variable {variable.path!r}")
            idx = self._add_inner(opt)
            self._owner[id(variable)] = idx
            groups.setdefault(idx, []).append(variable)
        backend = var_list[0].backend_name if var_list else None
        for idx, opt in enumerate(self._inner_optimizers):
            if idx in groups:
                opt.build(groups[idx])
            else:
                opt._ensure_state(backend)  # unused, but its variables live with the rest
        super().build(var_list)

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            trainable_variables = self._built_variables()
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        if len(grads) != len(trainable_variables) or len(grads) != len(self._owner):
            raise OptimizerError(
                "Expected one gradient per variable the optimizer was built with: "
                f"{len(self._owner)} variables. Received {len(grads)} gradients.")
        per_opt = [([], []) for _ in self._inner_optimizers]
        for grad, variable in zip(grads, trainable_variables):
            if id(variable) not in self._owner:
                raise OptimizerError(f"Unknown variable {variable.path!r}: this optimizer was "
                                     "built for other variables.")
            sub_grads, sub_vars = per_opt[self._owner[id(variable)]]
            sub_grads.append(grad)
            sub_vars.append(variable)
        for opt, (sub_grads, sub_vars) in zip(self._inner_optimizers, per_opt):
            if sub_vars:
                opt.apply(sub_grads, sub_vars)
        with context.use(self._backend), _NoGrad(self._backend):
            self._iterations.assign(ops.add(self._iterations.value, 1))

    def finalize_variable_values(self, var_list=None):
        var_list = self._trainable_variables if var_list is None else list(var_list)
        per_opt = [[] for _ in self._inner_optimizers]
        for variable in var_list:
            per_opt[self._owner[id(variable)]].append(variable)
        for opt, variables in zip(self._inner_optimizers, per_opt):
            if variables:
                opt.finalize_variable_values(variables)

    def get_config(self):
        return {"optimizer_map": registry.serialize(self._optimizer_map),
                "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer_map"] = registry.deserialize(config["optimizer_map"],
                                                       custom_objects=custom_objects)
        return cls(**config)
