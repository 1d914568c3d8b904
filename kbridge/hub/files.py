"""Opening the files of a release as what they claim to be: regular files of bounded size.

A release comes from strangers. A FIFO named ``model.safetensors`` would block a reader
forever, a symlink to ``/dev/zero`` would read until memory runs out, a directory would raise
``IsADirectoryError`` from deep inside a parser. Every file of a release is opened here: the
path may be a symlink (the Hugging Face cache links to blobs), but what it names must be a
regular file, and it is opened without blocking and checked again on the open descriptor.
"""

import os
import stat

from kbridge.hub.errors import ReleaseError

__all__ = ["MAX_JSON_BYTES", "open_regular", "read_regular"]

# config.json, the shard index and the model card: small files (a vocabulary in a layer
# config is the largest thing they hold).
MAX_JSON_BYTES = 256 * 1024 * 1024


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path):
    """``open(path, "rb")`` for a regular file; ReleaseError (naming the file and what it is
    instead) for anything else, without ever blocking on it."""
    name = os.path.basename(path) or path
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ReleaseError(f"{name} is missing from {os.path.dirname(path)}") from None
    except OSError as e:
        raise ReleaseError(f"{name}: cannot read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ReleaseError(f"{name} must be a regular file; it is {_kind(st.st_mode)}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise ReleaseError(f"{name}: cannot read ({e.strerror})") from None
    st = os.fstat(fd)  # the file may have been swapped between stat and open
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ReleaseError(f"{name} must be a regular file; it is {_kind(st.st_mode)}")
    return os.fdopen(fd, "rb")


def read_regular(path, max_bytes=MAX_JSON_BYTES):
    """The bytes of the regular file ``path``, refusing one larger than ``max_bytes``."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise ReleaseError(f"{os.path.basename(path)} is {size} bytes; files of this kind "
                               f"are at most {max_bytes} bytes")
        data = f.read(min(size, max_bytes) + 1)  # (read(n) reserves n bytes up front)
    if len(data) > max_bytes:
        raise ReleaseError(f"{os.path.basename(path)} grew past {max_bytes} bytes while read")
    return data
