"""Keras-named layers over framework code: ``JaxLayer``, ``FlaxLayer``, ``TorchModuleWrapper``
and ``TFSMLayer`` (the machinery is in :mod:`kbridge.adapters`).

This module imports no framework: each class imports jax / torch / tensorflow when an
instance is made, so ``kbridge.layers`` stays cheap to load.
"""

import inspect

import numpy as np

from kbridge.backend.common import naming
from kbridge.errors import ArgumentError, BackendError, KbridgeError
from kbridge.layers.layer import Layer
from kbridge.saving import registry

__all__ = ["FlaxLayer", "JaxLayer", "TFSMLayer", "TorchModuleWrapper"]

_JAX_CALL_ARGUMENTS = ("params", "state", "rng", "inputs", "training")
_JAX_INIT_ARGUMENTS = ("rng", "inputs", "training")

_UNSAFE_MODULE = (
    "Refusing to deserialize a {what} stored with pickle ({how}): unpickling runs code from "
    "the file. If you trust the source, pass safe_mode=False to the loading function.")


def _require_backend(layer, backend, maker):
    if layer.backend_name != backend:
        raise BackendError(
            f"{maker} makes a {backend}-backend layer, but the active backend is "
            f"{layer.backend_name!r}. Create it inside `with kbridge.backend.use({backend!r}):`.")


def _argument_names(fn, what, allowed, required=("inputs",)):
    """The parameter names of ``fn``, checked against Keras's JaxLayer conventions."""
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError) as e:
        raise ArgumentError(f"`{what}` must be a Python callable with an inspectable "
                            f"signature. Received: {fn!r}") from e
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ArgumentError(f"`{what}` may only take arguments named {list(allowed)}. "
                            f"Received an argument named {unknown[0]!r} ({what}{names}).")
    missing = [n for n in required if n not in names]
    if missing:
        raise ArgumentError(f"`{what}` must take an argument named {missing[0]!r}. "
                            f"Received: {what}{names}")
    return names


def _path_name(path):
    """A variable name for a pytree path: keys joined by '.' (kbridge reserves '/' for
    layer scopes), without flax nnx's trailing ``.value``."""
    parts = []
    for entry in path:
        name = getattr(entry, "key", None)
        if name is None:
            name = getattr(entry, "idx", None)
        if name is None:
            name = getattr(entry, "name", entry)
        parts.append(str(name))
    if len(parts) > 1 and parts[-1] == "value" and type(path[-1]).__name__ == "GetAttrKey":
        parts.pop()
    return ".".join(parts).replace("/", ".") or "variable"


def _constant(value):
    array = np.asarray(value)

    def init(shape, dtype=None):
        return array.astype(dtype) if dtype else array

    return init


