"""``get_file``: fetch a file into the Keras cache (``$KERAS_HOME`` or ``~/.keras``), verify
its hash and optionally extract it — refusing archive members that would land outside the
extraction directory."""

import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile

from kbridge.errors import ArgumentError, KbridgeError

__all__ = ["get_file"]


class DownloadError(KbridgeError, OSError):
    """A file is not in the cache and could not be downloaded."""


class HashMismatchError(KbridgeError, ValueError):
    """A downloaded file does not have the expected hash."""


class UnsafeArchiveError(KbridgeError, ValueError):
    """An archive member would be written outside the extraction directory."""


def keras_home():
    """Keras's cache root: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` when the home
    directory is not writable), as Keras decides it."""
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def _hasher(algorithm, file_hash=None):
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None
                                 and len(file_hash) == 64):
        return hashlib.sha256()
    if algorithm in ("md5", "auto"):
        return hashlib.md5()
    raise ArgumentError(f"`hash_algorithm` must be 'auto', 'sha256' or 'md5'. Received: "
                        f"hash_algorithm={algorithm!r}")


def hash_file(fpath, algorithm="sha256", chunk_size=65535):
    """The hex digest of a file ("sha256" or "md5")."""
    hasher = _hasher(algorithm)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
    """Whether the file's sha256 (64 hex digits) or md5 digest is ``file_hash``."""
    hasher = _hasher(algorithm, file_hash)
    return hash_file(fpath, hasher.name, chunk_size) == str(file_hash)


def _inside(base, relative):
    """The resolved path of ``relative`` under ``base``, or None if it escapes ``base``."""
    path = os.path.realpath(os.path.join(base, relative))
    try:
        return path if os.path.commonpath([path, base]) == base else None
    except ValueError:  # different drives
        return None


def _check_tar_member(member, base):
    if _inside(base, member.name) is None:
        return f"{member.name!r} would be written outside {base}"
    if member.issym():
        target = os.path.join(os.path.dirname(os.path.join(base, member.name)),
                              member.linkname)
        if _inside(base, target) is None:
            return f"{member.name!r} links to {member.linkname!r}, outside {base}"
    elif member.islnk() and _inside(base, member.linkname) is None:
        return f"{member.name!r} hard-links to {member.linkname!r}, outside {base}"
    elif not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return f"{member.name!r} is a device or FIFO"
    return None


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extracts a tar (plain, gz, bz2, xz) or zip archive into ``path``; returns whether the
    file was an archive of an accepted format. Any member that would land outside ``path``
    (``..``, absolute names, links pointing out) makes it raise ``UnsafeArchiveError`` before
    anything is written."""
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else archive_format
    formats = [formats] if isinstance(formats, str) else list(formats)
    file_path, path = os.fspath(file_path), os.fspath(path)
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise ArgumentError(f"`archive_format` must be 'auto', 'tar', 'zip' or None. "
                                f"Received: archive_format={archive_format!r}")
        if kind == "tar" and tarfile.is_tarfile(file_path):
            _extract_tar(file_path, path)
            return True
        if kind == "zip" and zipfile.is_zipfile(file_path):
            _extract_zip(file_path, path)
            return True
    return False


def _extract_tar(file_path, path):
    os.makedirs(path, exist_ok=True)
    base = os.path.realpath(path)
    with tarfile.open(file_path) as archive:
        members = archive.getmembers()
        problems = [p for p in (_check_tar_member(m, base) for m in members) if p]
        if problems:
            raise UnsafeArchiveError(f"Refusing to extract {file_path}: " + "; ".join(problems))
        try:
            archive.extractall(base, members=members, filter="data")
        except TypeError:  # Python without extraction filters; members are checked above
            archive.extractall(base, members=members)


def _extract_zip(file_path, path):
    os.makedirs(path, exist_ok=True)
    base = os.path.realpath(path)
    with zipfile.ZipFile(file_path) as archive:
        names = archive.namelist()
        bad = [n for n in names if _inside(base, n) is None]
        if bad:
            raise UnsafeArchiveError(f"Refusing to extract {file_path}: members {bad} would be "
                                     f"written outside {base}")
        archive.extractall(base)


def _download(origin, target, note=""):
    """Fetches ``origin`` (http, https, ftp or file URL) into ``target``, through a temporary
    file so an interrupted download never leaves a partial file under the cached name."""
    from kbridge.utils.progbar import Progbar

    folder = os.path.dirname(target)
    fd, partial = tempfile.mkstemp(prefix=".download-", dir=folder)
    os.close(fd)
    try:
        with urllib.request.urlopen(origin, timeout=60) as response, open(partial, "wb") as out:
            total = response.headers.get("Content-Length")
            bar = Progbar(int(total) if total else None)
            done = 0
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                done += len(chunk)
                bar.update(done)
        os.replace(partial, target)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(
            f"Could not download {origin} ({reason}). To use this file without a network, "
            f"download it elsewhere and place it at {target}{note}") from err
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """Returns the local path of ``origin``, downloading it into the cache only when missing.

    The file lands in ``cache_dir/cache_subdir/fname`` (``cache_dir`` defaults to
    ``$KERAS_HOME`` or ``~/.keras``; an absolute ``cache_subdir`` is used as is). A cached file
    whose hash differs from ``file_hash`` (sha256, or md5 when 32 hex digits) is downloaded
    again. With ``extract=True`` a tar/zip archive is unpacked safely and the extraction
    directory is returned. When the file cannot be downloaded (no network), the error names
    the URL and the exact path to place the file at.

    Example:
        >>> path = kbridge.utils.get_file(origin="https://example.com/data.csv")
        >>> # ~/.keras/datasets/data.csv
    """
    if origin is None:
        raise ArgumentError("get_file needs `origin`, the URL of the file to download.")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    base = os.path.expanduser(keras_home() if cache_dir is None else os.fspath(cache_dir))
    if not os.access(base, os.W_OK) and os.path.exists(base):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(),
                            ".keras")
    datadir = os.path.join(base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)

    name = os.fspath(fname) if fname else None
    if not name:
        name = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not name:
            raise ArgumentError(f"Cannot take a file name from origin={origin!r}; pass `fname`.")
    elif os.sep in name:
        raise ArgumentError(f"`fname` must be a file name, not a path (use `cache_dir`). "
                            f"Received: fname={name!r}")

    if extract or untar:
        if fname and "." in name:
            target = os.path.join(datadir, name)
            extraction_dir = os.path.join(datadir, f"{name[:name.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, name)
            target = os.path.join(datadir, f"{name}_archive")
    else:
        target = os.path.join(datadir, name)

    download = force_download or not os.path.exists(target)
    if not download and file_hash is not None and not validate_file(target, file_hash,
                                                                    hash_algorithm):
        print(f"The cached file {target} does not match the expected hash {file_hash}; "
              "downloading it again.")
        download = True
    if download:
        print(f"Downloading data from {origin}")
        stale = os.path.exists(target) and not force_download
        _download(origin, target, f" (the file there now does not match the expected hash "
                                  f"{file_hash})" if stale else "")
        if file_hash is not None and not validate_file(target, file_hash, hash_algorithm):
            os.remove(target)
            raise HashMismatchError(
                f"The file downloaded from {origin} to {target} does not match the expected "
                f"hash {file_hash}: it is incomplete or not the expected file.")

    if extract or untar:
        if not extract_archive(target, extraction_dir, "tar" if untar else archive_format):
            warnings.warn(f"Could not extract {target}: not a tar or zip archive.", stacklevel=2)
        return extraction_dir
    return target
