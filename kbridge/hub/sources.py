"""Where a release comes from: a local directory, ``hf://org/name@rev``, or ``zoo:NAME``.

Source names are validated before anything is fetched: repository ids are ``org/name`` with
plain characters only (no ``..``, no absolute paths), revisions are plain ``/``-separated
names, zoo names are plain identifiers.
"""

import os
import re

from kbridge.hub.errors import ReleaseError
from kbridge.utils.optional import require

HF_PREFIX = "hf://"
ZOO_PREFIX = "zoo:"
# Hub repository names: letters, digits, '-', '_', '.', starting and ending with a letter, digit
# or '_'; no '--' or '..'; at most 96 characters.
_REPO_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
# A branch, tag or commit: path segments of plain characters (``refs/pr/1`` is fine).
_REVISION_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_ZOO_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,95}")
# The files a kbridge release or a Hugging Face checkpoint needs; nothing else is fetched (or
# published).
RELEASE_PATTERNS = ["config.json", "*.safetensors", "model.safetensors.index.json", "README.md",
                    "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                    "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                    "1_Pooling/config.json", "generation_config.json", "merges.txt",
                    "vocab.json", "preprocessor_config.json"]
_TRUE = ("1", "ON", "YES", "TRUE")


def _valid_repo_id(repo_id):
    parts = repo_id.split("/")
    return (len(parts) in (1, 2) and all(_REPO_PART.fullmatch(p) for p in parts)
            and not any(".." in p or "--" in p for p in parts))


def _valid_revision(revision):
    if len(revision) > 200 or revision.endswith(".lock"):
        return False
    return all(_REVISION_PART.fullmatch(part) and ".." not in part
               for part in revision.split("/"))


def parse_hf(source, revision=None):
    """``(repo_id, revision)`` of ``hf://org/name[@revision]``, validated.

    Nothing is fetched for a name that fails validation: the repository id and the revision
    become cache paths (``refs/<revision>``) and URL segments, so absolute paths, ``..``,
    empty segments, backslashes, control characters and percent-escapes are all refused.
    ``revision`` (if given) overrides the one in ``source``.
    """
    source = str(source)
    if not source.startswith(HF_PREFIX):
        raise ReleaseError(f"Invalid Hugging Face source {source!r}: expected hf://org/name")
    rest = source[len(HF_PREFIX):]
    repo_id, at, in_source = rest.partition("@")
    if not _valid_repo_id(repo_id):
        raise ReleaseError(
            f"Invalid Hugging Face source {source!r}: expected hf://org/name[@revision] with "
            "letters, digits, '-', '_' and '.' only (no '..', '--' or absolute paths)."
        )
    if at and not in_source:
        raise ReleaseError(f"Invalid Hugging Face source {source!r}: empty revision after '@'")
    revision = revision if revision is not None else (in_source or None)
    if revision is not None and (not isinstance(revision, str) or not _valid_revision(revision)):
        raise ReleaseError(
            f"Invalid revision {revision!r} for {source!r}: expected a branch, tag or commit "
            "made of letters, digits, '-', '_', '.' and '/'-separated parts (no '..', no "
            "leading or trailing '/')."
        )
    return repo_id, revision


def parse_zoo(source):
    name = source[len(ZOO_PREFIX):]
    if not _ZOO_NAME.fullmatch(name) or ".." in name:
        raise ReleaseError(f"Invalid model-zoo name {name!r}: expected lowercase letters, digits, "
                           "'-', '_' and '.'. See `kbridge hub list`.")
    return name


