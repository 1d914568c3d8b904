"""``kbridge.export``: Keras 3's :class:`ExportArchive`, a TensorFlow SavedModel with the
endpoints you choose, written from a kbridge model on any backend."""

from kbridge.export.export_archive import ExportArchive

__all__ = ["ExportArchive"]


def __dir__():
    return sorted(__all__)
