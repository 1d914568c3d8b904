"""A kbridge model as a ``torch.nn.Module``, and a ``torch.nn.Module`` as a kbridge layer.

* :func:`to_torch` / :class:`TorchModule`: the model's trainable variables are the module's
  ``parameters()`` (the very ``torch.nn.Parameter`` objects of a torch-backend model, so a
  torch optimizer trains the kbridge model), its other variables are buffers, and
  ``train()`` / ``eval()`` drive the ``training`` argument. Plain training loops,
  ``torch.compile``, ``torch.func.functional_call``, ``torch.export`` and
  ``DistributedDataParallel`` work on it.
* :func:`from_torch` / :class:`TorchModuleLayer`: the reverse; the module's parameters and
  buffers are the storage of kbridge Variables, so ``fit`` trains them and the hub saves them.

Both directions go through the same mechanism as ``Layer.stateless_call``: a
:class:`~kbridge.backend.common.stateless.StatelessScope` (or ``torch.func.functional_call``)
swaps in whatever tensors torch currently holds for each variable, so torch stays in charge
of which tensor is "the parameter" (``functional_call``, ``.to()``, DDP, export tracing).
"""

import importlib
import re
import sys

import numpy as np
import torch

from kbridge.backend.common import context
from kbridge.backend.common.stateless import StatelessScope, current_scope
from kbridge.backend.common.variables import unique_paths
from kbridge.errors import BackendError, KbridgeError
from kbridge.layers.adapter_layers import TorchModuleWrapper
from kbridge.layers.layer import Layer, enter_plain_calls, exit_plain_calls, map_structure

__all__ = ["TorchModule", "TorchModuleLayer", "from_torch", "to_torch"]


def _stable_paths(model):
    """``{id(variable): key}`` with keys that do not depend on process-wide name counters.

    A variable's path holds the names of its enclosing layers (``"sequential_1/dense_3/
    kernel"``); auto-generated names carry a per-process counter, so two builds of the same
    architecture differ. Here the model's own name is dropped and each auto-named layer is
    renamed by its position among the model's layers of the same kind (``dense``,
    ``dense_1`` ... in layer order), which is what the names would be in a fresh process.
    Names the user chose are kept.
    """
    from kbridge.backend.common.naming import to_snake_case

    renamed, seen = {}, {}
    for layer in model._flat_layers():
        base = to_snake_case(type(layer).__name__)
        if re.fullmatch(rf"{re.escape(base)}(_\d+)?", layer.name) and layer.name not in renamed:
            n = seen.get(base, 0)
            seen[base] = n + 1
            renamed[layer.name] = base if n == 0 else f"{base}_{n}"
    keys = {}
    for v in model.weights:
        parts = v.path.split("/")
        if len(parts) > 1 and parts[0] == model.name:
            parts = parts[1:]
        keys[id(v)] = "/".join(renamed.get(p, p) if i < len(parts) - 1 else p
                               for i, p in enumerate(parts))
    if len(set(keys.values())) != len(keys):  # an unusual layout: fall back to the paths
        return {}
    return keys


def _torch_name(path, taken):
    """A name ``register_parameter`` accepts for ``path`` ('.' is reserved for nesting)."""
    name = path.replace(".", "\u00b7") or "variable"  # U+00B7 MIDDLE DOT
    candidate, n = name, 1
    while candidate in taken:
        candidate = f"{name}_{n}"
        n += 1
    return candidate


