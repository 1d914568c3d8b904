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
    BackendError,
    BackendMismatchError,
    DTypeError,
    KbridgeError,
    MissingOpError,
    ShapeError,
)
from kbridge.version import __version__

__all__ = [
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
    "ops",
    "random",
]
