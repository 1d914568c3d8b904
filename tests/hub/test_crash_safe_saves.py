"""Saves that crash, fail or race readers never leave a path without a release, a mix of two
releases, or debris: kill -9 mid-save, a crash between the fallback's two renames, a full
disk, and readers loading a sharded release while another save replaces it."""

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import kbridge
from kbridge.hub import release as release_module
from kbridge.hub import safetensors_io
from kbridge.hub.errors import ReleaseError

X = np.random.default_rng(0).normal(size=(2, 16)).astype("float32")


def _model(seed):
    with kbridge.backend.use("numpy"):
        kbridge.utils.set_random_seed(seed)
        return kbridge.Sequential([kbridge.Input((16,)), kbridge.layers.Dense(64),
                                   kbridge.layers.Dense(64), kbridge.layers.Dense(4)],
                                  name="crash")


def _outputs(model):
    return model.predict(X, verbose=0)


def _debris(path):
    base = os.path.basename(path)
    return [n for n in os.listdir(os.path.dirname(path)) if n.startswith(f".{base}.")]


def _load(path):
    return kbridge.hub.load(str(path), backend="numpy")


def test_kill_9_in_the_middle_of_saves_leaves_a_whole_release(tmp_path):
    path = tmp_path / "release"
    versions = {seed: _outputs(_model(seed)) for seed in (1, 2)}
    kbridge.hub.save(_model(1), str(path))
    script = textwrap.dedent(f"""
        import kbridge, sys
        sys.path.insert(0, {os.getcwd()!r})
        from tests.hub.test_crash_safe_saves import _model
        models = [_model(1), _model(2)]
        print("ready", flush=True)
        i = 0
        while True:
            kbridge.hub.save(models[i % 2], {str(path)!r}, max_shard_size=20000)
            i += 1
    """)
    rng = np.random.default_rng(0)
    for _ in range(4):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                 env=dict(os.environ, KBRIDGE_BACKEND="numpy"))
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        child.send_signal(signal.SIGKILL)
        child.wait()
        out = _outputs(_load(path))  # a whole release: one version or the other
        assert any(np.array_equal(out, v) for v in versions.values())
    kbridge.hub.save(_model(1), str(path))  # the next save clears what the kills left
    assert _debris(path) == []
    np.testing.assert_array_equal(_outputs(_load(path)), versions[1])


def _dead_pid():
    pid = 999_999
    while release_module._alive(pid):
        pid -= 1
    return pid


def test_a_crash_between_the_fallback_renames_is_recovered(tmp_path, monkeypatch):
    path = tmp_path / "release"
    kbridge.hub.save(_model(1), str(path))
    monkeypatch.setattr(release_module, "_exchange", lambda a, b: False)
    real_rename = os.rename
    calls = []

    def crash_on_second(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between the renames")
        return real_rename(src, dst)

    monkeypatch.setattr(release_module.os, "rename", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        kbridge.hub.save(_model(2), str(path))
    monkeypatch.setattr(release_module.os, "rename", real_rename)
    assert not path.exists()
    # The crashed process is gone: give its leftovers a dead pid, as after a real kill.
    for name in _debris(str(path)):
        real_rename(tmp_path / name,
                    tmp_path / name.replace(f"-{os.getpid()}-", f"-{_dead_pid()}-"))
    release_module.recover(str(path))
    np.testing.assert_array_equal(_outputs(_load(path)), _outputs(_model(1)))
    assert _debris(str(path)) == []


def test_a_save_in_progress_elsewhere_is_left_alone(tmp_path):
    path = tmp_path / "release"
    kbridge.hub.save(_model(1), str(path))
    busy = tmp_path / f".release.tmp-{os.getppid()}-abc"  # a live process's save
    busy.mkdir()
    kbridge.hub.save(_model(2), str(path))
    assert busy.exists()


def test_a_full_disk_is_a_release_error_that_keeps_the_old_release(tmp_path, monkeypatch):
    path = tmp_path / "release"
    kbridge.hub.save(_model(1), str(path))

    def disk_full(file, tensors, metadata=None):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), file)

    monkeypatch.setattr(safetensors_io, "write", disk_full)
    with pytest.raises(ReleaseError, match="No space left on device") as info:
        kbridge.hub.save(_model(2), str(path))
    assert str(path) in str(info.value)
    assert _debris(str(path)) == []
    np.testing.assert_array_equal(_outputs(_load(path)), _outputs(_model(1)))


