"""Backend selection, import cost, dtypes, dispatch and Variables."""

import subprocess
import sys
import threading

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.backend.common.dtypes import result_type


def test_import_loads_numpy_only():
    code = (
        "import sys, kbridge; "
        "print(' '.join(m for m in ('torch', 'tensorflow', 'jax', 'jaxlib', 'ml_dtypes') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_env_var_sets_default_backend():
    code = "import kbridge; print(kbridge.backend.get())"
    for name in kbridge.backend.available():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={"KBRIDGE_BACKEND": name, "PATH": ""})
        assert out.stdout.strip() == name


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(kbridge.BackendError, match="Unknown backend 'mxnet'"):
        kbridge.backend.set("mxnet")


def test_use_is_scoped_per_thread():
    seen = {}
    with kbridge.backend.use("numpy"):

        def worker():
            seen["thread"] = kbridge.backend.get()

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert kbridge.backend.get() == "numpy"
    assert seen["thread"] != "numpy" or kbridge.backend.get() == "numpy"
    assert seen["thread"] == kbridge.backend.get()


def test_ops_dispatch_on_tensor_type(backend):
    x = ops.convert_to_tensor(np.ones((2, 2), "float32"))
    with kbridge.backend.use("numpy"):
        y = ops.add(x, x)  # the tensor's backend wins over the active one
    assert kbridge.backend.of(y) == backend


def test_numpy_inputs_go_to_the_active_backend(backend):
    y = ops.add(np.ones(3, "float32"), 1.0)
    assert kbridge.backend.of(y) == backend


def test_mixing_frameworks_names_both():
    avail = [b for b in kbridge.backend.available() if b != "numpy"]
    if len(avail) < 2:
        pytest.skip("needs two frameworks")
    a, b = avail[:2]
    with kbridge.backend.use(a):
        x = ops.convert_to_tensor([1.0])
    with kbridge.backend.use(b):
        y = ops.convert_to_tensor([1.0])
    with pytest.raises(kbridge.BackendMismatchError, match=f"{a}.*{b}|{b}.*{a}"):
        ops.add(x, y)


@pytest.mark.parametrize("a,b,want", [
    ("int8", "uint8", "int16"), ("int32", "float32", "float32"), ("float16", "int32", "float16"),
    ("bfloat16", "float16", "float32"), ("uint32", "int32", "int64"), ("int32", "bool", "int32"),
    ("int8", "int*", "int8"), ("int32", "float*", "float32"), ("float16", "float*", "float16"),
    ("uint64", "int64", "float32"),
])
def test_promotion_table(a, b, want):
    assert result_type(a, b) == want == result_type(b, a)


def test_promotion_matches_keras():
    dtypes = pytest.importorskip("keras.src.backend.common.dtypes")
    names = ["bool", "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64",
             "bfloat16", "float16", "float32", "float64"]
    # Keras on its numpy/jax backends narrows 64-bit results to 32 bits (JAX without x64);
    # kbridge keeps them, since numpy, torch and tensorflow compute in 64 bits.
    narrow = {"int64": "int32", "float64": "float32", "uint64": "uint32"}
    for a in names:
        for b in names:
            ours = result_type(a, b)
            assert narrow.get(ours, ours) == dtypes.result_type(a, b), (a, b)


def test_floatx_round_trip():
    assert kbridge.backend.floatx() == "float32"
    kbridge.backend.set_floatx("float16")
    try:
        assert ops.dtype(ops.convert_to_tensor([1.0])) == "float16"
    finally:
        kbridge.backend.set_floatx("float32")
    with pytest.raises(kbridge.DTypeError, match="floatx"):
        kbridge.backend.set_floatx("int32")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "int8", "int16", "int32",
                                   "uint8", "bool", "complex64"])
def test_dtypes_round_trip(backend, dtype):
    x = ops.convert_to_tensor(np.arange(4) % 2, dtype=dtype)
    assert ops.dtype(x) == dtype
    assert kbridge.backend.standardize_dtype(ops.convert_to_numpy(x).dtype) == dtype


def test_variable_storage_is_native(backend):
    v = kbridge.Variable(np.ones((2, 3), "float32"), name="w")
    native = {"numpy": "ndarray", "jax": "ArrayImpl", "torch": "Parameter",
              "tensorflow": "ResourceVariable"}[backend]
    assert type(v.value).__name__ == native
    assert kbridge.backend.of(v) == backend
    assert v.shape == (2, 3) and v.dtype == "float32" and v.path == "w"


def test_variable_assign_and_operators(backend):
    v = kbridge.Variable(lambda shape, dtype: np.zeros(shape, dtype), shape=(2,), dtype="float32")
    v.assign(np.array([1.0, 2.0]))
    v.assign_add(np.array([1.0, 1.0]))
    v.assign_sub(np.array([0.5, 0.5]))
    np.testing.assert_allclose(v.numpy(), [1.5, 2.5])
    np.testing.assert_allclose(ops.convert_to_numpy(v + 1.0), [2.5, 3.5])
    np.testing.assert_allclose(ops.convert_to_numpy(ops.matmul(v, np.ones((2, 1), "float32"))), [4.0])
    with pytest.raises(kbridge.ShapeError, match=r"shape \(2,\).*\(3,\)"):
        v.assign(np.zeros(3))


def test_variable_path_follows_name_scope(backend):
    with kbridge.backend.name_scope("model"), kbridge.backend.name_scope("dense"):
        v = kbridge.Variable(np.zeros(2), name="kernel")
    assert v.path == "model/dense/kernel"


def test_torch_variable_is_shared_parameter():
    torch = pytest.importorskip("torch")
    with kbridge.backend.use("torch"):
        v = kbridge.Variable(np.ones(2, "float32"))
    param = v.value
    v.assign(np.zeros(2))
    assert v.value is param and isinstance(param, torch.nn.Parameter)
    assert torch.add(v, 1.0).tolist() == [1.0, 1.0]  # __torch_function__


def test_keras_tensor_inference():
    x = kbridge.KerasTensor((None, 3))
    y = ops.matmul(x, np.ones((3, 5), "float32"))
    assert isinstance(y, kbridge.KerasTensor) and y.shape == (None, 5) and y.dtype == "float32"
    assert (x + 1).shape == (None, 3)
    assert ops.shape(x) == (None, 3)
