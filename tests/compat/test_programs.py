"""Complete Keras programs (``programs/``) run unchanged but for the import on jax, torch and
tensorflow, and give what real Keras 3 gives on the same backend.

Keras's results are recorded in ``keras_reference.json`` by ``make compat-reference`` (real
Keras 3 in a subprocess per backend); a program that fails under Keras on a backend is still
required to run under kbridge there. ``KBRIDGE_COMPAT_LIVE=1`` recomputes the reference in this
run instead of reading the file.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import kbridge
from tests.compat import run_program

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "keras_reference.json")
BACKENDS = [b for b in ("jax", "torch", "tensorflow") if b in kbridge.backend.available()]
_selected = os.environ.get("KBRIDGE_TEST_BACKENDS")
if _selected:
    BACKENDS = [b for b in BACKENDS if b in _selected.split(",")]


# (program, backend) -> (backend whose Keras results to compare with instead, why).
KNOWN_DIFFERENCES = {
    ("multi_io_functional", "tensorflow"): (
        "jax", "Keras's TensorFlow optimizers update only the Embedding rows a batch touches "
               "(sparse IndexedSlices), so RMSprop's moving averages of the other rows do not "
               "decay; kbridge applies the dense update, as Keras does on jax and torch."),
}


def keras_reference(backend):
    """{program: {"results": ...} or {"error": ...}} of real Keras on ``backend``."""
    if os.environ.get("KBRIDGE_COMPAT_LIVE"):
        out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"keras_live_{backend}.json")
        subprocess.run([sys.executable, run_program.__file__, "keras", backend, out],
                       check=True, capture_output=True)
        with open(out) as f:
            return json.load(f)
    with open(REFERENCE) as f:
        return json.load(f)[backend]


def assert_same(got, expected, where, rtol=2e-4, atol=2e-5):
    if isinstance(expected, dict):
        assert isinstance(got, dict), where
        assert sorted(got) == sorted(expected), (where, sorted(got), sorted(expected))
        for key in expected:
            assert_same(got[key], expected[key], f"{where}.{key}", rtol, atol)
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool) or (
            isinstance(expected, list) and np.asarray(expected).dtype.kind in "fiu"):
        np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64),
                                   rtol=rtol, atol=atol, err_msg=where)
    else:
        assert got == expected, (where, got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("program", run_program.program_names())
def test_program_matches_keras(program, backend, tmp_path):
    with kbridge.backend.use(backend):
        kbridge.utils.clear_session()
        results = run_program.run(program, "kbridge", str(tmp_path))
    reference_backend = KNOWN_DIFFERENCES.get((program, backend), (backend,))[0]
    reference = keras_reference(reference_backend).get(program)
    if reference is None:
        pytest.fail(f"no Keras reference for {program}; run `make compat-reference`")
    if "results" in reference:
        assert_same(results, reference["results"], program)


def test_programs_only_change_the_import():
    source = "import keras\nfrom keras import layers, ops\nfrom keras.layers import Dense\n"
    assert run_program.kbridge_source(source) == (
        "import kbridge as keras\nfrom kbridge import layers, ops\n"
        "from kbridge.layers import Dense\n")
