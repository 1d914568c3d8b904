"""``kbridge.utils``: Keras 3's ``keras.utils`` names.

Each name lives in one submodule listed in ``_SUBMODULES`` (each defines ``__all__``); they are
imported on first attribute use so ``import kbridge.utils`` stays cheap.
"""

import importlib

from kbridge.utils.progbar import Progbar

_SUBMODULES = (
    "seeding", "numerical_utils", "sequence_utils", "dataset_utils", "image_utils",
    "file_utils", "feature_space", "serialization", "model_utils", "logging_utils",
)
_NAMESPACES = ("bounding_boxes", "legacy")  # ``kbridge.utils.<name>`` sub-namespaces


class _LazyExports:
    """A package's public names, gathered from its submodules' ``__all__`` on first use.

    ``namespace`` is the package's globals. The first :meth:`load` imports each
    ``<package>.<submodule>`` and copies the names it exports into ``namespace`` (a name
    already there stays); the package's ``__getattr__`` and ``__dir__`` call :meth:`get` and
    :meth:`names`.
    """

    def __init__(self, namespace, submodules):
        self.namespace, self.submodules = namespace, submodules
        self.loaded = False

    def load(self):
        if not self.loaded:
            for sub in self.submodules:
                module = importlib.import_module(f"{self.namespace['__name__']}.{sub}")
                for name in getattr(module, "__all__", ()):
                    self.namespace.setdefault(name, getattr(module, name))
            self.loaded = True

    def get(self, name):
        self.load()
        if name in self.namespace:
            return self.namespace[name]
        raise AttributeError(f"module {self.namespace['__name__']!r} has no attribute {name!r}")

    def names(self):
        self.load()
        return sorted(self.namespace)


_EXPORTS = _LazyExports(globals(), _SUBMODULES)


def __getattr__(name):
    if name in ("PyDataset", "Sequence"):
        from kbridge.data.py_dataset import PyDataset

        return PyDataset
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _NAMESPACES:
        return importlib.import_module(f"kbridge.utils.{name}")
    return _EXPORTS.get(name)


def __dir__():
    return sorted({*_EXPORTS.names(), "PyDataset", "Sequence"})
