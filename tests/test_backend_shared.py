"""``kbridge.backend.common.shared``: a shared module runs inside the backend module that
includes it, with that module's bindings and overrides."""

import pickle
import sys
import textwrap

import numpy as np
import pytest

import kbridge
from kbridge.backend.common import shared
from kbridge.errors import KbridgeError

SHARED_SOURCE = '''
"""A shared module's docstring (must not replace the includer's)."""
from kbridge.backend.common.shared import bound

xp = bound("xp")


def double(x):
    return xp.multiply(scale(), x)


def scale():
    return 2


def total(x):
    return ops.sum(double(x))
'''


@pytest.fixture
def demo_package(tmp_path, monkeypatch):
    shared.backend_ops("numpy").sum  # the real backend modules, imported before the swap
    package = tmp_path / "demo_shared_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "demo.py").write_text(textwrap.dedent(SHARED_SOURCE))
    (package / "needs.py").write_text("from kbridge.backend.common.shared import bound\n"
                                      "missing = bound('not_given')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(shared, "SHARED_PACKAGE", "demo_shared_pkg")
    shared._code.cache_clear()
    yield
    shared._code.cache_clear()
    for name in [m for m in sys.modules if m.startswith("demo_shared_pkg")]:
        del sys.modules[name]


def _namespace():
    return {"__name__": "kbridge.backend.numpy.demo", "__doc__": "The includer."}


def test_shared_code_runs_in_the_includer_with_its_bindings(demo_package):
    namespace = _namespace()
    shared.include("demo", namespace, xp=np)
    assert namespace["double"].__globals__ is namespace
    assert namespace["__doc__"] == "The includer."
    assert namespace["double"](np.array([1.0, 2.0])).tolist() == [2.0, 4.0]
    # ``ops``: the numpy backend's own implementations, found by name and then kept.
    assert namespace["ops"] is shared.backend_ops("numpy")
    assert namespace["total"](np.array([1.0, 2.0])) == 6.0
    assert "sum" in vars(namespace["ops"])


def test_an_override_below_the_include_is_what_shared_code_calls(demo_package):
    namespace = _namespace()
    shared.include("demo", namespace, xp=np)
    exec("def scale():\n    return 10\n", namespace)  # a backend's own version
    assert namespace["double"](np.array([1.0])).tolist() == [10.0]


def test_a_missing_binding_names_itself(demo_package):
    with pytest.raises(KbridgeError, match="needs `not_given`.*kbridge.backend.numpy.demo"):
        shared.include("needs", _namespace())
    with pytest.raises(KbridgeError, match="No shared backend module"):
        shared.include("nowhere", _namespace())


def test_backend_ops_finds_public_ops_only():
    from kbridge.backend.common.dispatch import resolve_impl

    ops = shared.backend_ops("numpy")
    assert ops.where is resolve_impl("numpy", "array", "where")
    with pytest.raises(AttributeError):
        ops._private_helper
    with pytest.raises(AttributeError, match="numpy backend has no op `no_such_op`"):
        ops.no_such_op


@pytest.mark.parametrize("backend", kbridge.backend.available())
def test_included_functions_belong_to_their_backend_module(backend):
    """Functions a backend module got from a shared module are its own: their module is the
    backend module, so they pickle by reference like any other function."""
    from kbridge.backend.common.dispatch import backend_module

    found = 0
    for name in ("numpy", "array", "math", "nn", "linalg", "image", "random", "core"):
        module = backend_module(backend, name)
        for attr, value in vars(module).items():
            code = getattr(value, "__code__", None)
            if code is None or "/backend/shared/" not in code.co_filename.replace("\\", "/") \
                    or value.__globals__ is not vars(module):  # (imported from elsewhere)
                continue
            found += 1
            assert value.__module__ == module.__name__, (backend, name, attr)
            if not attr.startswith("_") and getattr(module, value.__name__, None) is value:
                assert pickle.loads(pickle.dumps(value)) is value
    assert found, f"the {backend} backend includes no shared code"
