"""Datasets from arrays and directories (Keras 3's ``keras.utils`` dataset functions).

``timeseries_dataset_from_array``, ``image_dataset_from_directory``,
``text_dataset_from_directory``, ``audio_dataset_from_directory`` and ``split_dataset``.

With TensorFlow installed they return a ``tf.data.Dataset`` built as Keras builds it (same
element structure, dtypes, file order and shuffling for a given ``seed``). Without it (or with
``format="grain"``) they return a :class:`kbridge.utils.PyDataset` of numpy batches, which
``fit`` takes on every backend. Both paths share the directory listing, the labels and the
training/validation split below; only the final "paths to batches" step differs.
"""

import importlib.util
import os
import random

import numpy as np

from kbridge.data.py_dataset import PyDataset
from kbridge.errors import ArgumentError, KbridgeError

__all__ = [
    "timeseries_dataset_from_array", "image_dataset_from_directory",
    "text_dataset_from_directory", "audio_dataset_from_directory", "split_dataset",
]

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_FORMATS = (".txt",)
AUDIO_FORMATS = (".wav",)
IMAGE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                        "gaussian", "mitchellcubic")


def _tf():
    """The tensorflow module when it is installed, else None (tests patch this)."""
    if importlib.util.find_spec("tensorflow") is None:
        return None
    import tensorflow as tf

    return tf


def _use_tf(format):
    if format not in ("tf", "grain"):
        raise ArgumentError(f"`format` must be 'tf' or 'grain'. Received: format={format!r}")
    return format == "tf" and _tf() is not None


def _draw_seed(seed):
    return np.random.randint(1e6) if seed is None else seed


# ---------------------------------------------------------------------------------------------
# Time series
# ---------------------------------------------------------------------------------------------

def _check_timeseries_args(data, sequence_length, sequence_stride, sampling_rate, start_index,
                           end_index):
    n = len(data)
    if start_index:
        if start_index < 0 or start_index >= n:
            raise ArgumentError(f"`start_index` must be in [0, {n}) (the data's length). "
                                f"Received: start_index={start_index}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ArgumentError(f"`end_index` must be higher than `start_index`. Received: "
                                f"start_index={start_index}, end_index={end_index}")
        if end_index <= 0 or end_index >= n:
            raise ArgumentError(f"`end_index` must be in (0, {n}) (the data's length). "
                                f"Received: end_index={end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value <= 0 or value >= n:
            raise ArgumentError(f"`{name}` must be in (0, {n}) (the data's length). "
                                f"Received: {name}={value}")


def _window_starts(data, targets, sequence_length, sequence_stride, sampling_rate, shuffle,
                   seed, start_index, end_index):
    """Start offsets (relative to ``start_index``) of every window, shuffled as Keras does."""
    count = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        count = min(count, len(targets))
    dtype = "int32" if count < 2147483647 else "int64"
    starts = np.arange(0, count, sequence_stride, dtype=dtype)
    if shuffle:
        np.random.RandomState(seed).shuffle(starts)
    return starts


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None, format="tf"):
    """Sliding windows over a time series, batched.

    Window ``i`` is ``data[s, s + r, ..., s + r * (sequence_length - 1)]`` with
    ``s = start_index + i * sequence_stride`` and ``r = sampling_rate``; its target (if
    ``targets`` is given) is ``targets[s]``. Only rows in ``[start_index, end_index)`` are used.

    Args:
        data: array-like, time along axis 0.
        targets: array-like aligned with ``data``, or None.
        sequence_length: window length (in samples taken).
        sequence_stride: offset between consecutive windows.
        sampling_rate: step between rows taken within a window.
        batch_size: windows per batch, or None for unbatched windows.
        shuffle, seed: shuffle the window order (reproducibly with ``seed``).
        start_index, end_index: the range of rows used.
        format: "tf" for a ``tf.data.Dataset`` (when TensorFlow is installed), "grain" for a
            backend-neutral :class:`PyDataset` of numpy batches.

    Example:
        >>> ds = kbridge.utils.timeseries_dataset_from_array(
        ...     np.arange(10), None, sequence_length=3, batch_size=4)
        >>> next(iter(ds))  # [[0 1 2] [1 2 3] [2 3 4] [3 4 5]]
    """
    _check_timeseries_args(data, sequence_length, sequence_stride, sampling_rate, start_index,
                           end_index)
    use_tf = _use_tf(format)
    start_index = start_index or 0
    end_index = len(data) if end_index is None else end_index
    if shuffle:
        seed = _draw_seed(seed)
    starts = _window_starts(data, targets, sequence_length, sequence_stride, sampling_rate,
                            shuffle, seed, start_index, end_index)
    if use_tf:
        return _timeseries_tf(data, targets, starts, sequence_length, sampling_rate,
                              batch_size, shuffle, seed, start_index, end_index)
    return _Timeseries(data, targets, starts, sequence_length, sampling_rate, batch_size,
                       start_index, end_index)


