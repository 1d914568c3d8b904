"""``TensorBoard``: write the logs as TensorBoard scalars (event files under ``log_dir``)."""

import importlib.util
import os
import time
import warnings

from kbridge.callbacks.callback import Callback
from kbridge.errors import KbridgeError

_NEEDS_WRITER = (
    "kbridge.callbacks.TensorBoard writes event files with the `tensorboard` package or with "
    "TensorFlow's tf.summary; neither is installed. Install one of them:\n"
    "    pip install tensorboard")


class _TensorboardWriter:
    """Event files through the ``tensorboard`` package's own writer (no TensorFlow needed)."""

    def __init__(self, logdir):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event_pb2, self._summary_pb2 = event_pb2, summary_pb2
        self._writer = EventFileWriter(logdir)

    def scalar(self, tag, value, step):
        summary = self._summary_pb2.Summary(
            value=[self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value))])
        self._writer.add_event(self._event_pb2.Event(wall_time=time.time(), step=int(step),
                                                     summary=summary))

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


class _TFSummaryWriter:
    """Event files through ``tf.summary.write``: core TensorFlow, no tensorboard package."""

    def __init__(self, logdir):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        self._tf = tf
        self._writer = tf.summary.create_file_writer(logdir)
        self._metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        ).SerializeToString()

    def scalar(self, tag, value, step):
        tf = self._tf
        with self._writer.as_default():
            tf.summary.write(tag, tf.constant(float(value), tf.float32), step=int(step),
                             metadata=self._metadata)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


def _writer_class():
    if importlib.util.find_spec("tensorboard") is not None:
        return _TensorboardWriter
    if importlib.util.find_spec("tensorflow") is not None:
        return _TFSummaryWriter
    raise KbridgeError(_NEEDS_WRITER)


class TensorBoard(Callback):
    """Log ``fit``'s losses and metrics for TensorBoard: ``tensorboard --logdir logs``.

    Epoch values go to ``log_dir/train`` and ``log_dir/validation`` as ``epoch_<name>``
    (the ``val_`` prefix dropped); with ``update_freq="batch"`` or an int, training values
    also go as ``batch_<name>`` every that many batches. Only scalars are written: the
    histogram, graph, image, profiler and embedding options are accepted and ignored (with
    a warning).

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[kbridge.callbacks.TensorBoard("logs")])
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        self._writer_cls = _writer_class()
        ignored = [name for name, on in (("histogram_freq", histogram_freq),
                                         ("write_images", write_images),
                                         ("profile_batch", profile_batch),
                                         ("embeddings_freq", embeddings_freq)) if on]
        if ignored:
            warnings.warn(f"kbridge's TensorBoard writes scalars only; ignoring {ignored}.",
                          stacklevel=2)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise KbridgeError("`update_freq` must be 'epoch', 'batch' or a positive int. "
                               f"Received: update_freq={update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.update_freq = update_freq
        self.write_steps_per_second = write_steps_per_second
        self._writers = {}
        self._global_step = 0
        self._epoch_start = None

    @property
    def _implements_batch_hooks(self):
        return self.update_freq != "epoch"

    def _writer(self, name):
        if name not in self._writers:
            self._writers[name] = self._writer_cls(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_train_begin(self, logs=None):
        self._global_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self._global_step += 1
        if self.update_freq == "epoch" or self._global_step % self.update_freq:
            return
        writer = self._writer("train")
        for name, value in (logs or {}).items():
            if _is_scalar(value):
                writer.scalar(f"batch_{name}", value, self._global_step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.write_steps_per_second and self._epoch_start is not None:
            steps = self.params.get("steps")
            if steps:
                logs["steps_per_second"] = steps / max(time.time() - self._epoch_start, 1e-9)
        for name, value in logs.items():
            if not _is_scalar(value):
                continue
            if name.startswith("val_"):
                self._writer("validation").scalar(f"epoch_{name[4:]}", value, epoch)
            else:
                self._writer("train").scalar(f"epoch_{name}", value, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _is_scalar(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False
