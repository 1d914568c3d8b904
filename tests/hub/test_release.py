"""Releases: save on any backend, load on every backend, bit-identical; integrity and safety."""

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kbridge
from kbridge import ops
from kbridge.hub import ReleaseError, safetensors_io
from tests.conftest import BACKENDS
from tests.models.test_models import Affine, X


def _model(units=(5, 2), dtype=None, name="net"):
    layers = [kbridge.Input((3,))] + [Affine(u, dtype=dtype) for u in units]
    return kbridge.Sequential(layers, name=name)


@pytest.mark.parametrize("source_backend", BACKENDS)
def test_save_anywhere_load_everywhere(tmp_path, source_backend):
    with kbridge.backend.use(source_backend):
        model = _model()
        expected = ops.convert_to_numpy(model(X))
    kbridge.hub.save(model, tmp_path / "rel")
    assert sorted(os.listdir(tmp_path / "rel")) == ["README.md", "config.json", "model.safetensors"]
    for backend in BACKENDS:
        loaded = kbridge.hub.load(tmp_path / "rel", backend=backend)
        assert loaded.backend_name == backend
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
        np.testing.assert_allclose(ops.convert_to_numpy(loaded(X)), expected, rtol=1e-5, atol=1e-6)


def test_release_format(tmp_path):
    model = _model()
    kbridge.hub.save(model, tmp_path / "rel", card={"metrics": {"accuracy": 0.5}})
    config = json.loads((tmp_path / "rel" / "config.json").read_text())
    assert config["format"] == "kbridge" and config["format_version"] == 1
    assert config["class"] == "Sequential" and config["kbridge_version"] == kbridge.__version__
    meta = safetensors_io.metadata(str(tmp_path / "rel" / "model.safetensors"))
    assert meta["format"] == "kbridge" and len(meta["config_sha256"]) == 64
    card = (tmp_path / "rel" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: kbridge\n") and "accuracy" in card
    # the real safetensors library reads our files
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    theirs = safetensors_numpy.load_file(str(tmp_path / "rel" / "model.safetensors"))
    assert set(theirs) == {w.path for w in model.weights}


def test_sharded_release(tmp_path, backend):
    model = _model(units=(64, 64, 2))
    kbridge.hub.save(model, tmp_path / "rel", max_shard_size="8KB")
    files = sorted(os.listdir(tmp_path / "rel"))
    shards = [f for f in files if f.startswith("model-")]
    assert len(shards) > 1 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    index = json.loads((tmp_path / "rel" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == {w.path for w in model.weights}
    loaded = kbridge.hub.load(tmp_path / "rel", backend=backend)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_bfloat16_release_kept_as_saved(tmp_path, backend):
    model = _model(dtype="bfloat16")
    assert model.weights[0].dtype == "bfloat16"
    kbridge.hub.save(model, tmp_path / "rel")
    header, _, _ = safetensors_io.read_header(str(tmp_path / "rel" / "model.safetensors"))
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"BF16"}
    loaded = kbridge.hub.load(tmp_path / "rel", backend=backend)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert str(a.dtype) == "bfloat16" and a.tobytes() == b.tobytes()


def test_save_pretrained_and_from_pretrained(tmp_path):
    model = _model()
    model.save_pretrained(tmp_path / "rel")
    loaded = kbridge.Model.from_pretrained(str(tmp_path / "rel"), backend="numpy")
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]


@pytest.fixture
def release(tmp_path):
    kbridge.hub.save(_model(), tmp_path / "rel")
    return tmp_path / "rel"


def _weights_file(release):
    return release / "model.safetensors"


def test_truncated_weights(release):
    data = _weights_file(release).read_bytes()
    _weights_file(release).write_bytes(data[:-10])
    with pytest.raises(ReleaseError, match="model.safetensors.*truncated"):
        kbridge.hub.load(release, backend="numpy")


def test_header_length_past_file(release):
    data = _weights_file(release).read_bytes()
    _weights_file(release).write_bytes(struct.pack("<Q", 10**9) + data[8:])
    with pytest.raises(ReleaseError, match="header length .* past the end"):
        kbridge.hub.load(release, backend="numpy")


def test_bad_json_config(release):
    (release / "config.json").write_text("{not json")
    with pytest.raises(ReleaseError, match="config.json: not valid JSON"):
        kbridge.hub.load(release, backend="numpy")


def test_checksum_mismatch(release):
    config = json.loads((release / "config.json").read_text())
    config["config"]["name"] = "renamed"
    (release / "config.json").write_text(json.dumps(config))
    with pytest.raises(ReleaseError, match="checksum mismatch"):
        kbridge.hub.load(release, backend="numpy")


def _rewrite_weights(release, edit):
    path = str(_weights_file(release))
    arrays = {k: np.array(v) for k, v in safetensors_io.read(path).items()}
    meta = safetensors_io.metadata(path)
    edit(arrays)
    safetensors_io.write(path, arrays, meta)


def test_missing_weight(release):
    _rewrite_weights(release, lambda a: a.pop(sorted(a)[0]))
    with pytest.raises(ReleaseError, match="missing weights"):
        kbridge.hub.load(release, backend="numpy")


def test_extra_weight(release):
    _rewrite_weights(release, lambda a: a.update(stray=np.zeros(2, "float32")))
    with pytest.raises(ReleaseError, match="does not have.*stray"):
        kbridge.hub.load(release, backend="numpy")


def test_shape_and_dtype_disagreeing_with_architecture(release):
    key = "net/affine"  # any kernel: find it by prefix
    def wrong_shape(arrays):
        k = next(k for k in sorted(arrays) if k.endswith("kernel"))
        arrays[k] = np.zeros((7, 7), "float32")
    _rewrite_weights(release, wrong_shape)
    with pytest.raises(ReleaseError, match="has shape \\(7, 7\\)"):
        kbridge.hub.load(release, backend="numpy")
    assert key


def test_dtype_disagreeing_with_architecture(release):
    def wrong_dtype(arrays):
        k = next(k for k in sorted(arrays) if k.endswith("bias"))
        arrays[k] = arrays[k].astype("float64")
    _rewrite_weights(release, wrong_dtype)
    with pytest.raises(ReleaseError, match="dtype float64"):
        kbridge.hub.load(release, backend="numpy")


def test_index_naming_missing_shard(tmp_path):
    kbridge.hub.save(_model(units=(64, 64, 2)), tmp_path / "rel", max_shard_size="8KB")
    shards = sorted(p for p in os.listdir(tmp_path / "rel") if p.startswith("model-"))
    os.remove(tmp_path / "rel" / shards[-1])
    with pytest.raises(ReleaseError, match="names shard .* missing"):
        kbridge.hub.load(tmp_path / "rel", backend="numpy")


def _write_config(release, config):
    """Replace config.json and re-seal the weights' checksum, as a hostile author would."""
    data = json.dumps(config).encode()
    (release / "config.json").write_bytes(data)
    _rewrite_weights(release, lambda arrays: None)
    path = str(_weights_file(release))
    arrays = {k: np.array(v) for k, v in safetensors_io.read(path).items()}
    safetensors_io.write(path, arrays, {"format": "kbridge",
                                        "config_sha256": hashlib.sha256(data).hexdigest()})


def test_unknown_class_refused(release):
    config = json.loads((release / "config.json").read_text())
    config["class"] = "EvilLayer"
    _write_config(release, config)
    with pytest.raises(kbridge.KbridgeError, match="Unknown class 'EvilLayer'"):
        kbridge.hub.load(release, backend="numpy")


def test_module_paths_in_configs_are_never_imported(release, monkeypatch):
    config = json.loads((release / "config.json").read_text())
    config["config"]["layers"][1]["module"] = "os"
    config["config"]["layers"][1]["class_name"] = "system"
    config["config"]["layers"][1]["registered_name"] = None
    _write_config(release, config)
    with pytest.raises(kbridge.KbridgeError, match="Unknown class 'system'"):
        kbridge.hub.load(release, backend="numpy")


def test_unsafe_layer_refused_unless_safe_mode_off(tmp_path):
    @kbridge.saving.register_kbridge_serializable(package="tests")
    class RunsCode(Affine):
        _unsafe_to_deserialize = True

    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((3,)), RunsCode(2)])
    kbridge.hub.save(model, tmp_path / "rel")
    with pytest.raises(kbridge.KbridgeError, match="safe_mode=False"):
        kbridge.hub.load(tmp_path / "rel", backend="numpy")
    kbridge.hub.load(tmp_path / "rel", backend="numpy", safe_mode=False)


@pytest.mark.parametrize("source", ["hf://../../etc", "hf:///abs/path", "hf://org/../x",
                                    "hf://a/b/c", "zoo:../x", "zoo:/etc/passwd", "ftp://x"])
def test_source_names_validated(source):
    with pytest.raises(ReleaseError):
        kbridge.hub.load(source)


def test_killed_save_keeps_previous_release(tmp_path):
    target = tmp_path / "rel"
    kbridge.hub.save(_model(), target)
    before = {p: (target / p).read_bytes() for p in os.listdir(target)}
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {os.getcwd()!r})
        import kbridge
        from kbridge.hub import safetensors_io
        from tests.models.test_models import Affine
        real_write = safetensors_io.write
        def slow_write(*a, **k):
            real_write(*a, **k)
            print("written", flush=True)
            time.sleep(60)
        safetensors_io.write = slow_write
        with kbridge.backend.use("numpy"):
            model = kbridge.Sequential([kbridge.Input((3,)), Affine(9)], name="other")
        kbridge.hub.save(model, {str(target)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = {p: (target / p).read_bytes() for p in os.listdir(target)}
    assert after == before
    kbridge.hub.load(target, backend="numpy")
