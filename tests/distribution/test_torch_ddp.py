"""torch DistributedDataParallel: 2 processes (gloo, CPU) launched as torchrun does (RANK,
WORLD_SIZE, MASTER_ADDR, MASTER_PORT) train under DataParallel; the weights equal one
process training on the global batch, and only rank 0 writes the hub release."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import kbridge
from tests.distribution.mlp import build

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_job(directory, world=2):
    port = _free_port()
    procs = [subprocess.Popen(
        [sys.executable, os.path.join(HERE, "torch_job.py"), directory],
        env=dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                 MASTER_PORT=str(port), OMP_NUM_THREADS="1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(world)]
    results = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
    return [out for out, _ in results]


def test_ddp_equals_one_process_on_the_global_batch(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.normal(size=(64, 4)).astype("float32")
    init = [rng.normal(size=s).astype("float32") * 0.3 for s in [(6, 16), (16,), (16, 4), (4,)]]
    np.savez(tmp_path / "init.npz", x=x, y=y, **{f"w{i}": w for i, w in enumerate(init)})
    outputs = _run_job(str(tmp_path))
    assert any("rank 0/2 devices=['cpu:0', 'cpu:1']" in out for out in outputs)

    with kbridge.backend.use("torch"):
        model = build(init)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    final = np.load(tmp_path / "final.npz")
    trained = [final[f"arr_{i}"] for i in range(4)]
    for got, want, start in zip(trained, model.get_weights(), init):
        assert np.abs(got - start).max() > 1e-2  # it trained
        np.testing.assert_allclose(got, np.asarray(want), atol=1e-5)
    with kbridge.backend.use("torch"):
        loaded = kbridge.hub.load(str(tmp_path / "release"))
    for got, want in zip(loaded.get_weights(), trained):
        np.testing.assert_array_equal(np.asarray(got), want)


def test_fsdp_example_runs_on_cpu():
    run = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "torch_fsdp.py")],
                         capture_output=True, text=True, timeout=240, cwd=ROOT,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "parameters: DTensor [Shard(dim=0)]" in run.stdout
    diff = float(run.stdout.rsplit("difference", 1)[1])
    assert diff < 1e-5


def test_model_parallel_on_torch_points_to_fsdp(monkeypatch):
    torch = pytest.importorskip("torch")
    from kbridge import distribution as kd
    from kbridge.backend.torch import distribution_lib

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    mesh = kd.DeviceMesh((1,), ["batch"], ["cpu:0"])
    with kd.ModelParallel(layout_map=kd.LayoutMap(mesh)).scope():
        with pytest.raises(kd.DistributionError, match="fully_shard"):
            distribution_lib.ddp_active(object())
