"""A kbridge model as a pure JAX function, and a JAX function (or Flax module) as a layer.

The split of a model into ``(params, state)`` and a pure ``apply`` is the same one the JAX
trainer uses: ``Layer.stateless_call`` over ``trainable_variables`` /
``non_trainable_variables``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from kbridge.backend.common import context
from kbridge.backend.common.variables import unique_paths
from kbridge.errors import BackendError, KbridgeError
from kbridge.layers.layer import Layer

__all__ = ["JaxFunction", "JaxFunctionLayer", "from_jax", "to_jax"]


class JaxFunction:
    """A model as ``apply(params, state, *inputs, training=False, rng=None)``.

    Attributes:
        params: ``{variable path: jax.Array}`` of the trainable variables.
        state: ``{variable path: jax.Array}`` of the non-trainable ones (batch-norm
            statistics, random-seed states).

    ``apply`` is pure, so ``jax.jit``, ``jax.grad`` and ``jax.vmap`` work on it; calling the
    object uses the stored ``params``/``state``. :meth:`write_back` copies trained values
    into the kbridge model the function came from (whatever its backend).

    Example:
        >>> fn = kbridge.adapters.to_jax(model)
        >>> loss = lambda p, x, y: jnp.mean((fn.apply(p, fn.state, x)[0] - y) ** 2)
        >>> grads = jax.jit(jax.grad(loss))(fn.params, x, y)
    """

    def __init__(self, model):
        self.source_model = model
        self.model = model if model.backend_name == "jax" else _convert(model)
        self._trainable = unique_paths(self.model.trainable_variables)
        self._state_vars = unique_paths(self.model.non_trainable_variables)
        self.params = {k: v.value for k, v in self._trainable.items()}
        self.state = {k: v.value for k, v in self._state_vars.items()}

    def apply(self, params, state, *inputs, training=False, rng=None):
        """``(outputs, new_state)`` of the model on ``inputs``, as a pure function."""
        missing = [k for k in self._trainable if k not in params]
        if missing:
            raise KbridgeError(f"apply(): `params` lacks {missing[:5]}; expected the keys of "
                               "fn.params")
        trainable = [params[k] for k in self._trainable]
        state = dict(state)
        if rng is not None:
            state.update(self._seed_states_from(rng))
        non_trainable = [state[k] for k in self._state_vars]
        x = inputs[0] if len(inputs) == 1 else list(inputs)
        outputs, new_non_trainable = self.model.stateless_call(
            trainable, non_trainable, x, training=training)
        return outputs, dict(zip(self._state_vars, new_non_trainable))

    def _seed_states_from(self, rng):
        """Seed-generator states derived from a JAX PRNG key (or an int seed)."""
        if isinstance(rng, int):
            rng = jax.random.PRNGKey(rng)
        seed_ids = {id(v) for v in self.model._seed_states()}
        out = {}
        for i, (key, v) in enumerate(self._state_vars.items()):
            if id(v) in seed_ids:
                bits = jax.random.randint(jax.random.fold_in(rng, i), (), 0, 2**30, dtype="int32")
                out[key] = jnp.stack([bits, jnp.zeros((), "int32")]).astype(v.dtype)
        return out

    def __call__(self, *inputs, training=False):
        outputs, _ = self.apply(self.params, self.state, *inputs, training=training)
        return outputs

    def write_back(self, params=None, state=None):
        """Assign ``params`` (and ``state``) to the source kbridge model's variables."""
        targets = {}
        source_t = unique_paths(self.source_model.trainable_variables)
        source_s = unique_paths(self.source_model.non_trainable_variables)
        for values, variables in ((params, source_t), (state, source_s)):
            if values is None:
                continue
            unknown = sorted(set(values) - set(variables))
            if unknown:
                raise KbridgeError(f"write_back(): unknown variable paths {unknown[:5]}")
            targets.update({k: (variables[k], values[k]) for k in values})
        for v, value in targets.values():
            v.assign(np.asarray(value))
        self.params = {k: v.value for k, v in self._trainable.items()}
        if self.model is not self.source_model:
            for key, (v, value) in targets.items():
                mirror = self._trainable.get(key, self._state_vars.get(key))
                if mirror is not None:
                    mirror.assign(np.asarray(value))
            self.params = {k: v.value for k, v in self._trainable.items()}
        self.state = {k: v.value for k, v in self._state_vars.items()}


def _convert(model):
    from kbridge.models.cloning import convert

    return convert(model, "jax")


def to_jax(model):
    """``model`` (any backend) as a :class:`JaxFunction`."""
    return JaxFunction(model)


def _path_name(path):
    parts = []
    for entry in path:
        name = getattr(entry, "key", None)
        if name is None:
            name = getattr(entry, "idx", None)
        if name is None:
            name = getattr(entry, "name", entry)
        parts.append(str(name))
    return "/".join(parts) or "param"