class JaxLayer(Layer):
    """A JAX model (a function plus its parameter pytree) as a kbridge layer (jax backend).

    As Keras's ``JaxLayer``: ``call_fn`` takes arguments with these exact names, in any
    order: ``params`` (trainable pytree), ``state`` (non-trainable pytree; then ``call_fn``
    returns ``(outputs, new_state)``), ``rng`` (a raw ``uint32[2]`` JAX key from the layer's
    seed generator when training, None otherwise), ``inputs`` (required) and ``training``.
    ``init_fn(rng, inputs[, training])`` returns ``params`` (or ``(params, state)``) and is
    called at build time when ``params`` and ``state`` are not given.

    Every array leaf becomes a kbridge Variable named by its pytree path (``"Dense_0.kernel"``),
    so ``fit`` trains the parameters and the hub saves them; other leaves are kept as static
    configuration. :attr:`params` / :attr:`state` are the pytrees of Variables.

    Example:
        >>> def call_fn(params, inputs):
        ...     return inputs @ params["w"] + params["b"]
        >>> with kbridge.backend.use("jax"):
        ...     layer = kbridge.layers.JaxLayer(call_fn, params={"w": w, "b": b})
    """

    def __init__(self, call_fn, init_fn=None, params=None, state=None, seed=None,
                 native_serialization_platforms=None, **kwargs):
        super().__init__(**kwargs)
        _require_backend(self, "jax", type(self).__name__)
        if native_serialization_platforms is not None:
            # Keras uses it for jax2tf on its tensorflow backend; here the layer runs on jax.
            raise ArgumentError(
                "`native_serialization_platforms` applies to jax2tf conversion, which kbridge's "
                "JaxLayer does not do (it runs on the jax backend; export goes through "
                f"kbridge.export). Received: {native_serialization_platforms!r}")
        if not callable(call_fn):
            raise ArgumentError(f"`call_fn` must be callable. Received: {call_fn!r}")
        self.call_fn = call_fn
        self.init_fn = init_fn
        self.call_fn_arguments = _argument_names(call_fn, "call_fn", _JAX_CALL_ARGUMENTS)
        self.init_fn_arguments = (None if init_fn is None else
                                  _argument_names(init_fn, "init_fn", _JAX_INIT_ARGUMENTS))
        self.seed = seed
        if "rng" in self.call_fn_arguments:
            from kbridge.random.seed_generator import SeedGenerator

            self.seed_generator = SeedGenerator(seed, backend="jax")
        needs_weights = {"params", "state"} & set(self.call_fn_arguments)
        if init_fn is None and params is None and state is None and needs_weights:
            raise ArgumentError("`init_fn`, `params` and `state` cannot all be None when "
                                f"`call_fn` takes {sorted(needs_weights)}.")
        self.params = self.state = None
        self._trees = {}
        if params is not None or state is not None:
            with naming.layer_scope(self.name):
                self._track_tree("params", params, trainable=True)
                self._track_tree("state", state, trainable=False)
            self.built = True

    # --- weights ----------------------------------------------------------------------
    def _track_tree(self, kind, tree, trainable):
        """Variables for the array leaves of ``tree``; sets ``self.params`` / ``self.state``."""
        import jax

        if tree is None:
            return
        flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
        leaves, key_impls = [], {}
        for i, (path, leaf) in enumerate(flat):
            if _is_key_array(leaf):  # a typed PRNG key (flax nnx Rngs): stored as its bits
                key_impls[i] = jax.random.key_impl(leaf)
                leaf = jax.random.key_data(leaf)
            if isinstance(leaf, (np.ndarray, np.generic, jax.Array)) or (
                    isinstance(leaf, (int, float)) and not isinstance(leaf, bool)):
                array = np.asarray(leaf)
                float_leaf = np.issubdtype(array.dtype, np.floating)
                leaf = self.add_weight(shape=array.shape, initializer=_constant(array),
                                       dtype=None if float_leaf else str(array.dtype),
                                       trainable=trainable, name=_path_name(path))
            leaves.append(leaf)
        self._trees[kind] = (treedef, leaves, key_impls)
        object.__setattr__(self, kind, jax.tree_util.tree_unflatten(treedef, leaves))

    def _values(self, kind, substitute=None):
        """The pytree ``kind`` with each Variable replaced by its value (or ``substitute``)."""
        import jax

        if kind not in self._trees:
            return None
        treedef, leaves, key_impls = self._trees[kind]
        values = []
        for i, leaf in enumerate(leaves):
            if hasattr(leaf, "assign"):
                leaf = leaf.value if substitute is None else substitute[id(leaf)]
                if i in key_impls:
                    leaf = jax.random.wrap_key_data(leaf, impl=key_impls[i])
            values.append(leaf)
        return jax.tree_util.tree_unflatten(treedef, values)

    def _assign_state(self, new_state):
        import jax

        treedef, leaves, key_impls = self._trees["state"]
        new_leaves, new_def = jax.tree_util.tree_flatten(new_state)
        if new_def != treedef:
            raise KbridgeError(f"Layer '{self.name}': the state returned by `call_fn` does not "
                               f"have the structure of the initial state.\nExpected: {treedef}"
                               f"\nReceived: {new_def}")
        for i, (leaf, value) in enumerate(zip(leaves, new_leaves)):
            if hasattr(leaf, "assign"):
                leaf.assign(jax.random.key_data(value) if i in key_impls else value)

    def build(self, input_shape):
        if self.built or not ({"params", "state"} & set(self.call_fn_arguments)):
            return
        import jax
        import jax.numpy as jnp

        from kbridge.layers.layer import is_shape

        def ones(shape):
            if is_shape(shape):
                return jnp.ones(tuple(1 if d is None else d for d in shape), self.compute_dtype)
            if isinstance(shape, (list, tuple)):
                return type(shape)(ones(s) for s in shape)
            if isinstance(shape, dict):
                return {k: ones(v) for k, v in shape.items()}
            return shape

        values = {"rng": jax.tree_util.tree_map(_raw_key, self._init_rng()),
                  "inputs": ones(input_shape), "training": True}
        result = self.init_fn(*[values[n] for n in self.init_fn_arguments])
        params, state = result if "state" in self.call_fn_arguments else (result, None)
        self._track_tree("params", params, trainable=True)
        self._track_tree("state", state, trainable=False)

    def _init_rng(self):
        """The ``rng`` passed to ``init_fn`` (FlaxLayer overrides it with a dict)."""
        from kbridge.random.seed_generator import SeedGenerator

        return SeedGenerator(self.seed, backend="jax").next()

    def _call_rng(self, training):
        """The ``rng`` passed to ``call_fn``: a fresh seed when training, else None."""
        return self.seed_generator.next() if training else None

    # --- calling ----------------------------------------------------------------------
    def _run(self, params, state, rng, inputs, training):
        import jax

        values = {"params": params, "state": state, "inputs": inputs, "training": training,
                  "rng": jax.tree_util.tree_map(_raw_key, rng)}
        result = self.call_fn(*[values[n] for n in self.call_fn_arguments])
        return result if "state" in self.call_fn_arguments else (result, None)

    def call(self, inputs, training=False):
        _check_jax_inputs(self, inputs)
        training = bool(training)
        rng = self._call_rng(training) if "rng" in self.call_fn_arguments else None
        outputs, new_state = self._run(self._values("params"), self._values("state"), rng,
                                       inputs, training)
        if "state" in self.call_fn_arguments:
            self._assign_state(new_state)
        return outputs

    def compute_output_spec(self, inputs, training=False):
        """Output KerasTensors from ``jax.eval_shape`` of ``call_fn``.

        Pure: neither the state nor the seed generator is touched (assigning traced values
        there would leak tracers into the layer). Unknown dims are probed with two sizes.
        """
        import jax

        from kbridge.backend.common.keras_tensor import KerasTensor
        from kbridge.backend.common.symbolic import _PROBES
        from kbridge.layers.layer import map_structure

        params, state = self._values("params"), self._values("state")
        rng = (jax.tree_util.tree_map(lambda _: np.zeros((2,), "uint32"),
                                      self._call_rng_structure(bool(training)))
               if "rng" in self.call_fn_arguments else None)

        def spec(probe):
            structs = map_structure(lambda x: jax.ShapeDtypeStruct(
                tuple(probe if d is None else d for d in x.shape), x.dtype), inputs)
            return jax.eval_shape(lambda p, s, x: self._run(p, s, rng, x, bool(training))[0],
                                  params, state, structs)

        first, second = spec(_PROBES[0]), spec(_PROBES[1])
        return jax.tree_util.tree_map(
            lambda a, b: KerasTensor(tuple(d if d == e else None for d, e in zip(a.shape, b.shape)),
                                     str(a.dtype)), first, second)

    def _call_rng_structure(self, training):
        return 0 if training else None

    # --- config -----------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({"call_fn": _serialize_function(self.call_fn, self.name, "call_fn"),
                       "init_fn": _serialize_function(self.init_fn, self.name, "init_fn"),
                       "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        config = dict(config)
        for key in ("call_fn", "init_fn"):
            config[key] = _deserialize_function(config.get(key), key, custom_objects)
        return _from_base_config(cls, config)


