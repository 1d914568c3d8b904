"""Every public op exists in every backend with the public signature, or is a listed gap."""

import inspect

import pytest

import kbridge
from kbridge.backend.common import gaps
from kbridge.backend.common.dispatch import OPS, backend_module

MIN_PUBLIC_OPS = 250


def _public_ops():
    return {name: fn for name, fn in OPS.items() if fn.__kbridge_op__[0] != "random"}


def test_op_count():
    count = len(_public_ops())
    assert count >= MIN_PUBLIC_OPS, f"{count} public ops; the contract asks for {MIN_PUBLIC_OPS}"


@pytest.mark.parametrize("backend", kbridge.backend.available())
def test_every_op_implemented_with_the_public_signature(backend):
    missing, mismatched = [], []
    for name, public in sorted(OPS.items()):
        module, _ = public.__kbridge_op__
        impl = getattr(backend_module(backend, module), name, None)
        if impl is None:
            if gaps.reason(backend, name) is None:
                missing.append(f"{module}.{name}")
            continue
        want, got = inspect.signature(public), inspect.signature(impl)
        if want != got:
            mismatched.append(f"{module}.{name}: public {want}, {backend} {got}")
    assert not missing, f"{backend} lacks (and gaps.py does not list): {missing}"
    assert not mismatched, "\n".join(mismatched)


def test_gaps_name_real_ops():
    for backend, name in gaps.GAPS:
        assert name in OPS, f"gaps.py lists unknown op {name!r}"
        assert backend in kbridge.backend.BACKENDS


def test_missing_op_error_names_op_and_backend(monkeypatch):
    monkeypatch.setitem(gaps.GAPS, ("numpy", "no_such_op"), "a test reason")
    from kbridge.backend.common.dispatch import resolve_impl

    with pytest.raises(kbridge.MissingOpError, match="no_such_op.*numpy.*a test reason"):
        resolve_impl("numpy", "numpy", "no_such_op")
