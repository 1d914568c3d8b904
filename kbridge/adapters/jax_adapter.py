"""A kbridge model as a pure JAX function, and a JAX function (or Flax module) as a layer.

The split of a model into ``(params, state)`` and a pure ``apply`` is the same one the JAX
trainer uses: ``Layer.stateless_call`` over ``trainable_variables`` /
``non_trainable_variables``.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from kbridge.backend.common import context
from kbridge.backend.common.variables import unique_paths
from kbridge.errors import ArgumentError, KbridgeError
from kbridge.layers.adapter_layers import (
    _JAX_CALL_ARGUMENTS,
    FlaxLayer,
    JaxLayer,
    _argument_names,
)

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


class JaxFunctionLayer(JaxLayer):
    """A JAX function with its parameters as a kbridge layer (jax backend), kbridge's
    positional convention (see :func:`from_jax`).

    ``apply_fn(params, inputs)`` returns the outputs; with ``state``,
    ``apply_fn(params, state, inputs)`` returns ``(outputs, new_state)`` and the state is kept
    in non-trainable variables. A list/tuple input is spread over ``apply_fn``'s remaining
    positional parameters when it has several (``apply_fn(params, x1, x2)``).
    """

    def __init__(self, apply_fn, params, state=None, name=None, **kwargs):
        self.apply_fn = apply_fn
        n_inputs = _positional_count(apply_fn) - (1 if state is None else 2)

        def call(*args):
            inputs = args[-1]
            if isinstance(inputs, (list, tuple)) and n_inputs > 1:
                return apply_fn(*args[:-1], *inputs)
            return apply_fn(*args)

        if state is None:
            def call_fn(params, inputs):
                return call(params, inputs)
        else:
            def call_fn(params, state, inputs):
                return call(params, state, inputs)
        super().__init__(call_fn, params=params, state=state, name=name, **kwargs)

    def call(self, *inputs, training=False):
        """``layer(x)``, or ``layer(x1, x2)`` for ``apply_fn(params, x1, x2)``."""
        return super().call(inputs[0] if len(inputs) == 1 else list(inputs), training)

    def compute_output_spec(self, *inputs, training=False):
        return super().compute_output_spec(inputs[0] if len(inputs) == 1 else list(inputs),
                                           training)

    def get_config(self):
        raise KbridgeError(f"Layer '{self.name}' wraps a Python JAX function, which cannot be "
                           "stored in a config. Use kbridge.layers.JaxLayer with a registered "
                           "call_fn (@kbridge.saving.register_kbridge_serializable()), or save "
                           "the weights only.")


def _positional_count(fn):
    import inspect

    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 1 << 30
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _is_linen(obj):
    linen = sys.modules.get("flax.linen")
    return linen is not None and isinstance(obj, linen.Module)


def _is_nnx(obj):
    nnx = sys.modules.get("flax.nnx")
    return nnx is not None and isinstance(obj, nnx.Module)


def _nnx_layer(module, name):
    """A flax nnx Module as a JaxLayer: ``nnx.Param`` trainable, every other variable
    (batch statistics, dropout Rngs keys and counters) non-trainable state."""
    from flax import nnx

    graphdef, params, state = nnx.split(module, nnx.Param, ...)

    def call_fn(params, state, inputs, training):
        model = nnx.merge(graphdef, params, state, copy=True)
        # train()/eval() set the static flags (deterministic, use_running_average) on this
        # call's copy only.
        model.train() if training else model.eval()
        outputs = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
        _, _, new_state = nnx.split(model, nnx.Param, ...)
        return outputs, new_state

    return JaxLayer(call_fn, params=params, state=state, name=name)


def from_jax(apply_fn, params=None, state=None, name=None):
    """A JAX function or a Flax module (linen or nnx) as a kbridge layer on the jax backend.

    Args:
        apply_fn: ``f(params, inputs)`` (or ``f(params, state, inputs) -> (out, state)``
            when ``state`` is given); a function whose arguments follow Keras's JaxLayer
            names (``params, state, rng, inputs, training``); a Flax linen ``Module``
            (then ``params`` is the ``variables`` dict from ``init``, as
            :class:`kbridge.layers.FlaxLayer`); or a Flax nnx ``Module`` (its own
            variables are used; ``params`` must be None).
        params: the parameter pytree.
        state: optional non-trainable state pytree.
        name: the layer name.

    The parameters become trainable kbridge Variables named by their pytree path
    (``"params.Dense_0.kernel"``), so ``fit`` trains them and the hub saves them.

    Example:
        >>> layer = kbridge.adapters.from_jax(lambda p, x: x @ p["w"] + p["b"], params)
        >>> layer = kbridge.adapters.from_jax(flax_module, flax_module.init(key, x))
    """
    with context.use("jax"):
        if _is_nnx(apply_fn):
            if params is not None or state is not None:
                raise ArgumentError("from_jax(nnx_module) takes the module's own variables; "
                                    "`params` and `state` must be None. Received: "
                                    f"params={type(params).__name__}, "
                                    f"state={type(state).__name__}")
            return _nnx_layer(apply_fn, name)
        if _is_linen(apply_fn):
            if state is not None:
                raise ArgumentError("from_jax(linen_module, variables): pass every collection "
                                    "in `variables` (the dict from module.init); `state` must "
                                    "be None.")
            return FlaxLayer(apply_fn, variables=params, name=name)
        if params is None and state is None:
            raise ArgumentError(f"from_jax({getattr(apply_fn, '__name__', apply_fn)}) needs "
                                "`params` (the parameter pytree). Received: params=None")
        try:
            keras_style = "inputs" in _argument_names(apply_fn, "apply_fn",
                                                      _JAX_CALL_ARGUMENTS)
        except ArgumentError:
            keras_style = False
        if keras_style:
            return JaxLayer(apply_fn, params=params, state=state, name=name)
        return JaxFunctionLayer(apply_fn, params, state, name=name)
