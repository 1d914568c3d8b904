"""ImageNet input preprocessing and prediction decoding shared by the applications.

Example:
    >>> x = preprocess_input(np.full((1, 4, 4, 3), 255.0), mode="tf")   # all 1.0
"""

import json as _json
import os as _os

import numpy as _np

from kbridge.errors import ArgumentError as _ArgumentError
from kbridge.errors import KbridgeError as _KbridgeError

_CLASS_INDEX = None
_CLASS_INDEX_FILE = "imagenet_class_index.json"
_CLASS_INDEX_URL = ("https://storage.googleapis.com/download.tensorflow.org/data/"
                    "imagenet_class_index.json")
_MEANS = {"caffe": (103.939, 116.779, 123.68), "torch": (0.485, 0.456, 0.406)}
_TORCH_STD = (0.229, 0.224, 0.225)


def preprocess_input(x, data_format=None, mode="caffe"):
    """Scale a batch of images (values in [0, 255]) as an ImageNet model expects.

    Args:
        x: a float array or backend tensor, 3D or 4D, 3 colour channels. A float numpy array
            is modified in place (as Keras); pass a copy to keep it.
        data_format: "channels_last" or "channels_first" (default: the global setting).
        mode: "caffe" (RGB to BGR, minus the ImageNet channel means), "tf" (scale to
            [-1, 1]) or "torch" (scale to [0, 1], then normalise each channel).

    Example:
        >>> preprocess_input(np.zeros((1, 2, 2, 3)), mode="tf")[0, 0, 0]
        array([-1., -1., -1.])
    """
    from kbridge import backend

    if mode not in {"caffe", "tf", "torch"}:
        raise _ArgumentError("`mode` must be one of 'caffe', 'tf' or 'torch'. Received: "
                             f"mode={mode!r}")
    if data_format is None:
        data_format = backend.image_data_format()
    elif data_format not in {"channels_first", "channels_last"}:
        raise _ArgumentError("`data_format` must be 'channels_first' or 'channels_last'. "
                             f"Received: data_format={data_format!r}")
    if isinstance(x, _np.ndarray):
        return _preprocess_numpy(x, data_format, mode)
    return _preprocess_tensor(x, data_format, mode)


def _channel_shape(ndim, data_format):
    if data_format == "channels_last":
        return (1,) * (ndim - 1) + (3,)
    return (3, 1, 1) if ndim == 3 else (1, 3) + (1,) * (ndim - 2)


def _preprocess_numpy(x, data_format, mode):
    from kbridge import backend

    if not _np.issubdtype(x.dtype, _np.floating):
        x = x.astype(backend.floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
    else:
        axis = -1 if data_format == "channels_last" else (0 if x.ndim == 3 else 1)
        x = _np.flip(x, axis=axis)
    shape = _channel_shape(x.ndim, data_format)
    # Channel by channel in the array's own dtype, as Keras does (same rounding).
    mean = _np.asarray(_MEANS[mode]).astype(x.dtype).reshape(shape)
    x -= mean
    if mode == "torch":
        x /= _np.asarray(_TORCH_STD).astype(x.dtype).reshape(shape)
    return x


def _preprocess_tensor(x, data_format, mode):
    from kbridge import ops

    if mode == "tf":
        return x / 127.5 - 1.0
    ndim = len(x.shape)
    if mode == "torch":
        x = x / 255.0
    else:
        axis = -1 if data_format == "channels_last" else (0 if ndim == 3 else 1)
        x = ops.flip(x, axis=axis)
    shape = _channel_shape(ndim, data_format)
    x = x + ops.reshape(ops.convert_to_tensor(-_np.asarray(_MEANS[mode]), dtype=x.dtype), shape)
    if mode == "torch":
        x = x / ops.reshape(ops.convert_to_tensor(_np.asarray(_TORCH_STD), dtype=x.dtype), shape)
    return x


def _class_index_path():
    """Keras's cached class index; else whatever ``kbridge.utils.get_file`` finds; else an error."""
    from kbridge.applications import _builder

    path = _os.path.join(_builder.keras_cache_dir(), _CLASS_INDEX_FILE)
    if _os.path.isfile(path):
        return path
    try:
        from kbridge.utils.file_utils import get_file
    except ImportError:
        get_file = None
    if get_file is not None:
        try:
            return get_file(_CLASS_INDEX_FILE, _CLASS_INDEX_URL, cache_subdir="models")
        except Exception:  # offline: report where to put the file, below
            pass
    raise _KbridgeError(f"decode_predictions needs {_CLASS_INDEX_FILE!r} (the ImageNet class "
                        f"index), which Keras downloads from {_CLASS_INDEX_URL}. Put it at "
                        f"{path}.")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction, best first.

    Args:
        preds: a ``(samples, 1000)`` array or tensor of class scores.
        top: how many classes to return per sample.

    Returns:
        One list per sample of ``(class_id, class_name, score)`` tuples.

    Example:
        >>> decode_predictions(model.predict(images), top=3)[0][0]
        ('n02123045', 'tabby', 0.71)
    """
    global _CLASS_INDEX
    from kbridge import ops

    if len(preds.shape) != 2 or preds.shape[1] != 1000:
        raise _ArgumentError("decode_predictions expects a batch of ImageNet predictions, "
                             "shape (samples, 1000). Received an array of shape "
                             f"{tuple(preds.shape)}")
    if _CLASS_INDEX is None:
        with open(_class_index_path()) as f:
            _CLASS_INDEX = _json.load(f)
    results = []
    for pred in _np.asarray(ops.convert_to_numpy(preds)):
        best = pred.argsort()[-top:][::-1]
        result = [tuple(_CLASS_INDEX[str(i)]) + (pred[i],) for i in best]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append(result)
    return results


__all__ = ["decode_predictions", "preprocess_input"]
