"""Reading and writing Hugging Face checkpoint directories with numpy only: the one place
every model-zoo converter (BERT, GPT-2, ViT, ResNet, ...) reads ``config.json`` and the
safetensors weights (one file or shards), assigns converted arrays to a model, and writes
a checkpoint back.

A converter is then three things of its own: ``config_from_hf`` / ``config_to_hf``, a
weight-name table, and the array layouts (transposes) of its framework of origin.

Loads stream: :func:`read_weights` gives :class:`LazyArray` handles (shape and dtype from the
file's header, no byte read), a converter's ``.T`` / ``transpose`` / ``reshape`` / slicing
only records what to do, and :func:`assign` reads, converts and hands over one weight at a
time, each freshly read array given to its (pending) Variable without a copy. A load so holds
the model's weights once, plus one weight in flight.
"""

import json
import math
import operator
import os

import numpy as np

from kbridge.hub import safetensors_io
from kbridge.hub.errors import ReleaseError

__all__ = ["LazyArray", "assign", "build", "load", "model_arrays", "pop", "read", "read_config",
           "read_weights", "strip_prefix", "write"]


def read_config(directory):
    """The ``config.json`` of a checkpoint directory, as a dict (ReleaseError otherwise)."""
    from kbridge.hub import release

    config = release.read_json(os.path.join(os.fspath(directory), release.CONFIG_FILE))
    if not isinstance(config, dict):
        raise ReleaseError(f"{directory}: config.json must hold a JSON object")
    return config