class TorchModule(torch.nn.Module):
    """A kbridge model as a ``torch.nn.Module`` (made by :func:`to_torch`).

    Registered state:

    * parameters: ``model.trainable_variables``. For a torch-backend model they *are* the
      variables' ``torch.nn.Parameter`` objects (shared, not copied), so
      ``optimizer.step()`` changes ``model.get_weights()``.
    * persistent buffers: the other weights (batch-norm statistics, frozen layers' weights),
      updated in place when the module runs in ``train()`` mode.
    * random-seed states (dropout) are buffers too, so ``.to()`` and DDP see them, but they
      are left out of ``state_dict()`` (kbridge does not save them with the weights either).
      They are registered as persistent buffers whose keys a hook removes, not with
      ``persistent=False``: ``ExportedProgram.module()`` fails to re-register top-level
      non-persistent buffers (torch 2.13, ``_unlift._create_stateful_graph_module``).

    Names: ``state_dict()`` keys are the variable paths relative to the model, with
    auto-generated layer names numbered within the model (``"dense/kernel"``,
    ``"dense_1/kernel"``), so two builds of one architecture in one process have the same
    keys (a Lightning ``load_from_checkpoint(model=build())`` works).
    torch forbids '.' in a registered name (it separates submodules) but accepts '/', so a
    path is registered under its own name unless it contains '.', in which case it is
    registered with '.' replaced by U+00B7 and a ``state_dict`` hook maps the key back (and
    ``load_state_dict`` maps it forward). ``named_parameters()`` shows the registered names;
    :attr:`paths` maps registered name -> key; :meth:`key_of` gives a variable's key.

    ``forward(x, *more_inputs)`` takes torch tensors (a dict or list for multi-input models,
    as the model's ``call`` takes them, or one argument per input) and runs the model with
    ``training=self.training``. It writes no context variable, so
    ``torch.compile(module, fullgraph=True)`` and strict ``torch.export`` capture the whole
    model as one graph.

    Example:
        >>> module = kbridge.adapters.to_torch(model)
        >>> opt = torch.optim.AdamW(module.parameters(), lr=1e-3)
        >>> loss = torch.nn.functional.mse_loss(module(x), y)
        >>> loss.backward(); opt.step()
        >>> module.state_dict().keys()      # dict_keys(['dense/kernel', 'dense/bias', ...])
    """

    def __init__(self, model):
        super().__init__()
        if not hasattr(model, "weights") or not callable(model):
            raise KbridgeError(f"to_torch() expects a kbridge model or layer. Received: "
                               f"{type(model).__module__}.{type(model).__name__}")
        source = model
        if model.backend_name != "torch":
            from kbridge.models.cloning import convert

            model = convert(model, "torch")
        # Not an nn.Module attribute: the kbridge objects are plain Python state here.
        self.source_model = source
        self.model = model
        trainable = unique_paths(model.trainable_variables)
        trainable_ids = {id(v) for v in trainable.values()}
        weights = unique_paths(v for v in model.weights if id(v) not in trainable_ids)
        weight_ids = {id(v) for v in weights.values()}
        seeds = unique_paths(v for v in model.non_trainable_variables
                             if id(v) not in trainable_ids and id(v) not in weight_ids)
        stable = _stable_paths(model)
        trainable = {stable.get(id(v), p): v for p, v in trainable.items()}
        weights = {stable.get(id(v), p): v for p, v in weights.items()}
        self.paths = {}            # registered name -> state_dict key
        self._variables = {}       # registered name -> kbridge Variable
        self._buffer_names = []    # registered names of the buffers, in order
        self._seed_names = []      # registered names of the seed states (not in state_dict)
        taken = set()
        for group, kind in ((trainable, "parameter"), (weights, "buffer"), (seeds, "seed")):
            for path, v in group.items():
                name = _torch_name(path, taken)
                taken.add(name)
                self.paths[name] = path
                self._variables[name] = v
                if kind == "parameter":
                    self.register_parameter(name, v.value)
                else:
                    # A non-trainable torch Variable holds a ``Parameter`` (requires_grad
                    # off); a buffer must be a plain tensor, or Dynamo and torch.export
                    # take it for a parameter. Same storage: the Variable keeps sharing it.
                    if isinstance(v.value, torch.nn.Parameter):
                        v._value = v.value.detach()
                    self._buffer_names.append(name)
                    self.register_buffer(name, v.value)
                    if kind == "seed":
                        self._seed_names.append(name)
        self._variable_pairs = tuple(self._variables.items())
        _classify_common_types(self._variables.values())
        self.register_state_dict_post_hook(_keys_to_paths)
        self.register_load_state_dict_pre_hook(_keys_from_paths)

    def key_of(self, variable):
        """The ``state_dict()`` key of one of the model's variables (of the source model or
        of its torch copy)."""
        if self.source_model is not self.model:
            for source, converted in zip(self.source_model.weights, self.model.weights):
                if source is variable:
                    variable = converted
        for name, v in self._variables.items():
            if v is variable:
                return self.paths[name]
        raise KbridgeError(f"Variable {getattr(variable, 'path', variable)!r} is not a "
                           f"variable of model '{self.model.name}'.")

    # --- calling -------------------------------------------------------------------
    def forward(self, x, *more_inputs):
        """The model's outputs on ``x`` (torch tensors), ``training=self.training``.

        ``x`` is the input of a single-input model (a named parameter, so
        ``torch.export`` takes ``dynamic_shapes={"x": {0: batch}}``), or a dict / list of
        inputs; a multi-input model may also take its inputs as separate arguments.
        """
        inputs = (x,) + more_inputs
        for leaf in _leaves(inputs):
            if leaf is not None and not isinstance(leaf, (torch.Tensor, np.ndarray, np.generic,
                                                          int, float, bool)):
                raise BackendError(
                    f"TorchModule '{self.model.name}' takes torch tensors (or numpy arrays). "
                    f"Received a {type(leaf).__module__}.{type(leaf).__name__} input.")
        if more_inputs:
            x = list(inputs)
        # Read every variable from the module's current attributes, not from the Variable:
        # functional_call, .to(), DDP and export tracing replace or wrap those tensors.
        if current_scope() is not None:  # inside a kbridge stateless call: stay pure
            return self._scoped_forward(x)
        return self._plain_forward(x)

    def _plain_forward(self, x):
        mapping = [(v, getattr(self, name)) for name, v in self._variable_pairs]
        originals = [v._value for v, _ in mapping]
        for v, tensor in mapping:
            v._value = tensor
        # Plain attribute state only from here on (no ContextVar writes), so torch.compile
        # and strict torch.export trace the whole forward as one graph. Assignments
        # (batch-norm statistics, seed states) write in place into the module's buffers,
        # as a torch module's would.
        saved = enter_plain_calls(self.training)
        model = self.model
        try:
            model._clear_losses()
            outputs = model(x, training=self.training)
            model._clear_losses()
        finally:
            exit_plain_calls(saved)
            for (v, _), old in zip(mapping, originals):
                v._value = old
        return outputs

    def _scoped_forward(self, x):
        current = {name: getattr(self, name) for name in self._variables}
        mapping = [(self._variables[name], t) for name, t in current.items()]
        outputs, updates = _run_model(self.model, mapping, x, self.training,
                                      [self._variables[n] for n in self._buffer_names])
        with torch.no_grad():
            for name, new in zip(self._buffer_names, updates):
                old = current[name]
                if new is not old:  # assigned during the call (batch-norm, seed advance)
                    old.copy_(new)
        return outputs

    # --- keeping the kbridge model in sync ---------------------------------------------
    def _apply(self, fn, *args, **kwargs):
        # ``.to(dtype)`` / ``.to(device)`` replace buffers (and, with some torch.__future__
        # flags, parameters) by new tensors; point the kbridge Variables at them so
        # ``self.model`` keeps working and keeps sharing storage with this module.
        before = self._float_dtype()
        out = super()._apply(fn, *args, **kwargs)
        self._resync()
        after = self._float_dtype()
        if after is not None and after != before:
            # A cast of the whole module (``.double()``, ``.to(torch.float16)``): the layers
            # now compute in that dtype too, as a torch module would, instead of casting
            # inputs back to their float32 compute dtype.
            from kbridge import dtype_policies

            policy = dtype_policies.get(str(after).split(".")[-1])
            for layer in [self.model] + self.model._flat_layers():
                layer.dtype_policy = policy
        return out

    def _float_dtype(self):
        dtypes = {t.dtype for t in list(self.parameters()) + list(self.buffers())
                  if t.is_floating_point()}
        return dtypes.pop() if len(dtypes) == 1 else None

    def _resync(self):
        for name, v in self._variables.items():
            tensor = getattr(self, name)
            if tensor is not v.value:
                v._value = tensor

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_variable_pairs" not in self.__dict__:  # pickled before the attribute existed
            self._variable_pairs = tuple(self._variables.items())
        self._resync()

    def write_back(self):
        """Copy the current values into the source model (when it is not on torch).

        A model from another backend is converted to a torch copy for the module; after
        training with torch, ``write_back()`` assigns the trained values to the original.
        For a torch-backend model this is a no-op: the storage is already shared.
        """
        if self.source_model is self.model:
            return
        for source, v in zip(self.source_model.weights, self.model.weights):
            source.assign(v.numpy())

    def extra_repr(self):
        return f"model={self.model.name!r}, backend_of_source={self.source_model.backend_name!r}"


