"""Every public Keras 3 name exists in kbridge (or is a listed exception), with Keras's
parameter names.

The names come from the installed ``keras`` package (see ``name_diff.py``, which also prints
the gaps: ``.venv/bin/python tests/compat/name_diff.py``).
"""

import pytest

from tests.compat import name_diff

MAX_EXCEPTIONS = 10


@pytest.fixture(scope="module")
def exceptions():
    return name_diff.load_exceptions()


@pytest.fixture(scope="module")
def all_missing():
    """Missing names ignoring the exceptions file (computed once: it imports everything)."""
    return name_diff.missing_names({})


def test_exceptions_file_is_short_and_current(exceptions, all_missing):
    assert name_diff.count_entries() <= MAX_EXCEPTIONS, \
        f"{name_diff.EXCEPTIONS_FILE.name} may hold at most {MAX_EXCEPTIONS} entries"
    namespaces = name_diff.keras_namespaces()
    unknown, provided = [], []
    for dotted in exceptions:
        if dotted in namespaces:
            if name_diff.kbridge_namespace(dotted) is not None and not all_missing.get(dotted):
                provided.append(dotted)
            continue
        parent, _, name = dotted.rpartition(".")
        if parent not in namespaces or name not in name_diff.public_names(namespaces[parent]):
            unknown.append(dotted)
        elif name not in all_missing.get(parent, ()):
            provided.append(dotted)
    assert not unknown, f"exceptions naming nothing in Keras {name_diff.keras_version()}: {unknown}"
    assert not provided, f"kbridge now provides these; drop them from the exceptions: {provided}"


def test_every_keras_name_exists_in_kbridge(exceptions, all_missing):
    missing = {ns: [n for n in names if not name_diff.is_excepted(f"{ns}.{n}", exceptions)]
               for ns, names in all_missing.items() if not name_diff.is_excepted(ns, exceptions)}
    missing = {ns: names for ns, names in missing.items() if names}
    lines = [f"  {ns.replace('keras', 'kbridge', 1)}: {' '.join(names)}"
             for ns, names in sorted(missing.items())]
    assert not missing, (f"{sum(map(len, missing.values()))} Keras names missing from kbridge "
                         "(or list them in keras_name_exceptions.txt):\n" + "\n".join(lines))


def test_kbridge_signatures_accept_keras_parameters(exceptions):
    lacking = name_diff.missing_parameters(exceptions)
    lines = [f"  {name}: {' '.join(params)}" for name, params in sorted(lacking.items())]
    assert not lacking, ("kbridge callables that do not accept parameters Keras's accept:\n"
                         + "\n".join(lines))


def test_the_diff_sees_a_missing_name(monkeypatch):
    # The check itself must be able to fail: hide one kbridge name and it is reported.
    import kbridge.tree

    monkeypatch.delattr(kbridge.tree, "flatten")
    assert "flatten" in name_diff.missing_names({}).get("keras.tree", [])