def _timeseries_tf(data, targets, starts, sequence_length, sampling_rate, batch_size, shuffle,
                   seed, start_index, end_index):
    tf = _tf()
    rows = tf.constant(np.asarray(data)[start_index:end_index])
    span = tf.cast(sequence_length * sampling_rate, starts.dtype)
    step = tf.cast(sampling_rate, starts.dtype)
    ds = tf.data.Dataset.from_tensor_slices(starts)
    windows = ds.map(lambda s: tf.gather(rows, tf.range(s, s + span, step)),
                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if targets is not None:
        target_rows = tf.constant(np.asarray(targets)[start_index:end_index])
        labels = ds.map(lambda s: tf.gather(target_rows, s))
        windows = tf.data.Dataset.zip((windows, labels))
    windows = windows.prefetch(tf.data.AUTOTUNE)
    if batch_size is None:
        return windows.shuffle(1024, seed=seed) if shuffle else windows
    if shuffle:  # Keras also shuffles locally, over 8 batches' worth of windows
        windows = windows.shuffle(buffer_size=batch_size * 8, seed=seed)
    return windows.batch(batch_size)


class _Batches(PyDataset):
    """Items of ``batch_size`` consecutive ``entries`` (an array); with ``batch_size=None``,
    one entry per item."""

    def __init__(self, entries, batch_size):
        super().__init__()
        self.entries, self.batch_size = entries, batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.entries)
        return -(-len(self.entries) // self.batch_size)

    def _entries_of(self, index):
        """Item ``index``'s entries: an array of them, or the one entry when unbatched."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a dataset of {len(self)} batches")
        if self.batch_size is None:
            return self.entries[index]
        return self.entries[index * self.batch_size:(index + 1) * self.batch_size]


class _Timeseries(_Batches):
    """Windows of ``data`` (and targets) as numpy batches, cut when a batch is asked for.
    The entries are the windows' start rows."""

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size,
                 start_index, end_index):
        super().__init__(starts, batch_size)
        self.rows = np.asarray(data)[start_index:end_index]
        self.targets = None if targets is None else np.asarray(targets)[start_index:end_index]
        self.offsets = np.arange(sequence_length) * sampling_rate

    def __getitem__(self, index):
        starts = self._entries_of(index)
        windows = self.rows[np.asarray(starts)[..., None] + self.offsets]
        if self.targets is None:
            return windows
        return windows, self.targets[starts]