def offline():
    """Whether ``HF_HUB_OFFLINE`` is set now (huggingface_hub reads it only at import)."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    if env is not None:
        return env.upper() in _TRUE
    return bool(constants.HF_HUB_OFFLINE)


def _import_hub():
    require("huggingface_hub", "hf:// sources need huggingface_hub: pip install 'kbridge[hub]'",
            ReleaseError)


def transport_errors():
    """Connection-level errors huggingface_hub may let through (its HTTP library's, OSError)."""
    errors = [OSError]
    for module in ("httpx2", "httpx", "requests"):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        base = getattr(mod, "HTTPError", None) or getattr(
            getattr(mod, "exceptions", None), "RequestException", None)
        if isinstance(base, type) and issubclass(base, BaseException):
            errors.append(base)
    return tuple(errors)


def hub_error(source, error, action):
    """A ReleaseError naming ``source`` for an error of huggingface_hub."""
    from huggingface_hub import errors

    status = getattr(getattr(error, "response", None), "status_code", None)
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, errors.GatedRepoError):
        hint = "the repository is gated: accept its terms on the Hub and pass a token"
    elif isinstance(error, errors.RepositoryNotFoundError) or status == 401:
        hint = ("the repository does not exist, or it is private and no valid token was sent "
                "(pass token=..., set HF_TOKEN or run `hf auth login`)")
    elif isinstance(error, errors.RevisionNotFoundError):
        hint = "the revision (branch, tag or commit) does not exist"
    elif status == 403:
        hint = "the token is not allowed to do this (no write access, or not a member)"
    elif isinstance(error, errors.LocalEntryNotFoundError):
        hint = (f"not in the local cache and the Hub cannot be reached (HF_HUB_OFFLINE="
                f"{'1' if offline() else '0'})")
    else:
        hint = f"the Hub answered {status}" if status else "the Hub request failed"
    return ReleaseError(f"{source}: cannot {action}: {hint}. ({type(error).__name__}: {reason})")


def download_hf(source, token=None, cache_dir=None, force_download=False, revision=None):
    """Fetch a Hugging Face repo snapshot through ``huggingface_hub`` (its cache, its
    ``HF_ENDPOINT`` / token handling, its progress bars); only ``RELEASE_PATTERNS`` files.

    With ``HF_HUB_OFFLINE=1`` (read at call time) no request is made: the snapshot comes from
    the cache alone.
    """
    repo_id, revision = parse_hf(source, revision)
    _import_hub()
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError,
                                        OfflineModeIsEnabled)

    local_only = offline()
    try:
        path = snapshot_download(repo_id=repo_id, revision=revision, token=token,
                                 cache_dir=os.fspath(cache_dir) if cache_dir else None,
                                 allow_patterns=RELEASE_PATTERNS, force_download=force_download,
                                 local_files_only=local_only)
    except (HfHubHTTPError, EntryNotFoundError, OfflineModeIsEnabled) as e:
        raise hub_error(source, e, "download it") from None
    except transport_errors() + (ValueError,) as e:  # connection, cache, bad metadata
        raise ReleaseError(f"{source}: cannot download it: {type(e).__name__}: {e}") from None
    if not os.path.exists(os.path.join(path, "config.json")):
        raise ReleaseError(f"{source}: the repository has no config.json at revision "
                           f"{revision or 'main'}; not a kbridge release or a checkpoint "
                           "kbridge can convert")
    return path


def resolve(source, token=None, cache_dir=None, revision=None):
    """A local directory (or file) holding ``source``."""
    source = os.fspath(source)
    if source.startswith(HF_PREFIX):
        return download_hf(source, token=token, cache_dir=cache_dir, revision=revision)
    if source.startswith(ZOO_PREFIX):
        name = parse_zoo(source)
        try:
            import model_zoo
        except ImportError:
            raise ReleaseError("zoo: sources need the model_zoo package, installed with "
                               "kbridge") from None
        return model_zoo.resolve(name)
    if "://" in source:
        raise ReleaseError(f"Unknown source scheme in {source!r}: use a local path, "
                           "hf://org/name[@revision] or zoo:NAME")
    if not os.path.exists(source):
        raise ReleaseError(f"No release at {source!r}: the path does not exist")
    return source
