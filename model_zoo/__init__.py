"""kbridge's model zoo: architectures, converters from real checkpoints, shipped releases.

Importing it registers the Hugging Face converters with ``kbridge.hub`` (so
``kbridge.hub.load`` reads HF checkpoints of the supported ``model_type``s) and the zoo's
classes with kbridge's config registry (so their kbridge releases load).

Example:
    >>> import model_zoo
    >>> [e["name"] for e in model_zoo.list()]
    ['all-minilm-l6-v2', ...]
    >>> model = kbridge.hub.load("zoo:all-minilm-l6-v2", backend="torch")
"""

import builtins
import importlib

from model_zoo import registry
from model_zoo.registry import register_release

__all__ = ["list", "register_release", "resolve"]

# Modules that register architectures, converters and zoo entries when imported; each is
# light (numpy + kbridge) -- frameworks and tokenizers are imported inside functions.
_MODULES = ("model_zoo.text", "model_zoo.text.convert_gpt2", "model_zoo.text.convert_llm",
            "model_zoo.text.convert_roberta", "model_zoo.text.convert_distilbert",
            "model_zoo.multimodal",
            "model_zoo.vision")

for _module in _MODULES:
    importlib.import_module(_module)
del _module


def list():  # noqa: A001  (the zoo's public name, as in the issue)
    """Every zoo entry: ``[{"name", "description", "source"}]``, sorted by name.

    ``source`` is ``"shipped"`` (a release inside this package) or ``"external"`` (weights
    from another package or place; resolving says what to install if it is missing).
    """
    return builtins.list(registry.entries())


def resolve(name):
    """The local directory holding zoo entry ``name`` (used for ``zoo:NAME`` sources).

    Raises:
        kbridge.hub.ReleaseError: unknown name, or an external entry whose package is missing
            (the message names the package to pip install).
    """
    return registry.resolve(name)
