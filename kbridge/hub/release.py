"""The kbridge release: ``config.json`` + safetensors weights + ``README.md`` model card.

A release is backend-neutral: weights are keyed by variable path and stored as plain
safetensors, the architecture as a registry-only config. Saving is atomic (temporary
directory, then rename); loading validates everything before a model is returned.
"""

import errno
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time

import numpy as np

from kbridge.backend.common.variables import AllocationBudget
from kbridge.distribution.distribution_lib import rank_zero_writes
from kbridge.hub import limits as _limits
from kbridge.hub import files, safetensors_io
from kbridge.hub.errors import ReleaseError, bounded

FORMAT = "kbridge"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
CARD_FILE = "README.md"
DEFAULT_MAX_SHARD = 5 * 1024**3

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(size):
    """Bytes from an int or a string like "500MB" / "2GB" / "1.5GiB"."""
    if isinstance(size, int) and size > 0:
        return size
    match = _SIZE.match(str(size)) if isinstance(size, str) else None
    if not match:
        raise ReleaseError(f"`max_shard_size` must be a positive int (bytes) or a string like "
                           f"'500MB' or '2GB'. Received: {size!r}")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "B").upper()])


# --- weights of a model ---------------------------------------------------------------
def weight_map(model):
    """``{path: Variable}`` in ``model.weights`` order; a variable shared by two layers once."""
    from kbridge.backend.common.variables import unique_paths

    return unique_paths(model.weights)


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


# --- saving ---------------------------------------------------------------------------
def release_config(model):
    from kbridge.saving import registry
    from kbridge.version import __version__

    serialized = registry.serialize(model)
    inputs = getattr(model, "inputs", None)
    specs = None
    if inputs:
        specs = [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in inputs]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": serialized["class_name"],
        "registered_name": serialized.get("registered_name"),
        "config": serialized["config"],
        "build_config": model.get_build_config(),
        "kbridge_version": __version__,
        "dtype_policy": model.dtype_policy.name,
        "input_specs": specs,
    }


def _card(model_name, config, arrays, card=None):
    dtypes = sorted({safetensors_io.dtype_name(a) for a in arrays.values()})
    n_params = int(sum(a.size for a in arrays.values()))
    card = dict(card or {})
    front = {
        "library_name": "kbridge",
        "tags": ["kbridge", config["class"]] + list(card.pop("tags", [])),
        "license": card.pop("license", "apache-2.0"),
        "backends_tested": card.pop("backends_tested", ["numpy", "jax", "torch", "tensorflow"]),
    }
    metrics = card.pop("metrics", None)
    description = card.pop("description", "")
    extra = card
    lines = ["---"]
    for key, value in {**front, **extra}.items():
        if isinstance(value, (list, tuple)):
            lines.append(f"{key}:")
            lines.extend(f"- {v}" for v in value)
        else:
            lines.append(f"{key}: {value}")
    if metrics:
        lines.append("model-index:")
        lines.append(f"- name: {model_name}")
        lines.append("  results:")
        lines.append("  - metrics:")
        for k, v in metrics.items():
            lines.append(f"    - type: {k}")
            lines.append(f"      value: {v}")
    lines.append("---")
    lines.append("")
    lines.append(f"# {model_name}")
    lines.append("")
    if description:
        lines.extend([description, ""])
    lines.append(f"A kbridge release: `{config['class']}`, {n_params:,} parameters "
                 f"({', '.join(dtypes)}). It loads identically on numpy, JAX, PyTorch and "
                 "TensorFlow:")
    lines.append("")
    lines.append("```python")
    lines.append("import kbridge")
    lines.append('model = kbridge.hub.load("<this release>", backend="torch")')
    lines.append("```")
    if metrics:
        lines.append("")
        lines.append("| metric | value |")
        lines.append("|---|---|")
        lines.extend(f"| {k} | {v} |" for k, v in metrics.items())
    return "\n".join(lines) + "\n"


def _weights_digest(arrays):
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.require(arrays[key], requirements="C")
        digest.update(json.dumps([key, str(array.dtype), list(array.shape)]).encode())
        digest.update(array.reshape(-1).view(np.uint8) if array.size else b"")
    return digest.hexdigest()


