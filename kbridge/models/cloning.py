"""``kbridge.convert`` (same model, another backend, same weights) and ``clone_model``."""

from kbridge.backend.common import context, selection
from kbridge.errors import ArgumentError, KbridgeError
from kbridge.saving import registry


def _trusted_classes(model):
    """The classes in ``model`` itself: rebuilding them in-process runs no foreign code."""
    layers = [model] + model._flat_layers()
    return {type(layer).__name__: type(layer) for layer in layers}


def _rebuild(model, backend):
    config = registry.serialize(model)
    with context.use(backend):
        new = registry.deserialize(config, custom_objects=_trusted_classes(model), safe_mode=False)
        if not new.built and model.built:
            build_config = model.get_build_config()
            if build_config is None:
                raise KbridgeError(f"Cannot rebuild '{model.name}': it was built without a "
                                   "recorded input shape. Call model.build(input_shape) first.")
            new.build_from_config(build_config)
    return new


def convert(model, backend):
    """The same model on ``backend``, with bit-identical weights.

    Works for Sequential, Functional and subclassed models (the latter need ``get_config``
    when their constructor takes arguments).

    Example:
        >>> torch_model = kbridge.convert(jax_model, "torch")
    """
    backend = context.standardize_name(backend)
    new = _rebuild(model, backend)
    new.set_weights(model.get_weights())
    return new


def _convert_compiled(model, backend):
    """``convert``, then compile the copy as ``model`` was (for backend timing)."""
    new = convert(model, backend)
    if model.compiled:
        new._compile_like(model)
    return new


selection.register_model_converter(_convert_compiled)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, **kwargs):
    """A new model with the same architecture and freshly initialised weights (as Keras).

    Args:
        model: a Sequential, Functional or subclassed model.
        input_tensors: KerasTensors (the structure of ``model.input``) to build the clone on
            (Sequential / Functional only).
        clone_function: ``f(layer) -> new layer``, called for every layer (default: a new
            layer from ``layer.get_config()``); return ``layer`` itself to share it.
        call_function: ``f(layer, *args, **kwargs) -> outputs``: how each cloned layer is
            called in the new Functional graph (default: ``layer(*args, **kwargs)``).
        recursive: clone nested Sequential / Functional models layer by layer too (with
            ``clone_function``), instead of passing them to ``clone_function`` whole.

    Example:
        >>> def freeze_dense(layer):
        ...     new = layer.__class__.from_config(layer.get_config())
        ...     new.trainable = not isinstance(layer, kbridge.layers.Dense)
        ...     return new
        >>> frozen = kbridge.models.clone_model(model, clone_function=freeze_dense)
    """
    from kbridge.models.functional import Functional
    from kbridge.models.sequential import Sequential

    cache = kwargs.pop("cache", None)
    if kwargs:
        raise ArgumentError(f"Unexpected keyword argument(s) for clone_model: {sorted(kwargs)}")
    for name, fn in (("clone_function", clone_function), ("call_function", call_function)):
        if fn is not None and not callable(fn):
            raise ArgumentError(f"`{name}` must be callable. Received: {fn!r}")
    wrapped = _wrap_clone_function(clone_function, call_function, recursive,
                                   {} if cache is None else cache)
    with context.use(model.backend_name):
        if isinstance(model, Sequential):
            if call_function is not None:
                raise ArgumentError("`call_function` applies to Functional models only: a "
                                    "Sequential model does not call its layers at "
                                    f"construction. Received model '{model.name}' "
                                    f"({type(model).__name__}).")
            return _clone_sequential(model, wrapped, input_tensors)
        if isinstance(model, Functional) and type(model).__init__ is Functional.__init__:
            return _clone_functional(model, wrapped, input_tensors, call_function)
        if input_tensors is not None or clone_function is not None or call_function is not None:
            raise ArgumentError(
                "`input_tensors`, `clone_function` and `call_function` apply to Sequential "
                f"and Functional models only. Received model '{model.name}' of type "
                f"{type(model).__name__}.")
    return _rebuild(model, model.backend_name)


