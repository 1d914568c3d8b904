"""``kbridge.convert`` (same model, another backend, same weights) and ``clone_model``."""

from kbridge.backend.common import context
from kbridge.errors import KbridgeError
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


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, **kwargs):
    """A new model with the same architecture and freshly initialised weights."""
    if input_tensors is not None or clone_function is not None or call_function is not None:
        raise KbridgeError("clone_model supports the plain form clone_model(model) only; "
                           "`input_tensors`, `clone_function` and `call_function` are not "
                           "supported yet.")
    return _rebuild(model, model.backend_name)
