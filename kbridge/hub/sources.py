"""Where a release comes from: a local directory, ``hf://org/name@rev``, or ``zoo:NAME``.

Source names are validated before anything is fetched: repository ids are ``org/name`` with
plain characters only (no ``..``, no absolute paths), zoo names are plain identifiers.
"""

import os
import re

from kbridge.hub.errors import ReleaseError

HF_PREFIX = "hf://"
ZOO_PREFIX = "zoo:"
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_ZOO_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,95}$")
# The files a kbridge release or a Hugging Face checkpoint needs; nothing else is fetched.
RELEASE_PATTERNS = ["config.json", "*.safetensors", "model.safetensors.index.json", "README.md",
                    "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                    "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                    "1_Pooling/config.json", "generation_config.json", "merges.txt",
                    "vocab.json", "preprocessor_config.json"]


def parse_hf(source):
    """``(repo_id, revision)`` of ``hf://org/name[@revision]``, validated."""
    rest = source[len(HF_PREFIX):]
    repo_id, _, revision = rest.partition("@")
    parts = repo_id.split("/")
    if len(parts) not in (1, 2) or not all(_REPO_PART.match(p) for p in parts) or any(
            p in (".", "..") or ".." in p for p in parts):
        raise ReleaseError(
            f"Invalid Hugging Face source {source!r}: expected hf://org/name[@revision] with "
            "letters, digits, '-', '_' and '.' only (no '..' or absolute paths)."
        )
    if revision and (not re.match(r"^[A-Za-z0-9._/-]{1,200}$", revision) or ".." in revision):
        raise ReleaseError(f"Invalid revision {revision!r} in {source!r}")
    return repo_id, revision or None


def parse_zoo(source):
    name = source[len(ZOO_PREFIX):]
    if not _ZOO_NAME.match(name) or ".." in name:
        raise ReleaseError(f"Invalid model-zoo name {name!r}: expected lowercase letters, digits, "
                           "'-', '_' and '.'. See `kbridge hub list`.")
    return name


def download_hf(source, token=None, cache_dir=None, force_download=False):
    """Fetch a Hugging Face repo snapshot through ``huggingface_hub`` (its cache, its
    ``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` / token handling, its progress bars)."""
    repo_id, revision = parse_hf(source)
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ReleaseError("Loading hf:// sources needs huggingface_hub: "
                           "pip install 'kbridge[hub]'") from None
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return snapshot_download(repo_id=repo_id, revision=revision, token=token,
                                 cache_dir=cache_dir, allow_patterns=RELEASE_PATTERNS,
                                 force_download=force_download)
    except LocalEntryNotFoundError as e:
        raise ReleaseError(f"{source}: not in the local cache and the Hub cannot be reached "
                           f"(HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '0')}): {e}") from None
    except HfHubHTTPError as e:
        raise ReleaseError(f"{source}: the Hub refused the download: {e}") from None


def resolve(source, token=None, cache_dir=None):
    """A local directory (or file) holding ``source``."""
    source = os.fspath(source)
    if source.startswith(HF_PREFIX):
        return download_hf(source, token=token, cache_dir=cache_dir)
    if source.startswith(ZOO_PREFIX):
        name = parse_zoo(source)
        try:
            import model_zoo
        except ImportError:
            raise ReleaseError("zoo: sources need the model_zoo package, installed with kbridge") from None
        return model_zoo.resolve(name)
    if "://" in source:
        raise ReleaseError(f"Unknown source scheme in {source!r}: use a local path, "
                           "hf://org/name[@revision] or zoo:NAME")
    if not os.path.exists(source):
        raise ReleaseError(f"No release at {source!r}: the path does not exist")
    return source