def _wrap_clone_function(clone_function, call_function, recursive, cache):
    """``clone_function`` with a cache (a layer shared in the graph is cloned once) and,
    with ``recursive``, nested models cloned layer by layer."""
    from kbridge.models.functional import Functional
    from kbridge.models.sequential import Sequential

    def default(layer):
        return registry.deserialize(registry.serialize(layer),
                                    custom_objects=_trusted_classes(layer), safe_mode=False)

    clone = clone_function or default

    def wrapped(layer):
        if id(layer) not in cache:
            if recursive and isinstance(layer, (Sequential, Functional)):
                cache[id(layer)] = clone_model(
                    layer, clone_function=clone_function, recursive=True, cache=cache,
                    call_function=None if isinstance(layer, Sequential) else call_function)
            else:
                cache[id(layer)] = clone(layer)
        return cache[id(layer)]

    return wrapped


def _check_keras_tensors(input_tensors):
    from kbridge.backend.common.keras_tensor import KerasTensor
    from kbridge.layers.layer import _flatten

    bad = [type(t).__name__ for t in _flatten(input_tensors) if not isinstance(t, KerasTensor)]
    if bad:
        raise ArgumentError("`input_tensors` must be KerasTensors (from kbridge.Input). "
                            f"Received: {bad[0]}")


def _compile_like(new, model):
    get_config = getattr(model, "get_compile_config", None)
    compile_from = getattr(new, "compile_from_config", None)
    if getattr(model, "compiled", False) and get_config and compile_from:
        config = get_config()
        if config:
            compile_from(config)
    return new


def _clone_sequential(model, clone, input_tensors):
    from kbridge.layers.input_layer import Input
    from kbridge.models.sequential import Sequential

    layers = [clone(layer) for layer in model.layers]
    source_input = model._input_layer
    if input_tensors is not None:
        if isinstance(input_tensors, (list, tuple)):
            if len(input_tensors) != 1:
                raise ArgumentError("A Sequential model takes one input tensor. Received "
                                    f"{len(input_tensors)} in `input_tensors`.")
            input_tensors = input_tensors[0]
        _check_keras_tensors(input_tensors)
        layers = [Input(tensor=input_tensors)] + layers
    elif source_input is not None:
        layers = [Input(batch_shape=source_input.batch_shape, dtype=source_input.dtype,
                        name=source_input.name)] + layers
    new = Sequential(layers, name=model.name, trainable=model.trainable)
    return _compile_like(new, model)


def _clone_functional(model, clone, input_tensors, call_function):
    from kbridge.backend.common.keras_tensor import KerasTensor
    from kbridge.layers.input_layer import Input, InputLayer
    from kbridge.layers.layer import _flatten, map_structure
    from kbridge.models.functional import Functional

    if input_tensors is None:
        input_tensors = map_structure(
            lambda t: Input(batch_shape=t.shape, dtype=t.dtype, name=t.name), model.input)
    else:
        _check_keras_tensors(input_tensors)
        if len(_flatten(input_tensors)) != len(model.inputs) or (
                isinstance(model.input, dict) != isinstance(input_tensors, dict)):
            raise ArgumentError("`input_tensors` must have the structure of model.input. "
                                f"Expected: {model.input}. Received: {input_tensors}")
    if isinstance(model.input, dict):
        new_inputs = [input_tensors[k] for k in model.input]
    else:
        new_inputs = _flatten(input_tensors)
    values = {id(old): new for old, new in zip(model.inputs, new_inputs)}

    def swap(t):
        return values[id(t)] if isinstance(t, KerasTensor) else t

    for node in model._graph_nodes:
        if isinstance(node.layer, InputLayer):
            continue
        layer = clone(node.layer)
        args, kwargs = map_structure(swap, node.args), map_structure(swap, node.kwargs)
        outputs = (call_function(layer, *args, **kwargs) if call_function is not None
                   else layer(*args, **kwargs))
        for t, new in zip(node.output_tensors, _flatten(outputs)):
            values[id(t)] = new
    outputs = map_structure(lambda t: values[id(t)], model.output)
    new = Functional(input_tensors, outputs, name=model.name, trainable=model.trainable)
    return _compile_like(new, model)
