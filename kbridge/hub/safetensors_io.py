"""Reading and writing the safetensors format with numpy only (no pickle, no framework).

The format: an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``),
then the tensor bytes. Every header field is checked against the file before any byte is
interpreted. Two ways to read:

- :func:`read` memory-maps the file and returns zero-copy numpy views;
- :func:`read_lazy` returns :class:`LazyTensor` handles on the open file: shapes and dtypes
  at once, each tensor's bytes read (``pread``) into a fresh array only when asked. A loader
  holds one tensor at a time beyond what it keeps, and the file cannot be swapped under it.
"""

import json
import math
import os
import struct

import numpy as np

from kbridge.hub import files
from kbridge.hub.errors import ReleaseError

# safetensors dtype code <-> kbridge dtype name
_CODES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16",
    "U32": "uint32", "I32": "int32", "U64": "uint64", "I64": "int64", "F16": "float16",
    "BF16": "bfloat16", "F32": "float32", "F64": "float64", "C64": "complex64",
}
_NAMES = {v: k for k, v in _CODES.items()}
_MAX_HEADER = 100 * 1024 * 1024


def _np_dtype(name):
    from kbridge.backend.common.dtypes import numpy_dtype

    return numpy_dtype(name)


def dtype_name(array):
    from kbridge.backend.common.dtypes import standardize_dtype

    return standardize_dtype(array.dtype)


def write(path, tensors, metadata=None):
    """Write ``{name: np.ndarray}`` to ``path`` (contiguous copies are made where needed)."""
    header, offset, arrays = {}, 0, []
    for name, array in tensors.items():
        # A strided view would save without error and reload wrong. (Not ascontiguousarray:
        # it turns a 0-d array into shape (1,).)
        array = np.require(array, requirements="C")
        dtype = dtype_name(array)
        if dtype not in _NAMES:
            raise ReleaseError(f"{os.path.basename(path)}: dtype {dtype} of '{name}' cannot be "
                               f"stored in safetensors (supported: {sorted(_NAMES)})")
        size = array.nbytes
        header[name] = {"dtype": _NAMES[dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
        arrays.append(array)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for array in arrays:
            f.write(array.reshape(-1).view(np.uint8).data if array.size else b"")
        f.flush()
        os.fsync(f.fileno())


def read_header(path):
    """``(header, data_start, file_size)`` of a safetensors file, fully validated."""
    with files.open_regular(path) as f:
        return _read_header(f, path)


def _read_header(f, path):
    name = os.path.basename(path)
    try:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            raise ReleaseError(f"{name}: truncated safetensors file ({size} bytes, no header)")
        (length,) = struct.unpack("<Q", head)
        if length > _MAX_HEADER or 8 + length > size:
            raise ReleaseError(f"{name}: header length {length} runs past the end of the "
                               f"file ({size} bytes): the file is truncated or corrupt")
        raw = f.read(length)
    except OSError as e:
        raise ReleaseError(f"{name}: cannot read ({e.strerror})") from None
    try:
        header = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as e:
        raise ReleaseError(f"{name}: the safetensors header is not valid JSON "
                           f"({str(e)[:200]})") from None
    if not isinstance(header, dict):
        raise ReleaseError(f"{name}: the safetensors header must be a JSON object")
    data_start = 8 + length
    data_size = size - data_start
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ReleaseError(f"{name}: __metadata__ must map strings to strings")
    ranges = []
    for key, info in header.items():
        if key == "__metadata__":
            continue
        dtype, shape, begin, end = _entry(name, key, info)
        expected = math.prod(shape) * _np_dtype(dtype).itemsize  # Python ints: no overflow
        if end > data_size:
            raise ReleaseError(f"{name}: tensor '{key}' lies past the end of the file "
                               f"(bytes {begin}..{end} of {data_size}): the file is truncated")
        if end - begin != expected:
            raise ReleaseError(f"{name}: tensor '{key}' has {end - begin} bytes but its dtype "
                               f"{dtype} and shape {shape} need {expected}")
        ranges.append((begin, end, key))
    # The format's rule: the byte ranges follow each other without gap or overlap and cover
    # the data exactly. A header length moved into the header's padding, or overlapping or
    # stray offsets, would otherwise load shifted or shared bytes as weights.
    position = 0
    for begin, end, key in sorted(ranges):
        if begin != position:
            what = "overlaps the previous tensor" if begin < position else "leaves a gap"
            raise ReleaseError(f"{name}: tensor '{key}' starts at byte {begin} and {what} "
                               f"(expected {position}): the offsets are corrupt")
        position = end
    if position != data_size:
        raise ReleaseError(f"{name}: the tensors cover {position} bytes but the file holds "
                           f"{data_size} after the header: the header length or offsets are "
                           "corrupt")
    return header, data_start, size


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"duplicate key {duplicate[:100]!r}")
    return dict(pairs)


def _is_count(value):
    return type(value) is int and value >= 0  # not bool, float or str


def _entry(name, key, info):
    """``(dtype code, shape, begin, end)`` of a header entry, each checked for its type."""
    def bad(problem):
        return ReleaseError(f"{name}: tensor '{str(key)[:100]}': {problem}")

    if not isinstance(info, dict):
        raise bad("the entry must be a JSON object")
    dtype = info.get("dtype")
    if not isinstance(dtype, str) or dtype not in _CODES:
        raise bad(f"unknown dtype {str(dtype)[:40]!r}; expected one of {sorted(_CODES)}")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not isinstance(shape, list) or len(shape) > 64 or not all(map(_is_count, shape)):
        raise bad(f"`shape` must be a list of non-negative integers; got {str(shape)[:80]}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))
            and offsets[0] <= offsets[1]):
        raise bad(f"`data_offsets` must be [begin, end] with 0 <= begin <= end; got "
                  f"{str(offsets)[:80]}")
    return _CODES[dtype], shape, offsets[0], offsets[1]


def metadata(path):
    header, _, _ = read_header(path)
    return dict(header.get("__metadata__", {}))


def read(path):
    """``{name: np.ndarray}`` views of a memory-mapped safetensors file (read-only)."""
    return read_with_metadata(path)[0]


class _OpenFile:
    """A descriptor the LazyTensors of one file share; closed when the last one goes."""

    def __init__(self, fd, name):
        self.fd, self.name = fd, name

    def __del__(self):
        try:
            os.close(self.fd)
        except OSError:
            pass


class LazyTensor:
    """A tensor of a safetensors file, read on demand: ``shape``, ``dtype``, ``nbytes`` and
    ``ndim`` like an array; :meth:`read` (or ``np.asarray``) returns a fresh, writable array
    that the caller owns."""

    __slots__ = ("_file", "_offset", "shape", "dtype")

    def __init__(self, file, offset, shape, dtype):
        self._file, self._offset, self.shape, self.dtype = file, offset, shape, dtype

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def ndim(self):
        return len(self.shape)

    def read(self):
        return self._pread(np.empty(self.shape, self.dtype), 0)

    def read_flat(self, start, stop):
        """Elements ``start:stop`` of the tensor in C order, as a fresh 1-D array: a byte
        range of the file, read alone (weights are quantized a block at a time this way)."""
        return self._pread(np.empty(stop - start, self.dtype), start * self.dtype.itemsize)

    def streamed(self):
        """``(read_flat, source shape, transposed)``: how to read this tensor in blocks (see
        ``kbridge.quantizers.abs_max_quantize_streamed``)."""
        return self.read_flat, self.shape, False

    def _pread(self, out, skip):
        view = memoryview(out.reshape(-1).view(np.uint8))
        done, total = 0, out.nbytes
        while done < total:
            try:
                got = os.preadv(self._file.fd, [view[done:]], self._offset + skip + done)
            except OSError as e:
                raise ReleaseError(f"{self._file.name}: cannot read ({e.strerror})") from None
            if got == 0:
                raise ReleaseError(f"{self._file.name}: the file was truncated while read")
            done += got
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.read()
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self):
        return f"LazyTensor(shape={self.shape}, dtype={self.dtype})"