def _run_model(model, mapping, x, training, buffers):
    """``model(x)`` with ``mapping``'s tensors swapped in; ``(outputs, buffer values)``.

    The path of a forward made inside a kbridge ``StatelessScope`` (a to_torch module
    called from a kbridge model's stateless call): the variables' final values are
    collected from the scope instead of being written in place.
    """
    model._clear_losses()
    with StatelessScope(mapping) as scope:
        outputs = model(x, training=training)
    model._clear_losses()
    return outputs, [scope.final_value(v) for v in buffers]


def _mark_constant_lookups():
    """Tell Dynamo which kbridge lookups are trace-time constants.

    * ``dispatch.backend_module`` is an ``lru_cache`` over ``importlib.import_module``;
      Dynamo traces through the cache and refuses to trace ``import_module``. A polyfill
      with constant folding makes Dynamo import at trace time (the module is cached, so this
      is a ``sys.modules`` lookup) and use the module as a constant.
    * the stateless-scope lookup (``ContextVar.get``, which Dynamo cannot trace) is called by
      ``Variable.assign``; marked with ``assume_constant_result``, Dynamo calls it once while
      tracing (inside a to_torch forward it is None).

    Eager calls are unchanged.
    """
    from torch._dynamo.decorators import substitute_in_graph

    from kbridge.backend.common import stateless

    try:
        @substitute_in_graph(importlib.import_module)
        def _import_module(name, package=None):
            if package is None and name in sys.modules:  # kbridge's lookups: already imported
                return sys.modules[name]
            level = len(name) - len(name.lstrip("."))  # what import_module itself does
            return importlib._bootstrap._gcd_import(name[level:], package, level)
    except Exception:  # already registered (a reload), or an older torch: best effort
        pass
    for fn in (stateless.current_scope, stateless.in_stateless_scope):
        torch._dynamo.assume_constant_result(fn)
    # Import every torch-backend module now, so a trace never imports.
    import pkgutil

    import kbridge.backend.torch as torch_backend

    for info in pkgutil.iter_modules(torch_backend.__path__):
        importlib.import_module(f"kbridge.backend.torch.{info.name}")