class JaxFunctionLayer(Layer):
    """A JAX function (or Flax module) with its parameters as a kbridge layer (jax backend).

    ``apply_fn(params, *inputs)`` returns the outputs; with ``state``,
    ``apply_fn(params, state, *inputs)`` returns ``(outputs, new_state)`` and the state is
    kept in non-trainable variables. The parameters become trainable kbridge Variables, so
    ``fit`` trains them and the hub saves them.
    """

    def __init__(self, apply_fn, params, state=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if self.backend_name != "jax":
            raise BackendError(
                f"from_jax() makes a jax-backend layer, but the active backend is "
                f"{self.backend_name!r}. Create it inside `with kbridge.backend.use('jax'):`.")
        self.apply_fn = apply_fn
        flat, self._param_tree = jax.tree_util.tree_flatten_with_path(params)
        self._params = [self.add_weight(shape=np.shape(leaf), dtype=str(jnp.asarray(leaf).dtype),
                                        initializer=_constant(leaf), name=_path_name(path))
                        for path, leaf in flat]
        self._has_state = state is not None
        self._state = []
        if self._has_state:
            flat_state, self._state_tree = jax.tree_util.tree_flatten_with_path(state)
            self._state = [self.add_weight(shape=np.shape(leaf),
                                           dtype=str(jnp.asarray(leaf).dtype),
                                           initializer=_constant(leaf), trainable=False,
                                           name=_path_name(path))
                           for path, leaf in flat_state]
        self.built = True

    def call(self, *inputs):
        for x in inputs:
            if isinstance(x, (np.ndarray, jax.Array)) or x is None:
                continue
            raise BackendError(f"Layer '{self.name}' wraps a JAX function and runs on the jax "
                               f"backend only. Received a {type(x).__module__}."
                               f"{type(x).__name__} input.")
        params = jax.tree_util.tree_unflatten(self._param_tree, [v.value for v in self._params])
        if not self._has_state:
            return self.apply_fn(params, *inputs)
        state = jax.tree_util.tree_unflatten(self._state_tree, [v.value for v in self._state])
        outputs, new_state = self.apply_fn(params, state, *inputs)
        for v, value in zip(self._state, jax.tree_util.tree_leaves(new_state)):
            v.assign(value)
        return outputs

    def compute_output_spec(self, *inputs):
        """Output KerasTensors via ``jax.eval_shape`` (unknown dims probed with two sizes)."""
        from kbridge.backend.common.keras_tensor import KerasTensor
        from kbridge.backend.common.symbolic import _PROBES

        def spec(probe):
            structs = [jax.ShapeDtypeStruct(tuple(probe if d is None else d for d in x.shape),
                                            x.dtype) for x in inputs]
            return jax.eval_shape(lambda *xs: self.call(*xs), *structs)

        first, second = spec(_PROBES[0]), spec(_PROBES[1])
        return jax.tree_util.tree_map(
            lambda a, b: KerasTensor(tuple(d if d == e else None for d, e in zip(a.shape, b.shape)),
                                     str(a.dtype)), first, second)

    def get_config(self):
        raise KbridgeError(f"Layer '{self.name}' wraps a Python JAX function, which cannot be "
                           "stored in a config; save its weights (model.save_pretrained works "
                           "with custom_objects, or kbridge.hub.save of a model rebuilt in code).")


def _constant(value):
    array = np.asarray(value)

    def init(shape, dtype=None):
        return array.astype(dtype) if dtype else array

    return init


def from_jax(apply_fn, params, state=None, name=None):
    """A JAX function or a Flax module as a kbridge layer on the jax backend.

    Args:
        apply_fn: ``f(params, *inputs)`` (or ``f(params, state, *inputs) -> (out, state)``
            when ``state`` is given), or a Flax ``nn.Module``.
        params: the parameter pytree (for Flax: the ``variables`` dict from ``init``).
        state: optional non-trainable state pytree.

    Example:
        >>> layer = kbridge.adapters.from_jax(lambda p, x: x @ p["w"] + p["b"], params)
    """
    module = apply_fn
    if hasattr(module, "apply") and hasattr(module, "init"):  # a Flax linen module
        state = None
        if isinstance(params, dict) and "params" in params:
            state = {k: v for k, v in params.items() if k != "params"} or None
            params = params["params"]
        if state:
            def apply_fn(p, s, *inputs):
                out, updates = module.apply({"params": p, **s}, *inputs, mutable=list(s))
                return out, {**s, **updates}
        else:
            def apply_fn(p, *inputs):
                return module.apply({"params": p}, *inputs)
    with context.use("jax"):
        return JaxFunctionLayer(apply_fn, params, state, name=name)
