"""kbridge: a Keras-3-style deep-learning core on numpy, JAX, PyTorch and TensorFlow.

``import kbridge`` imports numpy only; each framework is imported the first time a backend
is used.

Example:
    >>> import kbridge
    >>> with kbridge.backend.use("torch"):
    ...     y = kbridge.ops.matmul(np.ones((2, 3)), np.ones((3, 4)))   # a torch.Tensor
"""

from kbridge import backend, ops, random
from kbridge.backend import KerasTensor, Variable
from kbridge.errors import (
    ArgumentError,
    BackendError,
    BackendMismatchError,
    DTypeError,
    KbridgeError,
    MissingOpError,
    ShapeError,
)
from kbridge.version import __version__
from kbridge.backend.common.naming import name_scope

import importlib as _importlib


def version():
    """kbridge's version string (``keras.version()``'s counterpart)."""
    return __version__


# Heavier pieces load on first use, keeping ``import kbridge`` cheap.
_LAZY = {
    "layers": ("kbridge.layers", None),
    "models": ("kbridge.models", None),
    "initializers": ("kbridge.initializers", None),
    "activations": ("kbridge.activations", None),
    "regularizers": ("kbridge.regularizers", None),
    "constraints": ("kbridge.constraints", None),
    "saving": ("kbridge.saving", None),
    "dtype_policies": ("kbridge.dtype_policies", None),
    "utils": ("kbridge.utils", None),
    "hub": ("kbridge.hub", None),
    "adapters": ("kbridge.adapters", None),
    "callbacks": ("kbridge.callbacks", None),
    "optimizers": ("kbridge.optimizers", None),
    "losses": ("kbridge.losses", None),
    "metrics": ("kbridge.metrics", None),
    "data": ("kbridge.data", None),
    "applications": ("kbridge.applications", None),
    "datasets": ("kbridge.datasets", None),
    "preprocessing": ("kbridge.preprocessing", None),
    "config": ("kbridge.config", None),
    "tree": ("kbridge.tree", None),
    "mixed_precision": ("kbridge.mixed_precision", None),
    "export": ("kbridge.export", None),
    "wrappers": ("kbridge.wrappers", None),
    "visualization": ("kbridge.visualization", None),
    "distillation": ("kbridge.distillation", None),
    "distribution": ("kbridge.distribution", None),
    "legacy": ("kbridge.legacy", None),
    "quantizers": ("kbridge.quantizers", None),
    "Quantizer": ("kbridge.quantizers", "Quantizer"),
    "Input": ("kbridge.layers.input_layer", "Input"),
    "Layer": ("kbridge.layers.layer", "Layer"),
    "Model": ("kbridge.models.model", "Model"),
    "Sequential": ("kbridge.models.sequential", "Sequential"),
    "Functional": ("kbridge.models.functional", "Functional"),
    "convert": ("kbridge.models.cloning", "convert"),
    "clone_model": ("kbridge.models.cloning", "clone_model"),
    "InputSpec": ("kbridge.layers.layer", "InputSpec"),
    "Initializer": ("kbridge.initializers", "Initializer"),
    "Loss": ("kbridge.losses.loss", "Loss"),
    "Metric": ("kbridge.metrics.metric", "Metric"),
    "Optimizer": ("kbridge.optimizers.base_optimizer", "Optimizer"),
    "Regularizer": ("kbridge.regularizers", "Regularizer"),
    "DTypePolicy": ("kbridge.dtype_policies", "DTypePolicy"),
    "FloatDTypePolicy": ("kbridge.dtype_policies", "FloatDTypePolicy"),
    "Function": ("kbridge.function", "Function"),
    "Operation": ("kbridge.function", "Operation"),
    "StatelessScope": ("kbridge.scopes", "StatelessScope"),
    "SymbolicScope": ("kbridge.scopes", "SymbolicScope"),
    "RematScope": ("kbridge.scopes", "RematScope"),
    "remat": ("kbridge.scopes", "remat"),
    "device": ("kbridge.scopes", "device"),
    "scopes": ("kbridge.scopes", None),
}


def __getattr__(name):
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = _importlib.import_module(module_name)
        if name == "Model":
            _importlib.import_module("kbridge.models")  # registers Functional for Model(...)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kbridge' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ArgumentError",
    "BackendError",
    "BackendMismatchError",
    "DTypeError",
    "KbridgeError",
    "KerasTensor",
    "MissingOpError",
    "ShapeError",
    "Variable",
    "__version__",
    "backend",
    "name_scope",
    "ops",
    "random",
    "version",
]