_mark_constant_lookups()


def _classify_common_types(variables):
    """Fill kbridge's per-class dispatch cache before torch.compile traces a forward.

    The dispatcher caches one entry per argument class on first sight; when that first
    sight happens inside a Dynamo trace, the guard Dynamo just installed on the cache fails
    at once ("Guard failed on the same frame it was created"). Classifying the classes a
    forward passes to ops beforehand keeps the cache unchanged during tracing.
    """
    from kbridge.backend.common import dispatch

    classes = {str, int, float, bool, complex, type(None), slice, type(Ellipsis), dict,
               torch.Tensor, torch.nn.Parameter, torch.dtype, np.ndarray, np.float32,
               np.float64, np.int32, np.int64, np.bool_}
    classes.update(type(v) for v in variables)
    for cls in classes:
        if cls not in dispatch._CLASS_INFO:
            dispatch.classify(cls)


def _keys_to_paths(module, state_dict, prefix, local_metadata):
    for name in module._seed_names:
        state_dict.pop(prefix + name, None)
    for name, path in module.paths.items():
        if name != path and prefix + name in state_dict:
            state_dict[prefix + path] = state_dict.pop(prefix + name)


def _keys_from_paths(module, state_dict, prefix, local_metadata, strict, missing_keys,
                     unexpected_keys, error_msgs):
    for name in module._seed_names:  # not saved: keep the current seed states
        state_dict.setdefault(prefix + name, getattr(module, name))
    for name, path in module.paths.items():
        if name != path and prefix + path in state_dict:
            state_dict[prefix + name] = state_dict.pop(prefix + path)


def _leaves(value):
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    return [value]


def to_torch(model):
    """``model`` (any backend) as a :class:`TorchModule`.

    A torch-backend model's parameters are shared with the module; a model on another
    backend is first converted with ``kbridge.convert(model, "torch")`` (use
    :meth:`TorchModule.write_back` to copy trained values back into it).

    Example:
        >>> module = kbridge.adapters.to_torch(model)
        >>> y = module(torch.randn(8, 5))
        >>> compiled = torch.compile(module)
        >>> program = torch.export.export(module.eval(), (torch.randn(8, 5),))
    """
    return TorchModule(model)