def read_lazy(path):
    """``(tensors, metadata)`` of one safetensors file: ``{name: LazyTensor}`` on the file
    as it was opened (a file replaced later is not what they read)."""
    with files.open_regular(path) as f:
        header, data_start, _ = _read_header(f, path)
        shared = _OpenFile(os.dup(f.fileno()), os.path.basename(path))
    tensors = {}
    for key, info in header.items():
        if key != "__metadata__":
            tensors[key] = LazyTensor(shared, data_start + info["data_offsets"][0],
                                      tuple(info["shape"]), _np_dtype(_CODES[info["dtype"]]))
    return tensors, dict(header.get("__metadata__", {}))


def read_with_metadata(path):
    """``(tensors, metadata)`` of one safetensors file, both from the same open file (a
    file replaced between two opens cannot pair one file's metadata with another's data)."""
    with files.open_regular(path) as f:
        header, data_start, size = _read_header(f, path)
        mapped = None
        if size > data_start:  # the mapping outlives the descriptor
            try:
                mapped = np.memmap(f, dtype=np.uint8, mode="r", shape=(size,))
            except ValueError as e:
                raise ReleaseError(f"{os.path.basename(path)}: changed while read "
                                   f"({e})") from None
    tensors = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        dtype = _np_dtype(_CODES[info["dtype"]])
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if end == begin:
            tensors[key] = np.zeros(shape, dtype)
            continue
        buf = mapped[data_start + begin: data_start + end]
        tensors[key] = buf.view(dtype).reshape(shape)
    return tensors, dict(header.get("__metadata__", {}))