def _list_class_dir(directory, class_index, follow_links, formats):
    """(relative paths, labels) of the accepted files under one class folder, in the order
    Keras lists them: folders sorted by path, files sorted by name within each."""
    dirname = os.path.basename(directory)
    names, labels = [], []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda entry: entry[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                names.append(os.path.join(dirname, os.path.relpath(os.path.join(root, fname),
                                                                   directory)))
                labels.append(class_index)
    return names, labels


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None,
                    follow_links=False, verbose=True):
    """Lists the files of ``directory`` with their labels and the class names.

    ``labels="inferred"``: one class per (non-hidden) subfolder, in sorted order or the order
    of ``class_names``. A list of labels: one per file, in sorted path order. None: no labels.
    With ``shuffle`` the paths and labels are shuffled together with ``seed``.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ArgumentError(f"`directory` must be an existing folder. Received: {directory!r}")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ArgumentError(f"`class_names` must name subfolders of {directory}. "
                                    f"Expected a subset of {subdirs}, received: {class_names}")
            subdirs = list(class_names)
    else:
        if class_names is not None:
            raise ArgumentError("`class_names` can only be given with labels='inferred'. "
                                f"Received: labels={labels!r}, class_names={class_names}")
        subdirs = [""]
    filenames, per_class = [], []
    for index, subdir in enumerate(subdirs):
        names, class_labels = _list_class_dir(os.path.join(directory, subdir), index,
                                              follow_links, formats)
        filenames += names
        per_class += class_labels
    if labels == "inferred":
        labels = np.array(per_class, dtype="int32")
        class_names = subdirs
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ArgumentError(f"`labels` must have one label per file: found {len(filenames)}"
                                f" files in {directory} but received {len(labels)} labels.")
        class_names = [str(label) for label in sorted(set(labels))]
        labels = list(labels)  # shuffled below: never the caller's list
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:  # the same permutation for paths and labels
        seed = _draw_seed(seed)
        np.random.RandomState(seed).shuffle(paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return paths, labels, class_names


def get_training_or_validation_split(samples, labels, validation_split, subset):
    """The last ``int(validation_split * n)`` samples are the validation subset, the rest the
    training subset (as Keras)."""
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    if subset == "training":
        print(f"Using {len(samples) - num_val} files for training.")
        part = slice(None, -num_val)
    elif subset == "validation":
        print(f"Using {num_val} files for validation.")
        part = slice(-num_val, None)
    else:
        raise ArgumentError(f"`subset` must be 'training' or 'validation'. Received: {subset!r}")
    return samples[part], None if labels is None else labels[part]


def _check_directory_args(kind, labels, label_mode, class_names, validation_split, subset,
                          shuffle, seed):
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ArgumentError(
                f"`labels` must be 'inferred', None, or a list/tuple of integer labels (one per "
                f"{kind} file, in sorted path order). Received: labels={labels!r}")
        if class_names:
            raise ArgumentError("`class_names` can only be given with labels='inferred'. "
                                f"Received: labels={labels}, class_names={class_names}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ArgumentError("`label_mode` must be 'int', 'categorical', 'binary' or None. "
                            f"Received: label_mode={label_mode!r}")
    if validation_split and not 0 < validation_split < 1:
        raise ArgumentError(f"`validation_split` must be between 0 and 1. Received: "
                            f"{validation_split}")
    if bool(validation_split) != bool(subset):
        raise ArgumentError("`validation_split` and `subset` must be given together. Received: "
                            f"validation_split={validation_split}, subset={subset!r}")
    if subset not in ("training", "validation", "both", None):
        raise ArgumentError("`subset` must be 'training', 'validation' or 'both'. Received: "
                            f"subset={subset!r}")
    if validation_split and shuffle and seed is None:
        raise ArgumentError("With `validation_split` and shuffle=True, pass a `seed` so the "
                            "training and validation subsets do not overlap.")


def _from_directory(kind, directory, formats, labels, label_mode, class_names, batch_size,
                    shuffle, seed, validation_split, subset, follow_links, verbose, build):
    """The common body of the ``*_dataset_from_directory`` functions.

    ``build(paths, labels, label_mode, num_classes, shuffle, buffer_size, seed)`` makes one
    batched dataset; this lists and labels the files, splits them and names the classes.
    """
    _check_directory_args(kind, labels, label_mode, class_names, validation_split, subset,
                          shuffle, seed)
    if labels is None or label_mode is None:
        labels = label_mode = None
    seed = _draw_seed(seed)
    paths, labels, class_names = index_directory(
        directory, labels, formats=formats, class_names=class_names, shuffle=shuffle,
        seed=seed, follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ArgumentError("label_mode='binary' needs exactly 2 classes. Received: "
                            f"class_names={class_names}")
    buffer_size = batch_size * 8 if batch_size is not None else 1024
    num_classes = len(class_names) if class_names else 0

    def make(part, part_shuffle, what):
        part_paths, part_labels = get_training_or_validation_split(paths, labels,
                                                                   validation_split, part)
        if not part_paths:
            raise ArgumentError(f"No {what}{kind} files found in {directory}. Accepted formats: "
                                f"{formats}")
        ds = build(part_paths, part_labels, label_mode, num_classes, part_shuffle, buffer_size,
                   seed)
        ds.class_names = class_names
        ds.file_paths = part_paths
        return ds

    if subset == "both":
        return [make("training", shuffle, "training "), make("validation", False, "validation ")]
    return make(subset, shuffle, "")


def _tf_labels(tf, labels, label_mode, num_classes):
    ds = tf.data.Dataset.from_tensor_slices(labels)
    if label_mode == "binary":
        return ds.map(lambda y: tf.expand_dims(tf.cast(y, "float32"), -1))
    if label_mode == "categorical":
        return ds.map(lambda y: tf.one_hot(y, num_classes))
    return ds


def _np_labels(labels, label_mode, num_classes):
    labels = np.asarray(labels, dtype="int32")
    if label_mode == "binary":
        return labels.astype("float32")[:, None]
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels]
    return labels


def _tf_files(paths, labels, label_mode, num_classes, shuffle, buffer_size, seed, load):
    """Unbatched ``tf.data`` pipeline: (path, label) pairs, shuffled, then ``load(path)``."""
    tf = _tf()
    ds = tf.data.Dataset.from_tensor_slices(paths)
    if label_mode:
        ds = tf.data.Dataset.zip((ds, _tf_labels(tf, labels, label_mode, num_classes)))
    if shuffle:
        ds = ds.shuffle(buffer_size=buffer_size, seed=seed)
    if label_mode:
        return ds.map(lambda x, y: (load(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)


class _FileDataset(_Batches):
    """Files loaded into numpy batches by ``load`` and stacked by ``collate``. The entries are
    the file order.

    With ``shuffle`` the file order is reshuffled (from ``seed``) at the start of every epoch,
    as a shuffled ``tf.data`` pipeline is; the order differs from TensorFlow's.
    """

    def __init__(self, paths, labels, batch_size, shuffle, seed, load, collate):
        self.paths, self.labels = list(paths), labels
        super().__init__(np.arange(len(self.paths)), batch_size)
        self.shuffle = shuffle
        self.load, self.collate = load, collate
        self._rng = np.random.RandomState(seed)
        self.on_epoch_begin()

    def on_epoch_begin(self):
        if self.shuffle:
            self.entries = self._rng.permutation(len(self.paths))

    def __getitem__(self, index):
        picked = np.atleast_1d(self._entries_of(index))  # unbatched: a batch of one, unpacked
        items = self.collate([self.load(self.paths[i]) for i in picked])
        if self.batch_size is None:
            items = items[0]
        if self.labels is None:
            return items
        labels = self.labels[picked]
        return items, (labels[0] if self.batch_size is None else labels)


def _file_dataset(use_tf, batch_size, tf_load, np_load, collate, tf_batch=None):
    """A ``build`` function for :func:`_from_directory` on either path."""

    def build(paths, labels, label_mode, num_classes, shuffle, buffer_size, seed):
        if use_tf:
            tf = _tf()
            ds = _tf_files(paths, labels, label_mode, num_classes, shuffle, buffer_size, seed,
                           tf_load)
            if batch_size is not None:
                ds = tf_batch(ds, batch_size) if tf_batch else ds.batch(batch_size)
            return ds.prefetch(tf.data.AUTOTUNE)
        encoded = None if label_mode is None else _np_labels(labels, label_mode, num_classes)
        return _FileDataset(paths, encoded, batch_size, shuffle, seed, np_load, collate)

    return build


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------

def _tf_load_image(size, channels, interpolation, data_format, crop, pad):
    tf = _tf()

    def load(path):
        img = tf.image.decode_image(tf.io.read_file(path), channels=channels,
                                    expand_animations=False)
        if crop:  # the largest centred crop with the target aspect ratio (as smart_resize)
            shape = tf.shape(img)
            height, width = shape[0], shape[1]
            crop_h = tf.cast(tf.cast(width * size[0], "float32") / size[1], "int32")
            crop_h = tf.maximum(tf.minimum(height, crop_h), 1)
            crop_w = tf.cast(tf.cast(height * size[1], "float32") / size[0], "int32")
            crop_w = tf.maximum(tf.minimum(width, crop_w), 1)
            top = tf.cast(tf.cast(height - crop_h, "float32") / 2, "int32")
            left = tf.cast(tf.cast(width - crop_w, "float32") / 2, "int32")
            img = img[top:top + crop_h, left:left + crop_w, :]
            img = tf.image.resize(img, size, method=interpolation)
        elif pad:
            img = tf.image.resize_with_pad(img, size[0], size[1], method=interpolation)
        else:
            img = tf.image.resize(img, size, method=interpolation)
        if data_format == "channels_first":
            img = tf.transpose(img, (2, 0, 1))
            img.set_shape((channels, size[0], size[1]))
        else:
            img.set_shape((size[0], size[1], channels))
        return img

    return load


def _np_load_image(size, channels, interpolation, data_format, crop, pad):
    from kbridge import backend, ops
    from kbridge.utils import image_utils

    mode = {1: "grayscale", 3: "rgb", 4: "rgba"}[channels]

    def load(path):
        img = np.asarray(image_utils._convert_mode(image_utils._open_image(path), mode),
                         dtype="float32")
        if img.ndim == 2:
            img = img[:, :, None]
        if data_format == "channels_first":
            img = img.transpose(2, 0, 1)
        with backend.use("numpy"):
            img = ops.image.resize(img, size=size, interpolation=interpolation,
                                   crop_to_aspect_ratio=crop, pad_to_aspect_ratio=pad,
                                   data_format=data_format)
        return np.asarray(img, dtype="float32")

    return load


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, format="tf",
                                 verbose=True):
    """Batches of images (and labels) from image files in a directory.

    With ``labels="inferred"`` each subfolder is a class (sorted names, or ``class_names``'
    order). Images (bmp, gif, jpeg, png) are decoded, resized to ``image_size`` (optionally
    cropped or padded to its aspect ratio first) and returned as float32 with 1, 3 or 4
    channels for ``color_mode`` "grayscale", "rgb", "rgba". Labels are int32 (``"int"``),
    float32 one-hot (``"categorical"``) or float32 ``(batch, 1)`` (``"binary"``). The result
    has ``class_names`` and ``file_paths`` attributes; ``subset="both"`` returns
    ``[training, validation]``.

    Returns a ``tf.data.Dataset`` (``format="tf"`` with TensorFlow installed) or a
    :class:`PyDataset` of numpy batches.

    Example:
        >>> train, val = kbridge.utils.image_dataset_from_directory(
        ...     "photos/", image_size=(64, 64), validation_split=0.2, subset="both", seed=1)
        >>> train.class_names  # ['cats', 'dogs']
    """
    from kbridge import backend

    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}.get(color_mode)
    if channels is None:
        raise ArgumentError("`color_mode` must be 'grayscale', 'rgb' or 'rgba'. Received: "
                            f"color_mode={color_mode!r}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ArgumentError("`image_size` must be (height, width). Received: "
                            f"image_size={image_size!r}")
    image_size = tuple(int(s) for s in image_size)
    interpolation = interpolation.lower()
    if interpolation not in IMAGE_INTERPOLATIONS:
        raise ArgumentError(f"`interpolation` must be one of {IMAGE_INTERPOLATIONS}. Received: "
                            f"interpolation={interpolation!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ArgumentError("Only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can "
                            "be True.")
    use_tf = _use_tf(format)
    data_format = backend.standardize_data_format(data_format)
    args = (image_size, channels, interpolation, data_format, crop_to_aspect_ratio,
            pad_to_aspect_ratio)
    build = _file_dataset(use_tf, batch_size, _tf_load_image(*args) if use_tf else None,
                          _np_load_image(*args), np.stack)
    return _from_directory("image", directory, IMAGE_FORMATS, labels, label_mode, class_names,
                           batch_size, shuffle, seed, validation_split, subset, follow_links,
                           verbose, build)


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------

def _np_load_text(max_length):
    def load(path):
        with open(path, "rb") as f:
            data = f.read()
        return data.decode("utf-8") if max_length is None else data[:max_length].decode(
            "utf-8", errors="ignore")

    return load


def _stack_text(texts):
    return np.array(texts, dtype=object)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None, shuffle=True,
                                seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf", verbose=True):
    """Batches of texts (and labels) from ``.txt`` files in a directory.

    Labels, shuffling and splits work as in :func:`image_dataset_from_directory`. Each text is
    the file's content, cut to its first ``max_length`` bytes when given. The ``tf.data``
    path yields ``tf.string`` batches; the :class:`PyDataset` path yields numpy object arrays
    of ``str``.

    Example:
        >>> ds = kbridge.utils.text_dataset_from_directory("reviews/", batch_size=8)
        >>> texts, labels = next(iter(ds))
    """
    use_tf = _use_tf(format)

    def tf_load(path):
        tf = _tf()
        text = tf.io.read_file(path)
        return text if max_length is None else tf.strings.substr(text, 0, max_length)

    build = _file_dataset(use_tf, batch_size, tf_load, _np_load_text(max_length), _stack_text)
    return _from_directory("text", directory, TEXT_FORMATS, labels, label_mode, class_names,
                           batch_size, shuffle, seed, validation_split, subset, follow_links,
                           verbose, build)


# ---------------------------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------------------------

def _read_wav(path, output_sequence_length):
    """A WAV file as float32 ``(samples, channels)`` in [-1, 1), as ``tf.audio.decode_wav``
    decodes 16-bit PCM; cut or zero-padded to ``output_sequence_length`` samples."""
    import wave

    with wave.open(os.fspath(path), "rb") as f:
        width, channels = f.getsampwidth(), f.getnchannels()
        frames = f.readframes(f.getnframes())
    if width != 2:
        raise KbridgeError(f"{path}: only 16-bit PCM WAV files can be read (as TensorFlow's "
                           f"decode_wav). Received {8 * width}-bit samples.")
    audio = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype("float32") / 32768.0
    if output_sequence_length is not None:
        out = np.zeros((output_sequence_length, channels), dtype="float32")
        out[:min(len(audio), output_sequence_length)] = audio[:output_sequence_length]
        audio = out
    return audio


def _pad_audio(clips):
    """Zero-pads clips to the longest in the batch (``tf.data``'s ``padded_batch``)."""
    longest = max(len(c) for c in clips)
    out = np.zeros((len(clips), longest) + clips[0].shape[1:], dtype="float32")
    for i, clip in enumerate(clips):
        out[i, :len(clip)] = clip
    return out


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, batch_size=32, sampling_rate=None,
                                 output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None,
                                 follow_links=False, verbose=True):
    """Batches of audio clips (and labels) from ``.wav`` files in a directory.

    Clips are float32 ``(batch, samples, channels)``; without ``output_sequence_length`` each
    batch is zero-padded to its longest clip (or, with ``ragged=True`` and TensorFlow, a
    ``tf.RaggedTensor``). Labels, shuffling and splits work as in
    :func:`image_dataset_from_directory`; ``subset="both"`` returns a tuple.

    ``sampling_rate`` (resampling) needs ``tensorflow-io``, as in Keras.

    Example:
        >>> ds = kbridge.utils.audio_dataset_from_directory(
        ...     "speech/", output_sequence_length=16000, batch_size=16)
    """
    if ragged and output_sequence_length is not None:
        raise ArgumentError("`ragged` and `output_sequence_length` cannot both be set.")
    if sampling_rate is not None:
        if not isinstance(sampling_rate, int) or sampling_rate <= 0:
            raise ArgumentError("`sampling_rate` must be a positive integer. Received: "
                                f"sampling_rate={sampling_rate!r}")
        if importlib.util.find_spec("tensorflow_io") is None:
            raise KbridgeError("Resampling audio (`sampling_rate`) needs tensorflow-io: pip "
                               "install tensorflow-io. Or leave sampling_rate=None.")
    use_tf = _tf() is not None
    if ragged and not use_tf:
        raise KbridgeError("ragged=True needs TensorFlow (a tf.RaggedTensor per batch). "
                           "Install tensorflow, or pass output_sequence_length or ragged=False.")

    def tf_load(path):
        tf = _tf()
        audio, rate = tf.audio.decode_wav(
            tf.io.read_file(path),
            desired_samples=-1 if output_sequence_length is None else output_sequence_length)
        if sampling_rate is not None:
            import tensorflow_io as tfio

            audio = tfio.audio.resample(audio, rate_in=tf.cast(rate, tf.int64),
                                        rate_out=sampling_rate)
        return tf.RaggedTensor.from_tensor(audio) if ragged else audio

    def tf_batch(ds, size):
        if output_sequence_length is None and not ragged:
            return ds.padded_batch(size)
        return ds.batch(size)

    build = _file_dataset(use_tf, batch_size, tf_load,
                          lambda p: _read_wav(p, output_sequence_length), _pad_audio, tf_batch)
    result = _from_directory("audio", directory, AUDIO_FORMATS, labels, label_mode,
                             class_names, batch_size, shuffle, seed, validation_split, subset,
                             follow_links, verbose, build)
    return tuple(result) if isinstance(result, list) else result