def _write_release(directory, model, max_shard_size, card):
    config = release_config(model)
    config_bytes = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    with open(os.path.join(directory, CONFIG_FILE), "wb") as f:
        f.write(config_bytes)
    arrays = {}
    for key, v in weight_map(model).items():
        arrays[key] = np.asarray(v.numpy())  # write() makes it contiguous, keeping 0-d shapes
    # Every weight file of one save carries the same digest of all the weights: a reader
    # that meets two digests has read files of two saves (a save replaced the release
    # while it read) and reads again, instead of mixing them.
    meta = {"format": FORMAT, "config_sha256": _sha256(config_bytes),
            "weights_sha256": _weights_digest(arrays)}
    limit = parse_size(max_shard_size)
    shards, current, current_size = [], {}, 0
    for key, array in arrays.items():
        if current and current_size + array.nbytes > limit:
            shards.append(current)
            current, current_size = {}, 0
        current[key] = array
        current_size += array.nbytes
    shards.append(current)
    if len(shards) == 1:
        safetensors_io.write(os.path.join(directory, WEIGHTS_FILE), shards[0], meta)
    else:
        weight_files = {}
        for i, shard in enumerate(shards, 1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            safetensors_io.write(os.path.join(directory, name), shard, meta)
            weight_files.update({key: name for key in shard})
        index = {"metadata": {"total_size": int(sum(a.nbytes for a in arrays.values())),
                              "format": FORMAT, "config_sha256": meta["config_sha256"],
                              "weights_sha256": meta["weights_sha256"]},
                 "weight_map": weight_files}
        with open(os.path.join(directory, INDEX_FILE), "w") as f:
            json.dump(index, f, indent=2, sort_keys=True)
    with open(os.path.join(directory, CARD_FILE), "w") as f:
        f.write(_card(model.name, config, arrays, card))


@rank_zero_writes  # in a multi-process job: rank 0 writes, all wait at a barrier
def save(model, path, max_shard_size=DEFAULT_MAX_SHARD, card=None, overwrite=True,
         adapter_only=False):
    """Save ``model`` as a release directory at ``path``, atomically.

    With ``adapter_only=True`` only the LoRA factors are written, as a PEFT adapter
    (``adapter_config.json`` + ``adapter_model.safetensors``; see ``kbridge.hub.peft``).

    Args:
        model: a built kbridge model (any backend).
        path: the release directory to create or replace.
        max_shard_size: shard the weights above this size (int bytes or "500MB"/"2GB").
        card: extra model-card fields: ``description``, ``license``, ``tags``, ``metrics``.
        overwrite: replace an existing release at ``path``.

    Example:
        >>> kbridge.hub.save(model, "releases/digits-cnn")
    """
    if adapter_only:
        from kbridge.hub import peft

        return peft.save_adapter(model, path, overwrite=overwrite)
    if not getattr(model, "built", False):
        raise ReleaseError(f"Model '{model.name}' is not built: call it on data or build() it "
                           "before saving.")
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise ReleaseError(f"Cannot save a release at {path}: cannot create {parent} "
                           f"({e.strerror})") from None
    recover(path)
    if os.path.exists(path) and not overwrite:
        raise ReleaseError(f"{path} exists; pass overwrite=True to replace it.")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ReleaseError(f"{path} exists and is not a directory.")
    base = os.path.basename(path)
    tmp = None
    try:
        tmp = tempfile.mkdtemp(prefix=f".{base}.tmp-{os.getpid()}-", dir=parent)
        _write_release(tmp, model, max_shard_size, card)
        _fsync_directory(tmp)
        if not os.path.exists(path):
            os.rename(tmp, path)
        elif _exchange(tmp, path):  # one atomic step: no moment without a release at path
            shutil.rmtree(tmp, ignore_errors=True)
        else:  # two renames; recover() restores the old release if a crash falls between
            old = tempfile.mkdtemp(prefix=f".{base}.old-{os.getpid()}-", dir=parent)
            os.rename(path, os.path.join(old, "release"))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        tmp = None
        _fsync_directory(parent)
    except OSError as e:
        where = getattr(e, "filename", None) or path
        raise ReleaseError(f"Cannot save the release at {path}: {e.strerror or e} "
                           f"({where}); the previous release, if any, is unchanged") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _exchange(a, b):
    """Swap directories ``a`` and ``b`` atomically (Linux ``renameat2(RENAME_EXCHANGE)``);
    False where the system or filesystem cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if done == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), b)


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def recover(path):
    """Tidy what killed saves of ``path`` left behind: put back a previous release that a
    crash between the two renames of a save left aside (only where no release is at
    ``path``), and remove the temporary directories of saves whose process is gone."""
    parent, base = os.path.split(os.path.abspath(path))
    try:
        names = os.listdir(parent)
    except OSError:
        return
    pattern = re.compile(r"^\." + re.escape(base) + r"\.(tmp|old)-(\d+)-")
    for name in sorted(names):
        match = pattern.match(name)
        if match is None:
            continue
        kind, pid = match.group(1), int(match.group(2))
        if pid == os.getpid() or _alive(pid):
            continue  # a save in progress
        leftover = os.path.join(parent, name)
        kept = os.path.join(leftover, "release")
        if kind == "old" and not os.path.exists(path) and os.path.isdir(kept):
            try:
                os.rename(kept, path)
            except OSError:
                continue
        shutil.rmtree(leftover, ignore_errors=True)


# --- loading --------------------------------------------------------------------------
def read_json(path):
    """The JSON document in the regular file ``path``, as a ReleaseError when it is not."""
    return parse_json(files.read_regular(path), os.path.basename(path))


# Deeper than any model config nests; a deeper document is an attack on the parser.
_MAX_JSON_DEPTH = 200


def parse_json(data, name):
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise ReleaseError(f"{name}: not valid JSON ({str(e)[:200]})") from None
    except RecursionError:
        raise ReleaseError(f"{name}: nested too deeply to be a config") from None
    _check_depth(value, name)
    return value


def _check_depth(value, name):
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_JSON_DEPTH:
            raise ReleaseError(f"{name}: nested more than {_MAX_JSON_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


class _MixedFiles(ReleaseError):
    """The files read belong to different saves (or one was modified)."""


def weight_files(directory):
    """The safetensors files of a release (one file, or the shards an index names)."""
    index_path = os.path.join(directory, INDEX_FILE)
    if os.path.exists(index_path):
        index = read_json(index_path)
        wmap = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(wmap, dict):
            raise ReleaseError(f"{INDEX_FILE}: no 'weight_map' object")
        bad = [v for v in wmap.values() if not isinstance(v, str)]
        if bad:
            raise ReleaseError(f"{INDEX_FILE}: 'weight_map' must map weight names to shard "
                               f"file names. Received: {str(bad[0])[:80]!r}")
        files = sorted(set(wmap.values()))
        for name in files:
            if os.path.basename(name) != name or name.startswith("."):
                raise ReleaseError(f"{INDEX_FILE}: shard name {name!r} is not a plain file name")
            if not os.path.exists(os.path.join(directory, name)):  # or a save swapped it
                raise _MixedFiles(f"{INDEX_FILE} names shard {name}, which is missing")
        return [os.path.join(directory, n) for n in files], wmap
    single = os.path.join(directory, WEIGHTS_FILE)
    if not os.path.exists(single):
        raise ReleaseError(f"No {WEIGHTS_FILE} or {INDEX_FILE} in {directory}")
    return [single], None


def read_weights(directory, expected_sha=None, lazy=False):
    """``{key: np.ndarray}`` (memory-mapped) of a release, with integrity checks; with
    ``lazy``, ``{key: safetensors_io.LazyTensor}`` read by :func:`assign_weights`."""
    files, wmap = weight_files(directory)
    arrays = {}
    digests = {}
    if wmap is not None:
        index_meta = read_json(os.path.join(directory, INDEX_FILE)).get("metadata")
        if isinstance(index_meta, dict) and isinstance(index_meta.get("weights_sha256"), str):
            digests[INDEX_FILE] = index_meta["weights_sha256"]
    for path in files:
        tensors, meta = (safetensors_io.read_lazy if lazy else
                         safetensors_io.read_with_metadata)(path)
        if expected_sha is not None and meta.get("config_sha256") not in (None, expected_sha):
            raise _MixedFiles(f"{os.path.basename(path)}: checksum mismatch: its "
                              f"config_sha256 does not match {CONFIG_FILE} (the files come "
                              "from different releases, or one was modified)")
        if "weights_sha256" in meta:
            digests[os.path.basename(path)] = meta["weights_sha256"]
        if len(set(digests.values())) > 1:
            raise _MixedFiles(f"{', '.join(sorted(digests))}: the weight files come from "
                              "different saves of the release (weights_sha256 differs)")
        for key, array in tensors.items():
            # (Each of these is also what a reader sees when a save swaps the release
            # between its reads of the index and a shard: read again before failing.)
            if key in arrays:
                raise _MixedFiles(f"{os.path.basename(path)}: weight '{key}' appears twice")
            if wmap is not None and wmap.get(key) != os.path.basename(path):
                raise _MixedFiles(f"{os.path.basename(path)}: weight '{key}' is not where "
                                  f"{INDEX_FILE} says it is")
            arrays[key] = array
    if wmap is not None:
        missing = sorted(set(wmap) - set(arrays))
        if missing:
            raise _MixedFiles(f"{INDEX_FILE} lists weights no shard holds: {missing[:5]}")
    return arrays


def checkpoint_budget(directory, where, limits=None):
    """The AllocationBudget of a model built for the weight files in ``directory`` (read
    from their headers only, checked against ``limits``), raising ReleaseError naming
    ``where``."""
    paths, _ = weight_files(directory)
    sizes = []
    for path in paths:
        header, _, _ = safetensors_io.read_header(path)
        sizes.extend((key, info["data_offsets"][1] - info["data_offsets"][0])
                     for key, info in header.items() if key != "__metadata__")
    _limits.standardize(limits).check_tensors(where, sizes)
    total, count = sum(n for _, n in sizes), len(sizes)
    return AllocationBudget(
        # float16 checkpoints are upcast to float32: twice their bytes.
        2 * total + AllocationBudget.SLACK_BYTES, 2 * count + AllocationBudget.SLACK_COUNT,
        lambda message: ReleaseError(f"{where}: {message}: the config does not match the "
                                     "checkpoint's weights"), defer_initializers=True)


def assign_weights(model, arrays, where, match_renamed=False, quantize=None):
    """Check names, shapes and dtypes of every array against ``model``, then assign them all.

    With ``quantize`` ("int8", "int4", "float8"), each float layer is quantized as soon as
    its weight is in (see ``Layer.quantize``): one float weight is held at a time.

    With ``match_renamed``, weights saved from a copy of the architecture whose layers got
    other automatic names (``dense_3`` vs ``dense``) are matched by position instead, as long
    as count, order and shapes agree (Keras matches ``load_weights`` by structure too).
    """
    from kbridge.backend.common.dtypes import standardize_dtype

    variables = weight_map(model)
    if match_renamed and set(variables) != set(arrays) and len(variables) == len(arrays) and all(
            tuple(a.shape) == v.shape for a, v in zip(arrays.values(), variables.values())):
        arrays = dict(zip(variables, arrays.values()))
    missing = sorted(set(variables) - set(arrays))
    extra = sorted(set(arrays) - set(variables))
    if missing:
        raise ReleaseError(f"{where}: missing weights for this architecture: {missing[:5]}"
                           + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
    if extra:
        raise ReleaseError(f"{where}: weights the architecture does not have: {extra[:5]}"
                           + (f" (+{len(extra) - 5} more)" if len(extra) > 5 else ""))
    for key, v in variables.items():
        array = arrays[key]
        if tuple(array.shape) != v.shape:
            raise ReleaseError(f"{where}: weight '{key}' has shape {tuple(array.shape)}, the "
                               f"architecture expects {v.shape}")
        if standardize_dtype(array.dtype) != v.dtype:
            raise ReleaseError(f"{where}: weight '{key}' has dtype "
                               f"{standardize_dtype(array.dtype)}, the architecture expects "
                               f"{v.dtype}")
    quantize_at = _quantizable(model, quantize) if quantize else {}
    for key, v in variables.items():
        value = arrays[key]
        layer = quantize_at.pop(id(v), None)
        if layer is not None and quantize != "float8" and isinstance(
                value, safetensors_io.LazyTensor):
            # Quantized as it is read, a block at a time: the float weight is never whole.
            variables[key] = v = None
            layer.quantize(quantize, _source=value)
            continue
        if isinstance(value, safetensors_io.LazyTensor):
            v._load(value.read())  # read now, given to the Variable: held once
        else:
            v.assign(value)
        if layer is not None:
            variables[key] = v = None  # the layer's quantize() drops the float weight
            layer.quantize(quantize)


def _quantizable(model, mode):
    """``{id(float weight): layer}`` of the layers ``model.quantize(mode)`` would change."""
    from kbridge import quantizers
    from kbridge.layers.core import Embedding, _LoRAQuantizeMixin

    quantizers._check_mode(mode)
    return {id(getattr(layer, layer._base)): layer for layer in model._flat_layers()
            if isinstance(layer, _LoRAQuantizeMixin) and layer.quantization_mode is None
            and not (mode == "float8" and isinstance(layer, Embedding))}


_READ_ATTEMPTS = 8


def _read_release(directory, limits):
    """``(config bytes, config, arrays)`` of a release, every field checked (arrays are
    LazyTensors: nothing but headers is read yet)."""
    config_path = os.path.join(directory, CONFIG_FILE)
    config_bytes = files.read_regular(config_path)
    config = parse_json(config_bytes, CONFIG_FILE)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ReleaseError(f"{CONFIG_FILE}: not a kbridge release (no \"format\": \"kbridge\")")
    version = config.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ReleaseError(f"{CONFIG_FILE}: format_version must be a non-negative integer. "
                           f"Received: {str(version)[:80]!r}")
    if version > FORMAT_VERSION:
        raise ReleaseError(f"{CONFIG_FILE}: format_version {version} is newer than this "
                           f"kbridge reads ({FORMAT_VERSION}); upgrade kbridge")
    for field, kind in (("class", str), ("config", dict)):
        if field not in config:
            raise ReleaseError(f"{CONFIG_FILE}: the '{field}' field is missing")
        if not isinstance(config[field], kind):
            raise ReleaseError(f"{CONFIG_FILE}: '{field}' must be a JSON "
                               f"{'string' if kind is str else 'object'}. Received: "
                               f"{type(config[field]).__name__}")
    build_config = config.get("build_config")
    if build_config is not None and not isinstance(build_config, dict):
        raise ReleaseError(f"{CONFIG_FILE}: 'build_config' must be a JSON object. Received: "
                           f"{type(build_config).__name__}")
    limits.check_config(CONFIG_FILE, config["config"])
    arrays = read_weights(directory, expected_sha=_sha256(config_bytes), lazy=True)
    limits.check_tensors(os.path.basename(directory.rstrip("/")) or directory,
                         ((key, a.nbytes) for key, a in arrays.items()))
    return config_bytes, config, arrays


def load_release(directory, backend=None, custom_objects=None, safe_mode=True, limits=None,
                 quantize=None):
    """Build the model a kbridge release directory describes, on ``backend``, within
    ``limits`` (a :class:`kbridge.hub.Limits`); ``quantize`` quantizes layer by layer as
    the weights stream in."""
    from kbridge.backend.common import context
    from kbridge.errors import KbridgeError
    from kbridge.saving import registry

    # A save may replace the release while it is read (the directory is swapped whole, but
    # a reader opens its files one by one): files of two saves are detected and read again.
    for attempt in range(_READ_ATTEMPTS):
        try:
            config_bytes, config, arrays = _read_release(directory, _limits.standardize(limits))
            break
        except _MixedFiles:
            if attempt == _READ_ATTEMPTS - 1:
                raise
            time.sleep(min(0.05 * (attempt + 1), 0.2))
    backend = context.standardize_name(backend) if backend else context.get()
    build_config = config.get("build_config")
    entry = {"class_name": config["class"], "config": config["config"],
             "registered_name": config.get("registered_name")}
    # The architecture may not ask for more memory than the weights it will receive hold.
    # Random initial values would be overwritten at once: the build skips drawing them.
    budget = AllocationBudget.for_weights(arrays, lambda message: ReleaseError(
        f"{CONFIG_FILE}: {message}: the config does not match the release's weights"),
        defer_initializers=True)
    with context.use(backend), budget:
        try:
            model = registry.deserialize(entry, custom_objects=custom_objects,
                                         safe_mode=safe_mode)
            if not model.built and build_config:
                model.build_from_config(build_config)
        except ReleaseError:
            raise
        except KbridgeError as e:
            raise type(e)(bounded(f"{CONFIG_FILE}: {e}")) from None
        except (Exception, RecursionError) as e:  # noqa: BLE001
            # A layer constructor or build() choking on a hostile field value (TypeError,
            # ValueError, OverflowError, NotImplementedError, ... from deep inside).
            raise ReleaseError(f"{CONFIG_FILE}: the model cannot be built from this config "
                               f"({type(e).__name__}: {str(e)[:300]})") from None
    assign_weights(model, arrays, where=os.path.basename(directory.rstrip("/")) or directory,
                   quantize=quantize)
    with context.use(backend):
        budget.initialize_unassigned()  # e.g. seed states
    return model