def test_an_unwritable_location_is_a_release_error_naming_it(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ReleaseError, match="file"):
        kbridge.hub.save(_model(1), str(tmp_path / "file" / "release"))


def test_shards_of_two_saves_are_refused_not_mixed(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    model = _model(1)
    kbridge.hub.save(model, str(a), max_shard_size=20000)
    model.set_weights([w + 1 for w in model.get_weights()])  # same config, other weights
    kbridge.hub.save(model, str(b), max_shard_size=20000)
    assert (a / "config.json").read_bytes() == (b / "config.json").read_bytes()
    shard = sorted(n for n in os.listdir(a) if n.startswith("model-"))[-1]
    shutil.copy(b / shard, a / shard)
    with pytest.raises(ReleaseError, match="different saves"):
        _load(a)


def test_readers_never_see_a_mix_while_a_save_replaces_the_release(tmp_path):
    path = tmp_path / "release"
    models = [_model(1), _model(2)]
    versions = [_outputs(m) for m in models]
    kbridge.hub.save(models[0], str(path), max_shard_size=20000)
    stop, seen, problems = threading.Event(), [], []

    def write():
        i = 1
        while not stop.is_set():
            kbridge.hub.save(models[i % 2], str(path), max_shard_size=20000)
            i += 1

    def read():
        while not stop.is_set():
            try:
                out = _outputs(_load(path))
            except ReleaseError as e:  # only after its retries: reported, never mixed
                problems.append(str(e))
                continue
            seen.append(next((i for i, v in enumerate(versions) if np.array_equal(out, v)),
                             "mixed"))

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read)
                                                  for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(4)
    stop.set()
    for t in threads:
        t.join()
    assert "mixed" not in seen
    assert len(seen) > 10 and not problems, problems[:3]


_READER = """
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
import kbridge
from kbridge.hub.errors import ReleaseError
from tests.hub.test_crash_safe_saves import X, _model
versions = [_model(1).predict(X, verbose=0), _model(2).predict(X, verbose=0)]
print("ready", flush=True)
sys.stdin.readline()
seen, problems = [], []
start = time.monotonic()
# At least {seconds} s, and until the second version has been seen (on a loaded machine the
# writer may take a while to start), up to a minute.
while time.monotonic() < start + {seconds} or (1 not in seen and time.monotonic() < start + 60):
    try:
        out = kbridge.hub.load({path!r}, backend="numpy").predict(X, verbose=0)
    except ReleaseError as e:
        problems.append(str(e))
        continue
    seen.append(next((i for i, v in enumerate(versions) if np.array_equal(out, v)), "mixed"))
print(json.dumps({{"seen": seen, "problems": problems[:3]}}))
"""


def test_eight_reader_processes_never_see_a_mix_while_another_process_saves(tmp_path):
    """The issue's reproducer: 8 processes load a sharded release while another process
    saves new versions over it; 14% of loads used to mix shards of two saves."""
    import json

    path = tmp_path / "release"
    kbridge.hub.save(_model(1), str(path), max_shard_size=20000)
    env = dict(os.environ, KBRIDGE_BACKEND="numpy")
    reader = _READER.format(root=os.getcwd(), path=str(path), seconds=3.0)
    writer = textwrap.dedent(f"""
        import kbridge, sys
        sys.path.insert(0, {os.getcwd()!r})
        from tests.hub.test_crash_safe_saves import _model
        models = [_model(1), _model(2)]
        i = 1
        while True:
            kbridge.hub.save(models[i % 2], {str(path)!r}, max_shard_size=20000)
            i += 1
    """)
    readers = [subprocess.Popen([sys.executable, "-c", reader], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env) for _ in range(8)]
    for r in readers:
        assert r.stdout.readline().strip() == b"ready"
    saving = subprocess.Popen([sys.executable, "-c", writer], env=env)
    try:
        for r in readers:
            r.stdin.write(b"go\n")
            r.stdin.flush()
        results = [json.loads(r.communicate(timeout=120)[0].decode().splitlines()[-1])
                   for r in readers]
    finally:
        saving.kill()
        saving.wait()
    seen = [s for result in results for s in result["seen"]]
    problems = [p for result in results for p in result["problems"]]
    assert "mixed" not in seen
    assert len(seen) >= 16 and not problems, problems[:3]
    assert set(seen) <= {0, 1}
    assert seen.count(1) > 0  # the second version was saved while the readers read
