"""Pick the fastest backend for a model on this machine, by timing it.

``fastest(model_or_builder, sample_batch)`` builds the model on every installed backend that
can run the workload, runs a few warm-up steps (compilation happens there), times a few more
and returns the backends ranked, fastest first. The ranking is cached on disk per model
signature (architecture, compile settings, batch shapes) and machine (CPU, accelerators,
framework versions), so ``fit(backend="auto")`` and ``KBRIDGE_BACKEND=auto`` pay for the
timing once.

This module knows nothing of layers or models: a model is moved to another backend by the
converter that :mod:`kbridge.models` registers (``register_model_converter``).

Example:
    >>> ranking = kbridge.backend.fastest(model, (x[:64], y[:64]))
    >>> ranking[0].backend
    'jax'
"""

import collections
import json
import os
import time

from kbridge.backend.common import context
from kbridge.errors import BackendError

__all__ = ["BackendTiming", "fastest", "register_model_converter", "cache_path"]

WORKLOADS = ("train", "predict")
# Backends that can compute gradients (numpy runs inference only).
_TRAINABLE = ("jax", "torch", "tensorflow")
_CACHE_VERSION = 1

BackendTiming = collections.namedtuple("BackendTiming", ["backend", "seconds", "error"])
BackendTiming.__doc__ = """One backend's result: median ``seconds`` per step, or the ``error``
that kept it from running (then ``seconds`` is None)."""

_converter = None


def register_model_converter(fn):
    """Register ``fn(model, backend) -> model``: the same model, compiled alike, on
    ``backend`` (:mod:`kbridge.models` registers it when imported)."""
    global _converter
    _converter = fn