# ---------------------------------------------------------------------------------------------
# split_dataset
# ---------------------------------------------------------------------------------------------

def _is_tf_dataset(dataset):
    return any(c.__name__ in ("DatasetV2", "Dataset") and "tensorflow" in c.__module__
               for c in type(dataset).__mro__)


def _is_torch_dataset(dataset):
    return any(c.__name__ == "Dataset" and c.__module__.startswith("torch.utils.data")
               for c in type(dataset).__mro__)


def _flatten(structure):
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    return [structure]


def _pack_as(structure, leaves):
    """Rebuilds ``structure`` from ``leaves`` (lists become tuples, as tf.data needs)."""
    leaves = iter(leaves)

    def pack(node):
        if isinstance(node, dict):
            return {key: pack(node[key]) for key in sorted(node)}
        if isinstance(node, (list, tuple)):
            return tuple(pack(item) for item in node)
        return next(leaves)

    return pack(structure)


def _split_sizes(left_size, right_size, total):
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and type(size) not in (int, float):
            raise ArgumentError(f"`{name}` must be an int, a float or None. Received: "
                                f"{name}={size!r} ({type(size).__name__})")
    if left_size is None and right_size is None:
        raise ArgumentError("Give `left_size` or `right_size` (or both). Received: None, None")
    if left_size == 0 and right_size == 0:
        raise ArgumentError("`left_size` and `right_size` are both 0.")
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if (type(size) is int and not 0 < size < total) or (
                type(size) is float and not 0 < size < 1):
            raise ArgumentError(f"`{name}` must be an int in (0, {total}) or a float in (0, 1). "
                                f"Received: {name}={size}")
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ArgumentError(f"left_size + right_size must not exceed 1. Received: "
                            f"{left_size} + {right_size}")
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ArgumentError(f"left_size + right_size must not exceed the dataset's length "
                            f"{total}. Received: {left} + {right}")
    if left == 0 or right == 0:
        raise ArgumentError(f"With a dataset of {total} samples, left_size={left_size} and "
                            f"right_size={right_size} leave one side empty.")
    return int(left), int(right)


