"""Imports point down: the backends and the ops know nothing of the packages built on them.

``kbridge/backend/`` (dispatch, symbolic inference, Variables, each framework's ops) and
``kbridge/ops/`` may import only each other and the base modules (errors, config, dtype
policies, ``tree``, logging). Every import statement counts, including those inside functions:
a lazy upward import is still an upward dependency. Graph recording, model cloning and the
like reach the layers package through hooks it registers.

The per-backend halves of upper packages live next to their backend, as in Keras:
``backend/<name>/trainer.py`` (the step builders of ``kbridge.trainers``),
``backend/torch/optimizers.py`` (fused optimizer steps) and ``backend/<name>/distribution_lib.py``
(``kbridge.distribution``). They may import the package they implement, and nothing else
above the backend.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "kbridge"

# Packages built on the backends and ops.
UPPER = ("layers", "models", "trainers", "optimizers", "losses", "metrics", "callbacks", "hub",
         "saving", "adapters", "applications", "distribution", "export", "preprocessing",
         "wrappers", "legacy", "visualization", "datasets", "data", "quantizers",
         "initializers", "regularizers", "constraints", "activations", "distillation",
         "mixed_precision", "scopes", "function", "demo", "cli")

# Per-backend halves of upper packages: file name -> the upper packages it may import.
HALVES = {"trainer.py": {"trainers"}, "optimizers.py": {"optimizers"},
          "distribution_lib.py": {"distribution", "trainers", "adapters"}}


def _imported_modules(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # from kbridge import layers
                yield node.lineno, f"{node.module}.{alias.name}"


def _upper_package(module):
    parts = module.split(".")
    if parts[0] == "model_zoo":
        return "model_zoo"
    if parts[0] == "kbridge" and len(parts) > 1 and parts[1] in UPPER:
        return parts[1]
    return None


def _lower_files():
    for folder in ("backend", "ops"):
        yield from sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", list(_lower_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_reaches_upward(path):
    allowed = HALVES.get(path.name, set()) if path.parent.parent.name == "backend" else set()
    upward = sorted({f"line {line}: {module}" for line, module in _imported_modules(path)
                     if (_upper_package(module) or "") not in allowed | {""}})
    assert not upward, f"{path.relative_to(ROOT)} imports upward: {upward}"
