"""JAX sharding with 8 virtual CPU devices, in a subprocess (this process's jax has one):
DataParallel and ModelParallel training equal one-device training, and every variable's
``.value.sharding`` is what its layout says (see jax_job.py)."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def facts():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, os.path.join(HERE, "jax_job.py")], env=env,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_eight_devices(facts):
    assert facts["jax_devices"] == 8
    assert facts["devices"] == [f"cpu:{i}" for i in range(8)]


def test_data_parallel_equals_one_device(facts):
    assert facts["dp_diff"] < 1e-5
    for spec, devices in facts["dp_specs"].values():  # replicated on all 8 devices
        assert set(spec.strip("P()").replace(",", " ").split()) <= {"None"}
        assert devices == 8
    assert all(set(s.strip("P()").replace(",", " ").split()) <= {"None"}
               for s in facts["dp_opt_specs"])


def test_data_parallel_shards_batches(facts):
    spec, shard_shape = facts["dp_batch"]
    assert spec == "P('batch', None)"
    assert shard_shape == [2, 6]  # 16 samples over 8 devices
    assert "10 samples" in facts["dp_batch_error"] and "8 devices" in facts["dp_batch_error"]


def test_model_parallel_equals_one_device(facts):
    assert facts["mp_diff"] < 1e-5
    assert facts["mp_predict_diff"] < 1e-5


@pytest.mark.parametrize("key", ["mp_specs_before_fit", "mp_specs", "hub_specs"])
def test_model_parallel_layouts(facts, key):
    specs = facts[key]
    assert len(specs) == 4
    for path, (spec, devices) in specs.items():
        expected = "P(None, 'model')" if path.endswith("kernel") else "P(None,)"
        assert spec == expected, (path, spec)
        assert devices == 8


def test_model_parallel_splits_kernels(facts):
    assert facts["mp_kernel_shard_shape"] == [6, 4]  # (6, 16) split over 4 "model" devices


def test_hub_release_loads_sharded(facts):
    assert facts["hub_diff"] == 0.0
    assert facts["distribution_after"] == "None"  # the scopes restored it


def test_distribute_tensor_places_and_constrains(facts):
    """Keras's ``distribute_tensor``: ``device_put`` eagerly, a sharding constraint in jit."""
    assert facts["device_count"] == 8
    spec, shard_shape, equal, inside = facts["distributed"]
    assert spec == "P('batch', None)" and shard_shape == [32, 6] and equal
    assert inside == "P(None, 'model')"
