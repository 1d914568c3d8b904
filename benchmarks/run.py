"""``make bench``: every workload on every backend, then ``RESULTS.md`` and ``results.png``.

Usage: ``python -m benchmarks.run [--quick] [--backends jax,torch,tensorflow]
[--workloads mlp,cnn,transformer,minilm,latency] [--out-dir benchmarks]``

Each backend's stack runs in its own process (:mod:`benchmarks.stack`); this collects their
medians with the machine's description and the ``import kbridge`` time, saves them as
``results.json`` and writes the report (:mod:`benchmarks.report`). ``--quick`` (``make
bench-quick``) runs tiny shapes for a few steps: it checks the harness, not the speed.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from benchmarks import report
from benchmarks.import_time import import_times
from benchmarks.stack import BACKENDS
from benchmarks.workloads import SIZES

_HERE = os.path.dirname(os.path.abspath(__file__))


def machine():
    """CPU model, visible cores, accelerator and platform of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    accelerator = "none (CPU only)"
    try:
        gpus = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
        if gpus.returncode == 0 and gpus.stdout.strip():
            accelerator = "; ".join(gpus.stdout.strip().splitlines())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "accelerator": accelerator,
            "platform": platform.platform(), "load_start": _load()}


def _load():
    """The 1-minute load average (how busy the machine was), or None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_stack(backend, quick, workloads):
    """Run :mod:`benchmarks.stack` for ``backend`` in a fresh process; its JSON, or an error."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_VERBOSITY="error",
               TOKENIZERS_PARALLELISM="false")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, f"{backend}.json")
        command = [sys.executable, "-m", "benchmarks.stack", "--backend", backend, "--out", out]
        command += ["--quick"] if quick else []
        command += ["--workloads", ",".join(workloads)] if workloads else []
        done = subprocess.run(command, env=env, cwd=os.path.dirname(_HERE), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sys.stderr.write(done.stdout)
        if done.returncode != 0:
            last = (done.stdout.strip().splitlines() or ["no output"])[-1]
            return {"error": f"exit status {done.returncode}: {last}"}
        with open(out, encoding="utf-8") as f:
            return json.load(f)


def _measure_in_process(module, call):
    """Run ``benchmarks.<module>.measure(<call>)`` in a fresh interpreter (each loads every
    backend at once, so not in a stack's process); its JSON result, or an error."""
    code = (f"import json; from benchmarks.{module} import measure; "
            f"print(json.dumps(measure({call})))")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KBRIDGE_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(_HERE), text=True,
                          capture_output=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit status {done.returncode}: {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _dispatch(quick, backends):
    return _measure_in_process("dispatch", f"calls={200 if quick else 2000}, "
                               f"rounds={2 if quick else 7}, backends={['numpy', *backends]!r}")


def _choice(quick, workloads):
    picked = [w for w in ("mlp", "cnn") if workloads is None or w in workloads]
    if not picked:
        return None
    return _measure_in_process("choice", f"{'quick' if quick else 'full'!r}, {tuple(picked)!r}")


def _hub_load(quick, backends):
    return _measure_in_process("hub_load", f"{['numpy', *backends]!r}, quick={quick}")


def _llm(quick, backends):
    return _measure_in_process("llm", f"{['numpy', *backends]!r}, quick={quick}")


def installed_backends():
    names = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}
    return [b for b in BACKENDS if importlib.util.find_spec(names[b]) is not None]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny shapes, few steps")
    parser.add_argument("--backends", default=None, help="comma-separated (default: installed)")
    parser.add_argument("--workloads", default=None,
                        help="comma-separated subset of mlp,cnn,transformer,minilm,latency")
    parser.add_argument("--out-dir", default=_HERE, help="where RESULTS.md, results.png and "
                        "results.json go (default: benchmarks/)")
    args = parser.parse_args(argv)
    backends = args.backends.split(",") if args.backends else installed_backends()
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"--backends takes {', '.join(BACKENDS)}. Received: {unknown}")
    workloads = args.workloads.split(",") if args.workloads else None
    mode = "quick" if args.quick else "full"
    run = {
        "mode": mode,
        "command": "python -m benchmarks.run" + (" --quick" if args.quick else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": SIZES[mode]["rounds"],
        "machine": machine(),
        "import": import_times(repeat=3 if args.quick else 7),
        "stacks": {},
    }
    # Own process: the dispatch microbenchmark imports every backend at once.
    run["dispatch"] = _dispatch(args.quick, backends)
    print("== loading a release", file=sys.stderr, flush=True)
    run["hub_load"] = _hub_load(args.quick, backends)
    print("== decoder LLM: loading and decoding", file=sys.stderr, flush=True)
    run["llm"] = _llm(args.quick, backends)
    for backend in backends:
        print(f"== {backend} stack", file=sys.stderr, flush=True)
        start = time.perf_counter()
        run["stacks"][backend] = run_stack(backend, args.quick, workloads)
        run["stacks"][backend]["wall_s"] = round(time.perf_counter() - start, 1)
    if len(backends) > 1:
        print("== automatic backend choice", file=sys.stderr, flush=True)
        run["choice"] = _choice(args.quick, workloads)
    run["machine"]["load_end"] = _load()
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(run, f, indent=1)
    report.write_markdown(run, os.path.join(args.out_dir, "RESULTS.md"))
    report.write_chart(run, os.path.join(args.out_dir, "results.png"))
    print(f"wrote {os.path.join(args.out_dir, 'RESULTS.md')} and results.png", file=sys.stderr)


if __name__ == "__main__":
    main()