class FlaxLayer(JaxLayer):
    """A Flax linen ``Module`` as a kbridge layer (jax backend), as Keras's ``FlaxLayer``.

    ``method`` (default ``__call__``) takes ``inputs`` and optionally ``training``. The
    ``"params"`` collection is trainable; every other collection (``batch_stats`` ...) is
    non-trainable state, updated by the call (``mutable`` is everything but ``"params"``).
    Dropout gets a fresh ``"dropout"`` key per training call. ``variables`` is what
    ``module.init`` returns; when None, ``module.init`` runs at build time.

    Example:
        >>> variables = module.init(jax.random.PRNGKey(0), x)
        >>> with kbridge.backend.use("jax"):
        ...     layer = kbridge.layers.FlaxLayer(module, variables=variables)
    """

    def __init__(self, module, method=None, variables=None, **kwargs):
        from flax.linen import DenyList

        self.module = module
        self.method = method
        mutable = DenyList(["params"])
        takes_training = "training" in inspect.signature(
            method if method is not None else module.__call__).parameters

        def merged(params, state):
            return {**(params or {}), **(state or {})}

        def apply_training(params, state, rng, inputs, training):
            return module.apply(merged(params, state), inputs, rngs=rng, method=method,
                                mutable=mutable, training=training)

        def apply(params, state, rng, inputs):
            return module.apply(merged(params, state), inputs, rngs=rng, method=method,
                                mutable=mutable)

        def init_training(rng, inputs, training):
            return _split_collections(module.init(rng, inputs, method=method,
                                                  training=training))

        def init(rng, inputs):
            return _split_collections(module.init(rng, inputs, method=method))

        params, state = _split_collections(variables)
        if variables is not None and not state:
            state = {}
        super().__init__(call_fn=apply_training if takes_training else apply,
                         init_fn=init_training if takes_training else init,
                         params=params, state=state, **kwargs)

    def _run(self, params, state, rng, inputs, training):
        import jax

        rng = {} if rng is None else jax.tree_util.tree_map(_raw_key, rng)
        args = [params, state, rng, inputs] + ([training] if len(self.call_fn_arguments) == 5
                                               else [])
        outputs, updates = self.call_fn(*args)
        return outputs, {**(state or {}), **dict(updates)}

    def _init_rng(self):
        from kbridge.random.seed_generator import SeedGenerator

        gen = SeedGenerator(self.seed, backend="jax")
        return {"params": gen.next(), "dropout": gen.next()}

    def _call_rng(self, training):
        return {"dropout": self.seed_generator.next()} if training else None

    def _call_rng_structure(self, training):
        return {"dropout": 0} if training else None

    def get_config(self):
        config = Layer.get_config(self)
        method = self.method
        if method is not None and getattr(method, "__self__", None) is self.module:
            method = method.__name__
        elif method is not None:
            method = _serialize_function(method, self.name, "method")
        config.update({"module": _serialize_flax_module(self.module, self.name),
                       "method": method, "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        config = dict(config)
        module = _deserialize_flax_module(config.pop("module"), custom_objects)
        method = config.pop("method", None)
        if isinstance(method, str) and hasattr(module, method):
            method = getattr(module, method)
        elif method is not None:
            method = _deserialize_function(method, "method", custom_objects)
        config.pop("call_fn", None)
        config.pop("init_fn", None)
        layer = _from_base_config(lambda **kw: cls(module, method=method, **kw), config)
        return layer


class TorchModuleWrapper(Layer):
    """A ``torch.nn.Module`` as a kbridge layer on the torch backend, as Keras's
    ``TorchModuleWrapper``.

    The module's parameters become trainable kbridge Variables (non-trainable when
    ``requires_grad`` is False) and its buffers non-trainable ones, sharing storage with the
    module, so ``fit`` trains them, a torch optimizer over :meth:`parameters` trains the
    layer, and the weights save with the model. ``call(*args, training=None, **kwargs)`` runs
    ``module(*args, **kwargs)`` in ``train(training)`` mode. Output shapes on KerasTensors
    come from running the module on meta tensors, or from ``output_shape`` when given.

    Its config holds the module pickled with ``torch.save`` (as Keras); loading it runs code
    from the file, so it is refused unless ``safe_mode=False``.

    Example:
        >>> with kbridge.backend.use("torch"):
        ...     layer = kbridge.layers.TorchModuleWrapper(torch.nn.Linear(5, 2))
        ...     model = kbridge.Sequential([kbridge.Input((5,)), layer])
    """

    def __init__(self, module, name=None, output_shape=None, **kwargs):
        super().__init__(name=name, **kwargs)
        from kbridge.adapters import torch_adapter

        torch_adapter.adopt_module(self, module)
        self.output_shape = None if output_shape is None else _shape_structure(output_shape)

    def parameters(self, recurse=True):
        """The module's ``parameters()`` (for a torch optimizer)."""
        return self.module.parameters(recurse=recurse)

    def call(self, *args, training=None, **kwargs):
        from kbridge.adapters import torch_adapter

        return torch_adapter.call_module(self, args, kwargs, training)

    def compute_output_spec(self, *args, training=None, **kwargs):
        if self.output_shape is not None:
            from kbridge.layers.layer import placeholders_for

            return placeholders_for(self.output_shape, self.compute_dtype)
        from kbridge.adapters import torch_adapter

        return torch_adapter.module_output_spec(self, args, kwargs)

    def compute_output_shape(self, *args, **kwargs):
        if self.output_shape is not None:
            return self.output_shape
        return super().compute_output_shape(*args, **kwargs)

    def get_config(self):
        from kbridge.adapters import torch_adapter

        config = super().get_config()
        config.update({"module": torch_adapter.pickle_module(self.module),
                       "output_shape": self.output_shape})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        config = dict(config)
        if isinstance(config.get("module"), str):
            if registry._effective_safe_mode(True if safe_mode is None else safe_mode):
                raise registry.UnsafeDeserializationError(_UNSAFE_MODULE.format(
                    what="torch.nn.Module", how="torch.save"))
            from kbridge.adapters import torch_adapter

            config["module"] = torch_adapter.unpickle_module(config["module"])
        # Built on the active backend like the rest of the model: a clear error unless it is
        # torch (load with backend="torch").
        return _from_base_config(cls, config)


class TFSMLayer(Layer):
    """A TensorFlow SavedModel endpoint as a kbridge layer (tensorflow backend), as Keras's
    ``TFSMLayer``.

    ``call_endpoint`` names an attribute of the loaded object (``serve``, what
    ``model.export`` and :class:`kbridge.export.ExportArchive` write: called with the input
    structure as one argument) or a signature (called with named inputs; it returns a dict).
    ``call_training_endpoint``, when given, runs for ``training=True``. The variables the
    endpoints read become the layer's weights, sharing the loaded ``tf.Variable`` objects, so
    ``fit`` trains the trainable ones (``trainable=False`` freezes them).

    Loading a TFSMLayer from a config loads and runs the graph named there, so it is
    refused unless ``safe_mode=False`` (as Keras).

    Example:
        >>> with kbridge.backend.use("tensorflow"):
        ...     layer = kbridge.layers.TFSMLayer("export/digits")
        ...     y = layer(images)
    """

    _unsafe_to_deserialize = True

    def __init__(self, filepath, call_endpoint="serve", call_training_endpoint=None,
                 trainable=True, name=None, dtype=None):
        super().__init__(trainable=trainable, name=name, dtype=dtype)
        _require_backend(self, "tensorflow", "TFSMLayer")
        import tensorflow as tf

        self.filepath = str(filepath)
        self.call_endpoint = call_endpoint
        self.call_training_endpoint = call_training_endpoint
        # Plain attributes: the loaded object owns the variables its functions read.
        object.__setattr__(self, "_loaded", tf.saved_model.load(self.filepath))
        object.__setattr__(self, "_endpoint_fns", {})
        for endpoint in (call_endpoint, call_training_endpoint):
            if endpoint is not None:
                self._endpoint_fns[endpoint] = self._find_endpoint(endpoint)
        seen = set()
        for fn, _ in self._endpoint_fns.values():
            for concrete in _concrete_functions(fn):
                trainable_ids = {id(v) for v in concrete.trainable_variables}
                for v in concrete.variables:
                    if id(v) not in seen:
                        seen.add(id(v))
                        self._adopt(v, trainable=id(v) in trainable_ids)
        self.built = True

    def _find_endpoint(self, endpoint):
        """``(function, is_signature)`` for an attribute or a signature of the SavedModel."""
        if hasattr(self._loaded, endpoint):
            return getattr(self._loaded, endpoint), False
        if endpoint in self._loaded.signatures:
            return self._loaded.signatures[endpoint], True
        raise KbridgeError(
            f"SavedModel {self.filepath!r} has no attribute or signature {endpoint!r}. "
            f"Available signatures: {sorted(self._loaded.signatures)}. Pass another "
            "`call_endpoint`.")

    def _adopt(self, tf_variable, trainable):
        with naming.layer_scope(self.name):
            v = self.add_weight(shape=tuple(tf_variable.shape), dtype=tf_variable.dtype.name,
                                initializer="zeros", trainable=trainable,
                                name=tf_variable.name.split(":")[0].replace("/", "_"))
        v._share(tf_variable)  # the endpoint reads this very variable

    def _run(self, inputs, training, kwargs):
        endpoint = self.call_endpoint
        if training and self.call_training_endpoint:
            endpoint = self.call_training_endpoint
        fn, is_signature = self._endpoint_fns[endpoint]
        if not is_signature:
            return fn(inputs, **kwargs)
        _, specs = fn.structured_input_signature
        names = sorted(specs)
        if isinstance(inputs, dict):
            feed = dict(inputs)
        elif isinstance(inputs, (list, tuple)):
            feed = dict(zip(names, inputs))
        else:
            feed = {names[0]: inputs} if len(names) == 1 else None
        if feed is None or sorted(feed) != names:
            raise KbridgeError(f"Signature {endpoint!r} of layer '{self.name}' takes inputs "
                               f"{names}; pass a dict with these keys (or a list in this "
                               "order).")
        return fn(**feed, **kwargs)

    def call(self, inputs, training=False, **kwargs):
        return self._run(inputs, bool(training), kwargs)

    def compute_output_spec(self, inputs, training=False, **kwargs):
        """Output KerasTensors from tracing the endpoint on ``tf.TensorSpec`` inputs."""
        import tensorflow as tf

        from kbridge.backend.common.keras_tensor import KerasTensor
        from kbridge.layers.layer import map_structure

        specs = map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), inputs)
        traced = tf.function(lambda x: self._run(x, bool(training), kwargs),
                             autograph=False).get_concrete_function(specs)
        return tf.nest.map_structure(lambda t: KerasTensor(tuple(t.shape), t.dtype.name),
                                     traced.structured_outputs)

    def get_config(self):
        config = super().get_config()
        config.update({"filepath": self.filepath, "call_endpoint": self.call_endpoint,
                       "call_training_endpoint": self.call_training_endpoint})
        config.pop("batch_input_shape", None)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        if registry._effective_safe_mode(True if safe_mode is None else safe_mode):
            raise registry.UnsafeDeserializationError(
                "Refusing to build a TFSMLayer from a config: it loads and runs the "
                f"SavedModel graph at {config.get('filepath')!r}. Pass safe_mode=False only "
                "if you trust the source.")
        return _from_base_config(cls, config)