class LazyArray(safetensors_io.LazyTensor):
    """A checkpoint weight not read yet, with the layout changes a converter asked for.

    ``shape``, ``dtype``, ``ndim``, ``size`` and ``nbytes`` are known at once; ``.T``,
    ``transpose(axes)`` (so ``np.transpose(x, axes)``), ``reshape(shape)``, ``astype(dtype)``
    and basic slicing (``x[a:b]``, ``x[:, a:b]``) return another LazyArray; :meth:`read`
    (or ``np.asarray(x)``) reads the bytes and applies them, returning an array nobody else
    holds (a view of the fresh read, or a copy where a step needed one). A slice of the
    leading axis reads only its rows (Phi-3's fused projections are read in parts).
    Anything else (arithmetic, ``np.split``) needs ``np.asarray(x)`` first.

    A subclass of :class:`~kbridge.hub.safetensors_io.LazyTensor`, so
    ``release.assign_weights`` reads it when it assigns it, one weight at a time.
    """

    __slots__ = ("_source", "_steps")

    def __init__(self, source, steps=(), shape=None, dtype=None):
        super().__init__(None, 0, tuple(source.shape) if shape is None else tuple(shape),
                         np.dtype(source.dtype if dtype is None else dtype))
        self._source, self._steps = source, tuple(steps)

    def _then(self, step, shape, dtype=None):
        return LazyArray(self._source, self._steps + (step,), shape, dtype or self.dtype)

    @property
    def size(self):
        return math.prod(self.shape)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d LazyArray")
        return self.shape[0]

    @property
    def T(self):  # noqa: N802 - numpy's name
        return self.transpose()

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        ndim = len(self.shape)
        if not axes:
            axes = tuple(range(ndim))[::-1]
        else:
            axes = tuple(operator.index(a) for a in axes)
            axes = tuple(a + ndim if -ndim <= a < 0 else a for a in axes)
        if sorted(axes) != list(range(ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the "
                             f"{ndim} axes of a LazyArray of shape {self.shape}")
        return self._then(("transpose", axes), tuple(self.shape[a] for a in axes))

    def reshape(self, *shape, order="C"):
        if order != "C":
            raise ValueError("LazyArray.reshape supports order='C' only")
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        shape = [operator.index(d) for d in shape]
        known = math.prod(d for d in shape if d != -1)
        if shape.count(-1) > 1 or any(d < -1 for d in shape):
            raise ValueError(f"reshape: invalid shape {tuple(shape)}")
        if -1 in shape:
            if known == 0 or self.size % known:
                raise ValueError(f"cannot reshape a LazyArray of shape {self.shape} into "
                                 f"{tuple(shape)}")
            shape[shape.index(-1)] = self.size // known
        if math.prod(shape) != self.size:
            raise ValueError(f"cannot reshape a LazyArray of shape {self.shape} into "
                             f"{tuple(shape)}")
        return self._then(("reshape", tuple(shape)), tuple(shape))

    def astype(self, dtype, copy=True):
        dtype = np.dtype(dtype)
        return self._then(("astype", dtype), self.shape, dtype)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if not key:
            return self
        if len(key) > len(self.shape) or not all(isinstance(k, slice) for k in key):
            raise TypeError(f"a LazyArray takes basic slices only (x[a:b], x[:, a:b]). "
                            f"Received: {key!r}; read it first with np.asarray(x)")
        ranges = [range(n)[k] for n, k in zip(self.shape, key)]
        shape = tuple(len(r) for r in ranges) + self.shape[len(key):]
        source = self._source
        if (not self._steps and isinstance(source, safetensors_io.LazyTensor)
                and not isinstance(source, LazyArray) and ranges[0].step == 1
                and all(k == slice(None) for k in key[1:])):
            # Whole rows of a row-major tensor: a byte range of the file, read alone.
            row = math.prod(self.shape[1:]) * self.dtype.itemsize
            start = ranges[0].start if len(ranges[0]) else 0
            return LazyArray(safetensors_io.LazyTensor(
                source._file, source._offset + start * row, shape, source.dtype))
        return self._then(("getitem", key), shape)

    def read(self):
        array = self._source.read()
        for kind, arg in self._steps:
            if kind == "transpose":
                array = array.transpose(arg)
            elif kind == "reshape":
                array = array.reshape(arg)
            elif kind == "getitem":
                array = array[arg]
            elif kind == "astype":
                array = array.astype(arg, copy=False)
            else:  # "contiguous", set by assign(): copied where the layout needs it
                array = _whole(array)
        return array

    def streamed(self):
        """``(read_flat, source shape, transposed)`` when this weight can be read in blocks
        of its source (see ``kbridge.quantizers.abs_max_quantize_streamed``), else None.

        That is so when the steps are reshapes, casts and at most one transpose of a 2-D
        array: the flat order is then the source's, or its transpose's.
        """
        source = self._source  # (an array a converter computed is in memory already)
        if not isinstance(source, safetensors_io.LazyTensor) or isinstance(source, LazyArray):
            return None
        shape, transposed, cast = tuple(source.shape), False, None
        for kind, arg in self._steps:
            if kind == "reshape" and not transposed:
                shape = arg
            elif kind == "transpose" and not transposed and len(shape) == 2 and arg == (1, 0):
                transposed = True
            elif kind == "astype":
                cast = arg
            elif kind not in ("reshape", "contiguous"):
                return None
        read = source.read_flat
        if cast is not None:
            def read(start, stop, _read=read):
                return _read(start, stop).astype(cast, copy=False)
        return read, shape, transposed

    def __repr__(self):
        return f"LazyArray(shape={self.shape}, dtype={self.dtype})"


def _whole(array):
    """``array`` C-contiguous, and owning all the memory it keeps alive: a view of a part of
    a larger read (a slice) is copied, so a Variable does not keep the rest of it."""
    root = array
    while isinstance(root.base, np.ndarray):
        root = root.base
    if array.flags.c_contiguous and (root is array or (
            root.base is None and root.nbytes == array.nbytes)):
        return array
    return np.array(array, order="C", copy=True)


class _Held:
    """An array a converter computed (already in memory) as a LazyArray source: each read
    is a copy, since others may hold the array (tied weights, parts of one fused tensor)."""

    __slots__ = ("array", "shape", "dtype")

    def __init__(self, array):
        self.array = array
        self.shape, self.dtype = array.shape, array.dtype

    def read(self):
        return np.array(self.array, order="C", copy=True)


def read_weights(directory):
    """``{HF name: LazyArray}`` of a checkpoint's safetensors weights, from
    ``model.safetensors`` or the shards ``model.safetensors.index.json`` names: the headers
    are read and checked now, each tensor's bytes when it is used (``np.asarray(x)``) or
    assigned (:func:`assign`)."""
    from kbridge.hub import release

    directory = os.fspath(directory)
    if not (os.path.exists(os.path.join(directory, release.WEIGHTS_FILE))
            or os.path.exists(os.path.join(directory, release.INDEX_FILE))):
        present = sorted(f for f in os.listdir(directory) if f.endswith((".bin", ".h5", ".pt")))
        hint = (f" It holds {present}: convert them to safetensors first (e.g. transformers' "
                "`model.save_pretrained(dir, safe_serialization=True)`)." if present else "")
        raise ReleaseError(f"{directory}: no model.safetensors or model.safetensors.index.json."
                           + hint)
    return {name: LazyArray(tensor)
            for name, tensor in release.read_weights(directory, lazy=True).items()}


def read(directory):
    """``(config dict, {HF name: LazyArray})`` of a checkpoint directory."""
    return read_config(directory), read_weights(directory)


def build(model_class, backend, **config):
    """``model_class(**config)`` built on ``backend`` (the active backend when None)."""
    from kbridge.backend.common import context

    with context.use(context.standardize_name(backend) if backend else context.get()):
        return model_class(**config)


def assign(model, arrays, directory, quantize=None):
    """Assign ``{path: LazyArray or array}`` to ``model`` (cast to each variable's dtype),
    checked; returns ``model``.

    Names, shapes and dtypes are all checked before anything is read; then the weights are
    read, converted and assigned one at a time, in the model's order. A LazyArray's read is
    fresh memory nobody else holds: a pending Variable (a hub load) keeps it without a copy.
    Arrays already in memory are copied (others may hold them). ``quantize`` ("int8", ...)
    quantizes each layer as soon as its weight is in (see ``release.assign_weights``).
    """
    from kbridge.hub import release

    variables = release.weight_map(model)
    ready = {}
    for key, value in arrays.items():
        variable = variables.get(key)
        if variable is None:
            ready[key] = value  # assign_weights names it
            continue
        if not isinstance(value, LazyArray):
            value = LazyArray(_Held(np.asarray(value)))
        if value.dtype != np.dtype(_numpy_dtype(variable.dtype)):
            value = value.astype(_numpy_dtype(variable.dtype))
        ready[key] = value._then(("contiguous", None), value.shape)
    variables = variable = None  # a quantized layer drops its float weight: nothing may keep it
    release.assign_weights(model, ready, where=os.path.basename(os.path.normpath(directory)),
                           quantize=quantize)
    return model


def load(directory, model_class, config_from_hf, to_kbridge, backend=None, quantize=None,
         **kwargs):
    """A ``model_class`` on ``backend`` with the weights of the checkpoint in ``directory``.

    ``config_from_hf(hf_config)`` gives the model's config, ``to_kbridge(arrays, config)`` its
    weights; ``kwargs`` (``dtype``, ``name``) go to the constructor; see :func:`assign`.
    """
    config = config_from_hf(read_config(directory))
    weights = to_kbridge(read_weights(directory), config)
    model = build(model_class, backend, **config, **kwargs)
    return assign(model, weights, directory, quantize=quantize)


def _numpy_dtype(name):
    from kbridge.backend.common.dtypes import numpy_dtype

    return numpy_dtype(name)


def model_arrays(model):
    """``{path: np.ndarray}`` of a model's weights."""
    from kbridge.hub import release

    return {k: np.asarray(v.numpy()) for k, v in release.weight_map(model).items()}


def write(directory, hf_config, hf_arrays):
    """Write ``config.json`` + ``model.safetensors`` (torch metadata) into ``directory``.

    (``safetensors_io.write`` makes strided arrays contiguous itself, keeping 0-d shapes
    such as ``num_batches_tracked``, which ``np.ascontiguousarray`` would turn into ``(1,)``.)
    """
    from kbridge.hub import release, safetensors_io

    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, release.CONFIG_FILE), "w") as f:
        json.dump(hf_config, f, indent=2, sort_keys=True)
        f.write("\n")
    safetensors_io.write(os.path.join(directory, release.WEIGHTS_FILE), hf_arrays,
                         {"format": "pt"})
    return directory


def strip_prefix(arrays, prefixes):
    """Drop a task model's prefix (``vit.``, ``resnet.``) from the weight names."""
    out = {}
    for key, value in arrays.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        out[key] = value
    return out


def pop(arrays, key, what):
    try:
        return arrays.pop(key)
    except KeyError:
        raise ReleaseError(f"{what} checkpoint: weight {key!r} is missing (is this a {what} "
                           "checkpoint?)") from None