def cache_path():
    """The JSON file holding cached rankings: ``$KBRIDGE_CACHE_DIR/backend_choice.json``
    (default ``~/.cache/kbridge``)."""
    root = os.environ.get("KBRIDGE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "kbridge")
    return os.path.join(root, "backend_choice.json")


def fastest(model_or_builder, sample_batch, workload="train", backends=None, steps=5,
            warmup=2, timer=time.perf_counter, cache=True):
    """Rank the installed backends by how fast they run ``model_or_builder`` on this machine.

    Args:
        model_or_builder: a kbridge model (for ``"train"``, compiled) — it is copied to each
            backend with its weights and compile settings — or a zero-argument callable that
            builds (and compiles) the model; it is called once per backend inside
            ``kbridge.backend.use(backend)``.
        sample_batch: one batch: ``(x, y)`` or ``(x, y, sample_weight)`` for ``"train"``,
            ``x`` for ``"predict"``.
        workload: ``"train"`` (``train_on_batch``) or ``"predict"`` (``predict_on_batch``).
        backends: the candidates (default: every installed backend that can run the
            workload; numpy only predicts).
        steps, warmup: timed steps and untimed warm-up steps per backend.
        timer: the clock (seconds); tests pass a fake one.
        cache: read and write the on-disk cache (:func:`cache_path`). Only a ranking
            made with the default ``timer`` is stored.

    Returns:
        A list of :class:`BackendTiming` (``backend``, ``seconds`` per step, ``error``),
        fastest first; backends that failed come last, with their error.
    """
    if workload not in WORKLOADS:
        raise BackendError(f"`workload` must be one of {list(WORKLOADS)}. "
                           f"Received: {workload!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1 or \
            isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise BackendError("`steps` must be an int >= 1 and `warmup` an int >= 0. "
                           f"Received: steps={steps!r}, warmup={warmup!r}")
    candidates = _candidates(backends, workload)
    is_model = hasattr(model_or_builder, "get_config") and hasattr(model_or_builder, "fit")
    if not is_model and not callable(model_or_builder):
        raise BackendError("`model_or_builder` must be a kbridge model or a zero-argument "
                           f"callable that builds one. Received: {model_or_builder!r}")
    key = None
    if cache and timer is time.perf_counter and is_model:
        key = _cache_key(model_or_builder, sample_batch, workload, candidates, steps, warmup)
        cached = _read_cache().get(key)
        if cached is not None:
            return [BackendTiming(*entry) for entry in cached]
    timings = [_time_backend(model_or_builder, is_model, backend, sample_batch, workload,
                             steps, warmup, timer) for backend in candidates]
    ranking = sorted(timings, key=lambda t: (t.seconds is None, t.seconds or 0.0))
    if key is not None:
        _write_cache(key, [list(t) for t in ranking])
    return ranking


def _candidates(backends, workload):
    installed = context.available()
    if backends is None:
        names = [b for b in installed if workload == "predict" or b in _TRAINABLE]
    else:
        if isinstance(backends, str):
            backends = [backends]
        names = [context.standardize_name(b) for b in backends]
        missing = [b for b in names if b not in installed]
        if missing:
            raise BackendError(f"Backends {missing} are not installed. Installed: {installed}")
        if workload == "train":
            untrainable = [b for b in names if b not in _TRAINABLE]
            if untrainable:
                raise BackendError(f"Backends {untrainable} cannot train (no gradients). "
                                   f"Training runs on {list(_TRAINABLE)}.")
    if not names:
        raise BackendError(f"No installed backend can run the {workload!r} workload. "
                           f"Installed: {installed}")
    return names


def _time_backend(model_or_builder, is_model, backend, batch, workload, steps, warmup, timer):
    try:
        with context.use(backend):
            if is_model:
                if _converter is None:
                    raise BackendError("No model converter registered: import kbridge.models.")
                model = _converter(model_or_builder, backend)
            else:
                model = model_or_builder()
            if workload == "train":
                x, y, sample_weight = _unpack(batch)

                def step():
                    model.train_on_batch(x, y, sample_weight=sample_weight)
            else:
                def step():
                    model.predict_on_batch(batch)

            for _ in range(warmup):
                step()
            times = []
            for _ in range(steps):
                start = timer()
                step()  # returns host values: the step has finished when it returns
                times.append(timer() - start)
        times.sort()
        return BackendTiming(backend, float(times[len(times) // 2]), None)
    except Exception as exc:  # noqa: BLE001 - a backend that cannot run is ranked last
        return BackendTiming(backend, None, f"{type(exc).__name__}: {exc}")


def _unpack(batch):
    if isinstance(batch, tuple) and len(batch) in (2, 3):
        return batch + (None,) * (3 - len(batch))
    raise BackendError("A training `sample_batch` is a tuple (x, y) or (x, y, sample_weight). "
                       f"Received: {type(batch).__name__}")


# --- cache -------------------------------------------------------------------------------
def _describe_batch(batch):
    """Shapes and dtypes of every array in ``batch`` (nested tuples, lists and dicts)."""
    if isinstance(batch, dict):
        return {str(k): _describe_batch(v) for k, v in sorted(batch.items(), key=str)}
    if isinstance(batch, (list, tuple)):
        return [_describe_batch(v) for v in batch]
    if batch is None:
        return None
    shape = getattr(batch, "shape", None)
    dtype = getattr(batch, "dtype", None)
    return [list(shape) if shape is not None else None, str(dtype)]


def _without_names(config):
    """``config`` with layer names replaced by their order of appearance: two instances of
    one architecture (``dense_3`` here, ``dense_7`` there) share a signature."""
    names = {}

    def gather(value):
        if isinstance(value, dict):
            if isinstance(value.get("name"), str):
                names.setdefault(value["name"], f"#{len(names)}")
            for v in value.values():
                gather(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                gather(v)

    def rename(value):
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [rename(v) for v in value]
        return names.get(value, value) if isinstance(value, str) else value

    gather(config)
    return rename(config)


def _machine():
    """What makes timings comparable: CPU, core count, visible accelerators, versions."""
    import platform
    from importlib import metadata

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for dist in ("jax", "jaxlib", "torch", "tensorflow", "tensorflow-cpu", "numpy", "kbridge"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(),
            "visible_devices": {k: os.environ.get(k) for k in
                                ("CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS")},
            "versions": versions}


def _cache_key(model, batch, workload, candidates, steps, warmup):
    import hashlib

    compile_config = getattr(model, "get_compile_config", lambda: None)()
    architecture = {"class": f"{type(model).__module__}.{type(model).__qualname__}",
                    "config": model.get_config(), "compile": compile_config}
    signature = {"version": _CACHE_VERSION, "model": _without_names(architecture), "batch": _describe_batch(batch),
                 "workload": workload, "backends": candidates, "steps": steps,
                 "warmup": warmup, "machine": _machine()}
    text = json.dumps(signature, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_cache():
    try:
        with open(cache_path(), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    good = {}
    for key, ranking in data.items():  # a damaged entry is ignored, never trusted
        if isinstance(ranking, list) and all(
                isinstance(e, list) and len(e) == 3 and e[0] in context.BACKENDS
                and (e[1] is None or isinstance(e[1], (int, float)))
                and (e[2] is None or isinstance(e[2], str)) for e in ranking):
            good[key] = ranking
    return good


def _write_cache(key, ranking):
    """Add one ranking to the cache file, atomically (a concurrent reader sees the old
    file or the new one). A cache that cannot be written is skipped silently: it is only
    a cache."""
    import tempfile

    path = cache_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = _read_cache()
        data[key] = ranking
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
