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
_loaded = False


def _load_all():
    global _loaded
    if not _loaded:
        for sub in _SUBMODULES:
            module = importlib.import_module(f"kbridge.utils.{sub}")
            for name in getattr(module, "__all__", ()):
                globals().setdefault(name, getattr(module, name))
        _loaded = True


def __getattr__(name):
    if name in ("PyDataset", "Sequence"):
        from kbridge.data.py_dataset import PyDataset

        return PyDataset
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _NAMESPACES:
        return importlib.import_module(f"kbridge.utils.{name}")
    _load_all()
    if name in globals():
        return globals()[name]
    raise AttributeError(f"module 'kbridge.utils' has no attribute {name!r}")


def __dir__():
    _load_all()
    return sorted(set(globals()) | {"PyDataset", "Sequence"})