def _concrete_functions(fn):
    if hasattr(fn, "concrete_functions"):
        return list(fn.concrete_functions)
    if hasattr(fn, "_list_all_concrete_functions"):
        return list(fn._list_all_concrete_functions())
    return [fn]


def _shape_structure(shape):
    from kbridge.layers.layer import _tuplify

    return _tuplify(shape)


def _split_collections(variables):
    """Flax ``variables`` as Keras's ``(params, state)``: ``{"params": ...}`` and the rest."""
    if variables is None:
        return None, None
    variables = dict(variables)
    if "params" not in variables:
        return {}, variables
    return {"params": variables["params"]}, {k: v for k, v in variables.items()
                                             if k != "params"}


def _is_key_array(leaf):
    import jax

    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype,
                                                                 jax.dtypes.prng_key)


def _raw_key(seed):
    """A seed pair (kbridge's int32 ``[seed, counter]``) as a raw ``uint32[2]`` JAX key."""
    import jax.numpy as jnp

    if seed is None or _is_key_array(seed):
        return seed
    return jnp.asarray(seed).astype(jnp.uint32)


def _check_jax_inputs(layer, inputs):
    import jax

    from kbridge.layers.layer import _flatten

    for x in _flatten(inputs):
        if x is None or isinstance(x, (np.ndarray, np.generic, jax.Array, int, float, bool)):
            continue
        raise BackendError(f"Layer '{layer.name}' wraps JAX code and runs on the jax backend "
                           f"only. Received a {type(x).__module__}.{type(x).__name__} input.")