# --- a torch module as a kbridge layer -----------------------------------------------------
_WRONG_BACKEND = (
    "A wrapped torch.nn.Module makes a torch-backend layer, but the active backend is "
    "{backend!r}. "
    "Create it with kbridge.adapters.from_torch(module) (which activates torch), or inside "
    "`with kbridge.backend.use('torch'):`.")


def _shape_only(tensor):
    """An initializer whose value costs nothing: a meta tensor of ``tensor``'s shape."""

    def init(shape, dtype=None):
        return torch.empty(tuple(shape), dtype=tensor.dtype, device="meta")

    return init


def adopt_module(layer, module):
    """Make ``module``'s parameters and buffers ``layer``'s Variables (shared storage).

    Each parameter becomes a trainable Variable (non-trainable when its ``requires_grad`` is
    False) and each buffer a non-trainable one, named by the module's own names
    (``"0.weight"``) under the layer's name scope.
    """
    if layer.backend_name != "torch":
        raise BackendError(_WRONG_BACKEND.format(backend=layer.backend_name))
    if not isinstance(module, torch.nn.Module):
        raise KbridgeError(f"{type(layer).__name__} expects a torch.nn.Module. Received: "
                           f"{type(module).__module__}.{type(module).__name__}")
    if (isinstance(module, torch.nn.modules.lazy.LazyModuleMixin)
            and module.has_uninitialized_params()):
        raise KbridgeError(f"{type(layer).__name__} needs an initialised module; call the "
                           f"lazy module once on data first. Received: {module}")
    layer.module = module
    layer._param_names, layer._buffer_names = [], []
    layer._torch_variables = {}
    for name, tensor in module.named_parameters():
        _adopt(layer, name, tensor, trainable=tensor.requires_grad)
        layer._param_names.append(name)
    for name, tensor in module.named_buffers():
        _adopt(layer, name, tensor, trainable=False)
        layer._buffer_names.append(name)
    layer.built = True


def _adopt(layer, name, tensor, trainable):
    from kbridge.backend.common import naming

    with naming.layer_scope(layer.name):
        v = layer.add_weight(shape=tuple(tensor.shape), dtype=str(tensor.dtype).split(".")[-1],
                             initializer=_shape_only(tensor), trainable=trainable, name=name)
    # Share storage: the Variable holds the module's own Parameter / buffer object.
    v._share(tensor)
    layer._torch_variables[name] = v


def _check_inputs(layer, inputs):
    for x in _leaves(inputs):
        if x is None or isinstance(x, (torch.Tensor, bool, int, float)):
            continue
        raise BackendError(
            f"Layer '{layer.name}' wraps a torch.nn.Module and runs on the torch backend "
            f"only: it expects torch tensors (or numpy arrays). Received a "
            f"{type(x).__module__}.{type(x).__name__} input. Build the surrounding model "
            "on the torch backend (kbridge.backend.use('torch') or kbridge.convert).")


def call_module(layer, args, kwargs, training):
    """``layer.module(*args, **kwargs)`` in ``train(training)`` mode, on the tensors the
    layer's Variables currently hold (so ``stateless_call`` and the trainers work)."""
    def to_tensor(x):  # Layer.__call__ converts the first argument only
        return torch.from_numpy(np.asarray(x)) if isinstance(x, (np.ndarray, np.generic)) else x

    args, kwargs = map_structure(to_tensor, list(args)), map_structure(to_tensor, dict(kwargs))
    _check_inputs(layer, (args, kwargs))
    values = {name: v.value for name, v in layer._torch_variables.items()}
    in_scope = current_scope() is not None
    if in_scope:
        # A pure call must not mutate the caller's state: run on copies of the buffers
        # and assign the results (the scope records them).
        values.update({n: values[n].clone() for n in layer._buffer_names})
    module = layer.module
    was_training = module.training
    module.train(bool(training))
    try:
        outputs = torch.func.functional_call(module, values, tuple(args), dict(kwargs))
    finally:
        module.train(was_training)
    if in_scope:
        for n in layer._buffer_names:
            layer._torch_variables[n].assign(values[n])
    return outputs


