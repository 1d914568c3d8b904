"""get_file: cache lookup, file:// and http downloads, hashes, KERAS_HOME, safe extraction and
the error when nothing can be downloaded."""

import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import zipfile

import pytest

import kbridge
from kbridge.utils import file_utils
from kbridge.utils.file_utils import DownloadError, HashMismatchError, UnsafeArchiveError

get_file = kbridge.utils.get_file


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src" / "data.bin"
    path.parent.mkdir()
    path.write_bytes(b"kbridge data\n")
    return path


def test_file_origin_downloads_into_cache_then_reuses_it(tmp_path, source):
    cache = tmp_path / "cache"
    path = get_file("copy.bin", origin=source.as_uri(), cache_dir=cache,
                    file_hash=_sha256(source.read_bytes()))
    assert path == str(cache / "datasets" / "copy.bin")
    assert open(path, "rb").read() == source.read_bytes()
    source.unlink()  # the cached copy is used from now on
    assert get_file("copy.bin", origin=source.as_uri(), cache_dir=cache) == path
    with pytest.raises(DownloadError, match="copy.bin"):
        get_file("copy.bin", origin=source.as_uri(), cache_dir=cache, force_download=True)


def test_default_cache_follows_keras_home(tmp_path, source, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    path = get_file(origin=source.as_uri(), cache_subdir="models")
    assert path == str(tmp_path / "home" / "models" / "data.bin")
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    (tmp_path / "user").mkdir()
    assert file_utils.keras_home() == str(tmp_path / "user" / ".keras")


def test_hashes_are_checked(tmp_path, source):
    cache = tmp_path / "cache"
    data = source.read_bytes()
    with pytest.raises(HashMismatchError, match="does not match"):
        get_file("x.bin", origin=source.as_uri(), cache_dir=cache, file_hash="0" * 64)
    assert not (cache / "datasets" / "x.bin").exists()  # a bad download is not kept
    md5 = hashlib.md5(data).hexdigest()
    path = get_file("y.bin", origin=source.as_uri(), cache_dir=cache, md5_hash=md5)
    # a stale cached file (wrong hash) is downloaded again
    with open(path, "wb") as f:
        f.write(b"stale")
    path = get_file("y.bin", origin=source.as_uri(), cache_dir=cache, file_hash=md5)
    assert open(path, "rb").read() == data


def test_unreachable_origin_names_url_and_path(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/weights.h5"
    with pytest.raises(DownloadError) as info:
        get_file(origin=url, cache_dir=tmp_path)
    message = str(info.value)
    assert url in message and str(tmp_path / "datasets" / "weights.h5") in message
    assert not (tmp_path / "datasets" / "weights.h5").exists()


def test_http_download_from_loopback_server(tmp_path, source):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args):
            super().__init__(*args, directory=str(source.parent))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.bin"
        path = get_file(origin=url, cache_dir=tmp_path / "c",
                        file_hash=_sha256(source.read_bytes()))
        assert open(path, "rb").read() == source.read_bytes()
    finally:
        server.shutdown()
        server.server_close()


def _tar(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as tar:
        for name, data, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link or ""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_extracts_tar_and_zip(tmp_path):
    archive = tmp_path / "pack.tar.gz"
    _tar(archive, [("pack/a.txt", b"A", tarfile.REGTYPE, None),
                   ("pack/link", b"", tarfile.SYMTYPE, "a.txt")])
    out = get_file("pack.tar.gz", origin=archive.as_uri(), cache_dir=tmp_path / "c",
                   extract=True)
    assert out == str(tmp_path / "c" / "datasets" / "pack_extracted")
    assert open(os.path.join(out, "pack", "link")).read() == "A"
    zpath = tmp_path / "z.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("inner/b.txt", "B")
    out = get_file("zdir", origin=zpath.as_uri(), cache_dir=tmp_path / "c", extract=True)
    assert out == str(tmp_path / "c" / "datasets" / "zdir")
    assert os.path.exists(str(tmp_path / "c" / "datasets" / "zdir_archive"))
    assert open(os.path.join(out, "inner", "b.txt")).read() == "B"


@pytest.mark.parametrize("members", [
    [("../escape.txt", b"x", tarfile.REGTYPE, None)],
    [("/abs.txt", b"x", tarfile.REGTYPE, None)],
    [("ok/link", b"", tarfile.SYMTYPE, "../../outside")],
    [("ok/hard", b"", tarfile.LNKTYPE, "../outside")],
])
def test_refuses_tar_members_escaping_the_target(tmp_path, members):
    archive = tmp_path / "evil.tar"
    _tar(archive, members, mode="w")
    with pytest.raises(UnsafeArchiveError, match="outside"):
        get_file("evil.tar", origin=archive.as_uri(), cache_dir=tmp_path / "c", extract=True)
    assert not (tmp_path / "c" / "escape.txt").exists()
    assert not os.listdir(tmp_path / "c" / "datasets" / "evil_extracted")


def test_refuses_zip_members_escaping_the_target(tmp_path):
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("fine.txt", "ok")
        z.writestr("../../escape.txt", "x")
    with pytest.raises(UnsafeArchiveError, match="escape.txt"):
        get_file("evil.zip", origin=zpath.as_uri(), cache_dir=tmp_path / "c", extract=True)
    assert not (tmp_path / "escape.txt").exists()


def test_argument_errors(tmp_path):
    with pytest.raises(kbridge.errors.ArgumentError, match="origin"):
        get_file("a")
    with pytest.raises(kbridge.errors.ArgumentError, match="cache_dir"):
        get_file("sub/a", origin="file:///x", cache_dir=tmp_path)