def _serialize_function(fn, layer_name, what):
    if fn is None:
        return None
    name = getattr(fn, "__name__", None)
    if registry.get_registered_object(name) is fn:
        return name
    registered = getattr(fn, "_registered_name", None)
    if registered and registry.get_registered_object(registered) is fn:
        return registered
    raise KbridgeError(
        f"Layer '{layer_name}': `{what}` ({fn!r}) cannot be stored in a config. Register it "
        "with @kbridge.saving.register_kbridge_serializable() so that loading can find it by "
        "name (configs never hold code).")


def _deserialize_function(name, what, custom_objects):
    if name is None or callable(name):
        return name
    fn = registry.get_registered_object(name, custom_objects)
    if fn is None:
        raise KbridgeError(f"Unknown `{what}` {name!r} in a config. Register it with "
                           "@kbridge.saving.register_kbridge_serializable() or pass "
                           f"custom_objects={{{name!r}: fn}}.")
    return fn


def _serialize_flax_module(module, layer_name):
    import dataclasses

    cls = type(module)
    fields = {f.name: getattr(module, f.name) for f in dataclasses.fields(module)
              if f.init and f.name not in ("parent", "name")}
    try:
        fields = registry.serialize(fields)
    except KbridgeError as e:
        raise KbridgeError(f"Layer '{layer_name}': the fields of Flax module "
                           f"{cls.__name__} cannot be stored in a config: {e}") from e
    return {"class_name": getattr(cls, "_registered_name", None) or cls.__name__,
            "config": fields}


def _deserialize_flax_module(config, custom_objects):
    name = config["class_name"]
    cls = registry.get_registered_object(name, custom_objects)
    if cls is None:
        raise KbridgeError(f"Unknown Flax module class {name!r} in a config. Pass "
                           f"custom_objects={{{name!r}: {name}}} (configs never name code to "
                           "import).")
    fields = {k: registry.deserialize(v, custom_objects) if isinstance(v, dict) else v
              for k, v in config.get("config", {}).items()}
    return cls(**fields)


def _from_base_config(make, config):
    """``make(**config)`` after turning the base Layer config back into constructor kwargs."""
    from kbridge import dtype_policies

    config = dict(config)
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = dtype_policies.get(config["dtype"])
    return make(**config)
