"""The ``kbridge`` command: ``kbridge info``, ``kbridge hub inspect|convert|publish|load|list``,
``kbridge bench``."""

import argparse
import json
import sys


def _info(args):
    import importlib.metadata

    import kbridge

    print(f"kbridge {kbridge.__version__}")
    print(f"default backend: {kbridge.backend.get()}")
    for name, dist in [("numpy", "numpy"), ("jax", "jax"), ("torch", "torch"),
                       ("tensorflow", "tensorflow-cpu")]:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                version = "not installed"
        print(f"  {name:<11} {version}")
    return 0


def _inspect(args):
    from kbridge import hub

    info = hub.inspect(args.source, token=args.token)
    if args.json:
        print(json.dumps({k: v for k, v in info.items() if k != "card"}, indent=2))
        return 0
    print(f"source:      {info['source']}")
    print(f"location:    {info['path']}")
    print(f"format:      {info['format'] or 'Hugging Face checkpoint'}")
    print(f"class:       {info['class']}")
    print(f"parameters:  {info['parameters']:,} ({info['bytes'] / 1e6:.2f} MB)")
    print(f"dtypes:      {', '.join(f'{k} x{v}' for k, v in sorted(info['dtypes'].items()))}")
    print(f"shards:      {', '.join(info['shards'])}")
    if info["kbridge_version"]:
        print(f"saved by:    kbridge {info['kbridge_version']}")
    if info["card"]:
        print("model card:")
        for line in info["card"].splitlines()[:25]:
            print(f"  {line}")
    return 0


def _convert(args):
    from kbridge import hub

    model = hub.load(args.source, backend=args.backend, token=args.token)
    path = hub.save(model, args.destination, max_shard_size=args.max_shard_size)
    print(f"wrote {path}")
    return 0


def _publish(args):
    from kbridge import hub

    url = hub.publish(args.directory, args.target, token=args.token, private=args.private,
                      revision=args.revision, commit_message=args.message)
    print(url)
    return 0


def _load(args):
    import numpy as np

    from kbridge import hub, ops

    model = hub.load(args.source, backend=args.backend, token=args.token)
    print(f"loaded {type(model).__name__} '{model.name}' on {model.backend_name}: "
          f"{model.count_params():,} parameters")
    inputs = getattr(model, "inputs", None)
    if inputs:
        rng = np.random.default_rng(0)
        feeds = []
        for t in inputs:
            shape = tuple(2 if d is None else d for d in t.shape)
            if "int" in t.dtype:
                feeds.append(rng.integers(0, 2, size=shape).astype(t.dtype))
            else:
                feeds.append(rng.normal(size=shape).astype(t.dtype))
        out = model(feeds[0] if len(feeds) == 1 else feeds)
        for o in (out if isinstance(out, (list, tuple)) else [out]):
            arr = ops.convert_to_numpy(o)
            print(f"smoke run: output shape {arr.shape}, mean {float(np.mean(arr)):.6f}")
    return 0


def _list(args):
    import model_zoo

    for entry in model_zoo.list():
        print(f"zoo:{entry['name']:<22} {entry.get('description', '')}")
    return 0


def _bench(args):
    import runpy

    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / f"{args.name}.py"
    if not script.exists():
        print(f"no benchmark {args.name!r} (looked for {script})", file=sys.stderr)
        return 2
    runpy.run_path(str(script), run_name="__main__")
    return 0


_STORE_TRUE = {"action": "store_true"}
# The hub commands: name -> (help, handler, arguments); an argument is a name, or a
# (name, add_argument keywords) pair. Every command also takes --token.
_HUB_COMMANDS = {
    "inspect": ("architecture, parameters, dtypes, shards, card", _inspect,
                ["source", ("--json", _STORE_TRUE)]),
    "convert": ("any loadable source -> a kbridge release", _convert,
                ["source", "destination", ("--backend", {"default": "numpy"}),
                 ("--max-shard-size", {"default": "5GB"})]),
    "publish": ("upload a release directory to hf://org/name", _publish,
                ["directory", "target", ("--private", _STORE_TRUE), "--revision",
                 "--message"]),
    "load": ("load a source on a backend and run it once", _load, ["source", "--backend"]),
    "list": ("releases shipped in the model zoo", _list, []),
}
_TOKEN = ("--token", {"default": None, "help": "Hugging Face token (default: HF_TOKEN)"})


def build_parser():
    parser = argparse.ArgumentParser(prog="kbridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="backends found and their versions").set_defaults(fn=_info)
    bench = sub.add_parser("bench", help="run a benchmark from benchmarks/")
    bench.add_argument("name", nargs="?", default="dispatch")
    bench.set_defaults(fn=_bench)

    hub = sub.add_parser("hub", help="releases: inspect, convert, publish, load, list")
    hub_sub = hub.add_subparsers(dest="hub_command", required=True)
    for command, (help_text, handler, arguments) in _HUB_COMMANDS.items():
        p = hub_sub.add_parser(command, help=help_text)
        for argument in [*arguments, _TOKEN]:
            name, options = (argument, {}) if isinstance(argument, str) else argument
            p.add_argument(name, **options)
        p.set_defaults(fn=handler)
    return parser


def main(argv=None):
    from kbridge.errors import KbridgeError

    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except KbridgeError as e:
        print(f"kbridge: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
