"""Which of Keras 3's public names kbridge lacks, per namespace.

Every public namespace reachable from the installed ``keras`` package (``keras.src`` and the
``keras._tf_keras`` shim excluded) is walked; each name in it must exist in the matching
``kbridge`` namespace (``keras.ops.numpy`` -> ``kbridge.ops.numpy``) or be covered by an entry
in ``keras_name_exceptions.txt`` next to this file.

Run it from the repository root:

    .venv/bin/python tests/compat/name_diff.py            # missing names, per namespace
    .venv/bin/python tests/compat/name_diff.py --all      # ... ignoring the exceptions file
    .venv/bin/python tests/compat/name_diff.py --signatures   # parameter names kbridge lacks
"""

import importlib
import inspect
import os
import sys
import types
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "numpy")  # Keras is a reference only

EXCEPTIONS_FILE = Path(__file__).with_name("keras_name_exceptions.txt")
_SKIPPED = ("src", "_tf_keras")


def keras_namespaces():
    """``{"keras.ops.numpy": module, ...}`` for every public Keras namespace."""
    keras = importlib.import_module("keras")
    found = {}

    def walk(module, dotted):
        if dotted in found:
            return
        found[dotted] = module
        for name in public_names(module):
            value = getattr(module, name)
            if (isinstance(value, types.ModuleType) and value.__name__.startswith("keras.")
                    and not value.__name__.startswith("keras.src")
                    and name not in _SKIPPED):
                walk(value, f"{dotted}.{name}")

    walk(keras, "keras")
    return found


def keras_version():
    return importlib.import_module("keras").__version__


def public_names(module):
    """Public names of a module (``dir`` resolves lazy attributes for Keras' api modules)."""
    return sorted(n for n in dir(module) if not n.startswith("_") and n not in _SKIPPED)


def load_exceptions(path=EXCEPTIONS_FILE):
    """``{dotted name or namespace: reason}``.

    One entry per line: ``<names> — <reason>``, where ``<names>`` is one dotted Keras name or
    namespace, or several separated by spaces when one open issue delivers them together.
    """
    entries = {}
    if not path.exists():
        return entries
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        names, sep, reason = line.partition(" — ")
        if not sep or not reason.strip():
            raise ValueError(f"{path.name}: each entry needs ' — <reason>'. Line: {line!r}")
        for name in names.split():
            if not name.startswith("keras."):
                raise ValueError(f"{path.name}: names start with 'keras.'. Line: {line!r}")
            entries[name] = reason.strip()
    return entries


def count_entries(path=EXCEPTIONS_FILE):
    """Entries (non-comment lines) in the exceptions file."""
    return sum(1 for line in path.read_text().splitlines()
               if line.strip() and not line.strip().startswith("#"))


def is_excepted(dotted, exceptions):
    """True when ``dotted`` (``keras.a.b``) or one of its parent namespaces is listed."""
    parts = dotted.split(".")
    return any(".".join(parts[:i]) in exceptions for i in range(2, len(parts) + 1))


def kbridge_namespace(dotted):
    """The kbridge object for ``keras.a.b`` (``kbridge.a.b``), or None when it is missing."""
    obj = importlib.import_module("kbridge")
    for part in dotted.split(".")[1:]:
        if not _has(obj, part):
            return None
        obj = getattr(obj, part)
    return obj


def _has(obj, name):
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    except ImportError as e:
        # A kbridge module that does not exist yet means the name is missing; any other
        # import error is an optional dependency of that one name, which does exist.
        return not (e.name or "").startswith("kbridge")
    return True


def _namespaces(exceptions):
    """``(dotted, keras module, kbridge namespace or None)`` for each Keras namespace no
    exception covers."""
    for dotted, module in keras_namespaces().items():
        if not is_excepted(dotted, exceptions):
            yield dotted, module, kbridge_namespace(dotted)


def missing_names(exceptions=None):
    """``{"keras.ns": [missing names]}`` for names kbridge lacks and no exception covers."""
    exceptions = load_exceptions() if exceptions is None else exceptions
    missing = {}
    for dotted, module, ours in _namespaces(exceptions):
        names = [n for n in public_names(module)
                 if not is_excepted(f"{dotted}.{n}", exceptions)
                 and (ours is None or not _has(ours, n))]
        if names:
            missing[dotted] = names
    return missing


def _parameters(obj):
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    return sig.parameters


def missing_parameters(exceptions=None):
    """``{"keras.ns.name": [parameter names kbridge's signature does not accept]}``.

    Checks public functions and classes' ``__init__`` present on both sides. A kbridge
    signature with ``**kwargs`` accepts any keyword, so only positional-or-keyword names of
    Keras's that kbridge lacks are reported when it has none.
    """
    exceptions = load_exceptions() if exceptions is None else exceptions
    report = {}
    for dotted, module, ours_ns in _namespaces(exceptions):
        if ours_ns is None:
            continue
        for name in public_names(module):
            full = f"{dotted}.{name}"
            theirs = getattr(module, name)
            if (is_excepted(full, exceptions) or isinstance(theirs, types.ModuleType)
                    or not callable(theirs) or not _has(ours_ns, name)):
                continue
            try:
                ours = getattr(ours_ns, name)
            except ImportError:
                continue
            if not callable(ours) or isinstance(ours, types.ModuleType):
                continue
            their_params, our_params = _parameters(theirs), _parameters(ours)
            if their_params is None or our_params is None:
                continue
            if any(p.kind is p.VAR_KEYWORD for p in our_params.values()):
                continue
            lacking = [p for p, v in their_params.items()
                       if p not in ("self", "args", "kwargs")
                       and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)
                       and p not in our_params]
            if lacking:
                report[full] = lacking
    return report


def main(argv):
    exceptions = {} if "--all" in argv else load_exceptions()
    if "--signatures" in argv:
        report = missing_parameters(exceptions)
        for name, params in sorted(report.items()):
            print(f"{name}: {' '.join(params)}")
        print(f"{len(report)} callables lack parameters")
        return 1 if report else 0
    missing = missing_names(exceptions)
    total = 0
    for dotted, names in sorted(missing.items()):
        total += len(names)
        print(f"{dotted.replace('keras', 'kbridge', 1)} ({len(names)}): {' '.join(names)}")
    print(f"{total} names missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main(sys.argv[1:]))