def _samples(dataset):
    """The dataset as a list of samples (each a row, or a tuple/dict of rows)."""
    if isinstance(dataset, (list, tuple)):
        if not dataset:
            raise ArgumentError("`dataset` is an empty list/tuple; pass arrays of one length.")
        for i, array in enumerate(dataset):
            if not isinstance(array, np.ndarray):
                raise ArgumentError(f"`dataset` must hold numpy arrays. Element {i} is a "
                                    f"{type(array).__name__}")
            if len(array) != len(dataset[0]):
                raise ArgumentError(f"The arrays in `dataset` must have one length: element {i}"
                                    f" has {len(array)} rows, element 0 has {len(dataset[0])}")
        samples = list(zip(*dataset))
    elif isinstance(dataset, np.ndarray):
        samples = list(dataset)
    elif _is_tf_dataset(dataset):
        if hasattr(dataset, "_batch_size"):
            dataset = dataset.unbatch()
        samples = list(dataset)
    elif _is_torch_dataset(dataset):
        samples = list(dataset)
    else:
        raise ArgumentError("`dataset` must be a tf.data.Dataset, a torch Dataset, a numpy "
                            f"array or a list/tuple of arrays. Received: {type(dataset).__name__}")
    if not samples:
        raise ArgumentError("`dataset` is empty.")
    return samples


