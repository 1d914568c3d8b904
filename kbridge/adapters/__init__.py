"""``kbridge.adapters``: hand a kbridge model to each framework's ecosystem, and back.

* :func:`to_torch` — a real ``torch.nn.Module`` (parameters shared with a torch model);
* :func:`export_saved_model` — a plain TensorFlow SavedModel for TF-Serving / TFLite;
* :func:`to_jax` — a pure ``apply(params, state, *inputs)`` for ``jax.jit`` / ``grad`` / ``vmap``;
* :func:`from_torch`, :func:`from_jax`, :func:`from_saved_model` — the reverse direction.

Each works for a model built on any backend (it is converted first where needed). The
framework is imported when an adapter is first used, never by ``import kbridge``.

Keras's names for the layer direction are in ``kbridge.layers``: ``TorchModuleWrapper``,
``JaxLayer``, ``FlaxLayer``, ``TFSMLayer``; Keras's ``ExportArchive`` is in
``kbridge.export``.
"""

import importlib

_EXPORTS = {
    "to_torch": "kbridge.adapters.torch_adapter",
    "from_torch": "kbridge.adapters.torch_adapter",
    "TorchModule": "kbridge.adapters.torch_adapter",
    "TorchModuleLayer": "kbridge.adapters.torch_adapter",
    "export_saved_model": "kbridge.adapters.tf_adapter",
    "from_saved_model": "kbridge.adapters.tf_adapter",
    "SavedModelLayer": "kbridge.adapters.tf_adapter",
    "to_jax": "kbridge.adapters.jax_adapter",
    "from_jax": "kbridge.adapters.jax_adapter",
    "JaxFunction": "kbridge.adapters.jax_adapter",
    "JaxFunctionLayer": "kbridge.adapters.jax_adapter",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kbridge.adapters' has no attribute {name!r}")