def module_output_spec(layer, args, kwargs):
    """Output KerasTensors by running the module on meta tensors (zeros as a fallback).

    Unknown dimensions are probed with two sizes; a dimension that differs between the
    two runs is unknown in the output.
    """
    from kbridge.backend.common.keras_tensor import KerasTensor
    from kbridge.backend.common.symbolic import _PROBES
    from kbridge.backend.torch.core import to_torch_dtype

    module = layer.module

    def run(probe, device):
        def placeholder(t):
            if not isinstance(t, KerasTensor):
                return t
            shape = tuple(probe if d is None else d for d in t.shape)
            return torch.zeros(shape, dtype=to_torch_dtype(t.dtype), device=device)

        xs = map_structure(placeholder, list(args))
        kws = map_structure(placeholder, dict(kwargs))
        values = {n: (v.value.detach().to("meta") if device == "meta" else v.value.detach())
                  for n, v in layer._torch_variables.items()}
        was_training = module.training
        module.eval()  # never touch the statistics while probing shapes
        try:
            with torch.no_grad():
                return torch.func.functional_call(module, values, tuple(xs), kws)
        finally:
            module.train(was_training)

    def spec(probe):
        try:
            return run(probe, "meta")
        except Exception:  # a module with data-dependent code: run it on real zeros
            return run(probe, "cpu")

    unknown = any(d is None for t in _leaves((args, kwargs)) if isinstance(t, KerasTensor)
                  for d in t.shape)
    first = spec(_PROBES[0])
    second = spec(_PROBES[1]) if unknown else first

    def merge(a, b):
        if not isinstance(a, torch.Tensor):
            return a
        shape = tuple(d if d == e else None for d, e in zip(a.shape, b.shape))
        return KerasTensor(shape, str(a.dtype).split(".")[-1])

    return _map2(merge, first, second)


def pickle_module(module):
    """``module`` as base64 text of ``torch.save`` (Keras's TorchModuleWrapper config)."""
    import base64
    import io

    buffer = io.BytesIO()
    torch.save(module, buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def unpickle_module(text):
    import base64
    import io

    return torch.load(io.BytesIO(base64.b64decode(text.encode("ascii"))), weights_only=False)


class TorchModuleLayer(TorchModuleWrapper):
    """A ``torch.nn.Module`` as a kbridge layer on the torch backend (see :func:`from_torch`).

    :class:`kbridge.layers.TorchModuleWrapper` with a config that holds no pickle: loading
    it takes the module back from the caller (``custom_objects={layer_name: make_module}``).
    """

    def __init__(self, module, name=None, **kwargs):
        super().__init__(module, name=name, **kwargs)

    def get_config(self):
        """The base config plus the module's class (for information only).

        A config never holds code, so :meth:`from_config` needs the module back from the
        caller: ``custom_objects={layer_name: make_module}`` (a zero-argument callable).
        """
        config = Layer.get_config(self)
        cls = type(self.module)
        config["module_class"] = f"{cls.__module__}.{cls.__qualname__}"
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        config = dict(config)
        name = config.get("name")
        module_class = config.pop("module_class", "a torch.nn.Module")
        factory = (custom_objects or {}).get(name)
        if factory is None:
            raise KbridgeError(
                f"Layer '{name}' wraps a torch.nn.Module ({module_class}), which a config "
                f"cannot store. Pass a function that builds it: "
                f"custom_objects={{{name!r}: lambda: MyModule(...)}}; the saved weights are "
                "then loaded into it.")
        module = factory()
        config.pop("dtype", None)
        config.pop("batch_input_shape", None)
        with context.use("torch"):
            return cls(module, **config)


def _map2(fn, a, b):
    if isinstance(a, (list, tuple)):
        return type(a)(_map2(fn, x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return {k: _map2(fn, a[k], b[k]) for k in a}
    return fn(a, b)


def from_torch(module, name=None):
    """A ``torch.nn.Module`` as a kbridge layer (torch backend) that trains with ``fit``.

    The module's parameters become trainable kbridge Variables and its buffers
    non-trainable ones, sharing storage with the module. ``layer(x, training=...)`` sets
    ``module.train(training)`` for the call. On :class:`kbridge.KerasTensor` inputs the
    output shape is found by running the module on meta tensors, so the layer fits in a
    Functional model.

    Example:
        >>> layer = kbridge.adapters.from_torch(torch.nn.Sequential(
        ...     torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)))
        >>> with kbridge.backend.use("torch"):
        ...     inputs = kbridge.Input((5,))
        ...     model = kbridge.Model(inputs, layer(inputs))
        >>> model.compile(optimizer="adam", loss="mse"); model.fit(x, y)
    """
    with context.use("torch"):
        return TorchModuleLayer(module, name=name)