def _stack_samples(samples, like_arrays):
    if not like_arrays:  # one numpy array: rows back into an array
        return np.array([np.asarray(s) for s in samples])
    columns = zip(*[_flatten(s) for s in samples])
    return _pack_as(samples[0], [np.array([np.asarray(v) for v in col]) for col in columns])


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None,
                  preferred_backend=None):
    """Splits a dataset into a left and a right part (e.g. train / test).

    ``left_size`` / ``right_size``: a number of samples (int) or a fraction (float in
    (0, 1)); a missing one is the complement. ``dataset`` is a ``tf.data.Dataset``, a torch
    ``Dataset``, a numpy array or a list/tuple of arrays of one length.

    With ``preferred_backend="torch"`` (the default for torch datasets, and for arrays while
    the torch backend is active) the parts are ``torch.utils.data.Subset``s; otherwise
    ``tf.data.Dataset``s (batched as the input was). Without TensorFlow, the parts are numpy
    arrays (or tuples/dicts of them), ready for ``fit``.

    Example:
        >>> left, right = kbridge.utils.split_dataset(np.arange(10), left_size=0.8)
        >>> int(left.cardinality())  # 8
    """
    if preferred_backend is None:
        if isinstance(dataset, (list, tuple, np.ndarray)):
            from kbridge import backend

            preferred_backend = backend.get()
        elif _is_tf_dataset(dataset):
            preferred_backend = "tensorflow"
        elif _is_torch_dataset(dataset):
            preferred_backend = "torch"
        else:
            raise ArgumentError("`dataset` must be a tf.data.Dataset, a torch Dataset, a numpy "
                                "array or a list/tuple of arrays. Received: "
                                f"{type(dataset).__name__}")
    if preferred_backend == "torch":
        return _split_torch(dataset, left_size, right_size, shuffle, seed)
    samples = _samples(dataset)
    if shuffle:
        # Python's Mersenne Twister seeded as Keras seeds it, without touching the global one.
        random.Random(random.randint(0, int(1e6)) if seed is None else seed).shuffle(samples)
    left, right = _split_sizes(left_size, right_size, len(samples))
    like_arrays = not isinstance(dataset, np.ndarray)
    parts = (_stack_samples(samples[:left], like_arrays),
             _stack_samples(samples[-right:], like_arrays))
    tf = _tf()
    if tf is None:
        return parts
    parts = [tf.data.Dataset.from_tensor_slices(p) for p in parts]
    batch_size = getattr(dataset, "_batch_size", None) if _is_tf_dataset(dataset) else None
    if batch_size is not None:
        parts = [p.batch(batch_size) for p in parts]
    return tuple(p.prefetch(tf.data.AUTOTUNE) for p in parts)


def _split_torch(dataset, left_size, right_size, shuffle, seed):
    import torch
    from torch.utils.data import Subset, TensorDataset

    if isinstance(dataset, np.ndarray):
        dataset = TensorDataset(torch.from_numpy(dataset))
    elif isinstance(dataset, (list, tuple)):
        dataset = TensorDataset(*[torch.from_numpy(np.asarray(x)) for x in dataset])
    elif _is_tf_dataset(dataset):
        columns = zip(*_samples(dataset))
        dataset = TensorDataset(*[torch.from_numpy(np.array(col)) for col in columns])
    elif not _is_torch_dataset(dataset):
        raise ArgumentError("`dataset` must be a torch Dataset, a tf.data.Dataset, a numpy "
                            f"array or a list/tuple of arrays. Received: {type(dataset).__name__}")
    total = len(dataset)
    left, right = _split_sizes(left_size, right_size, total)
    if shuffle:  # the permutation torch's random_split draws for the same seed
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        order = torch.randperm(total, generator=generator).tolist()
    else:
        order = list(range(total))
    return Subset(dataset, order[:left]), Subset(dataset, order[total - right:])
