"""``kbridge.hub``: save, load and publish backend-neutral releases.

Example:
    >>> kbridge.hub.save(model, "releases/digits-cnn")
    >>> model = kbridge.hub.load("releases/digits-cnn", backend="torch")
    >>> model = kbridge.hub.load("hf://org/name@main", backend="jax")
    >>> model = kbridge.hub.load("zoo:digits-cnn")
    >>> kbridge.hub.publish(model, "hf://org/name")
"""

import contextlib
import os
import shutil
import tempfile

from kbridge.hub import sources
from kbridge.hub.errors import ReleaseError
from kbridge.hub.limits import LimitExceeded, Limits
from kbridge.hub.release import CONFIG_FILE, load_release, read_json, save

__all__ = ["LimitExceeded", "Limits", "ReleaseError", "inspect", "load", "load_adapter",
           "publish", "save"]

# Loaders for checkpoints that are not kbridge releases: name -> (detect(dir), load(dir, backend)).
# The model zoo registers Hugging Face architectures here; Keras files are handled below.
_CHECKPOINT_LOADERS = {}


def register_checkpoint_loader(name, detect, loader):
    """Let ``load`` read another checkpoint layout (used by model_zoo converters).

    ``detect(path, config)`` says whether the directory is such a checkpoint;
    ``loader(path, backend, quantize=None)`` returns the model, quantizing each layer as its
    weight arrives when ``quantize`` is given (``model_zoo.hf_checkpoint.assign`` does it)."""
    _CHECKPOINT_LOADERS[name] = (detect, loader)


def load_adapter(model, path):
    """Load a PEFT LoRA adapter directory onto ``model`` (see ``kbridge.hub.peft``)."""
    from kbridge.hub import peft

    return peft.load_adapter(model, path)


def _load_directory(path, backend, custom_objects, safe_mode, limits=None, quantize=None):
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.exists(config_path):
        raise ReleaseError(f"{path}: no {CONFIG_FILE}; not a kbridge release or a checkpoint "
                           "kbridge can convert")
    config = read_json(config_path)
    if isinstance(config, dict) and config.get("format") == "kbridge":
        return load_release(path, backend=backend, custom_objects=custom_objects,
                            safe_mode=safe_mode, limits=limits, quantize=quantize)
    _ensure_zoo_loaders()
    for detect, loader in _CHECKPOINT_LOADERS.values():
        if detect(path, config):
            from kbridge.errors import KbridgeError
            from kbridge.hub import release

            # The architecture may not ask for more memory than the checkpoint holds, and
            # weights the checkpoint fills are never randomly initialised.
            try:
                budget = release.checkpoint_budget(path, config_path, limits)
            except LimitExceeded:
                raise
            except ReleaseError:  # no readable weights: the converter says what is wrong
                budget = None
            with budget or contextlib.nullcontext():
                try:
                    model = loader(path, backend, quantize=quantize)
                except KbridgeError:
                    raise
                except (Exception, RecursionError) as e:  # noqa: BLE001 - a hostile config
                    raise ReleaseError(f"{config_path}: the checkpoint cannot be converted "
                                       f"({type(e).__name__}: {str(e)[:300]})") from None
            if budget is not None:
                from kbridge.backend.common import context

                with context.use(backend or context.get()):
                    budget.initialize_unassigned()  # e.g. a new head the checkpoint lacks
            return model
    model_type = config.get("model_type") if isinstance(config, dict) else None
    raise ReleaseError(f"{config_path}: not a kbridge release, and model_type={model_type!r} "
                       "has no converter in the model zoo")


def _ensure_zoo_loaders():
    try:
        import model_zoo  # noqa: F401  (registers its converters on import)
    except ImportError:
        pass


def load(source, backend=None, custom_objects=None, safe_mode=True, token=None, cache_dir=None,
         revision=None, limits=None, quantize=None, adapter=None):
    """Load a model from ``source`` on ``backend`` (default: the active backend).

    Args:
        source: a release directory, ``hf://org/name[@revision]``, ``zoo:NAME``, a Hugging
            Face checkpoint directory whose ``model_type`` the model zoo converts, or a Keras
            3 ``.keras`` / ``.weights.h5`` file.
        backend: "numpy", "jax", "torch" or "tensorflow".
        custom_objects: ``{"ClassName": cls}`` for classes not registered with kbridge.
        safe_mode: refuse configs that would run stored code (Lambda layers).
        token: Hugging Face token for private repos (else HF_TOKEN / the saved login).
        cache_dir: huggingface_hub cache for ``hf://`` sources (default: its own, HF_HUB_CACHE).
        revision: branch, tag or commit of an ``hf://`` source (overrides ``@revision``).
        limits: a :class:`Limits` of ceilings (largest tensor, total bytes, tensor and
            layer counts), checked on headers and config before anything is built or read.
        quantize: "int8", "int4" or "float8": quantize the Dense / EinsumDense / Embedding
            layers. Releases and converted checkpoints are quantized layer by layer while
            their weights stream in (one float weight held at a time); ``.keras`` files
            after loading.
        adapter: a PEFT LoRA adapter directory to load onto the model (``load_adapter``).

    ``hf://`` sources are fetched with huggingface_hub (only the release files); with
    ``HF_HUB_OFFLINE=1`` they come from its cache without any request.
    Loading never runs code from the release: only registered classes are constructed.
    """
    from kbridge.hub import limits as _limits

    limits = _limits.standardize(limits)
    if quantize is not None:
        from kbridge import quantizers

        quantizers._check_mode(quantize)
    path = sources.resolve(source, token=token, cache_dir=cache_dir, revision=revision)
    model = None
    if os.path.isdir(path):
        model = _load_directory(path, backend, custom_objects, safe_mode, limits, quantize)
    elif path.endswith(".keras") or path.endswith(".weights.h5"):
        from kbridge.saving import keras_import

        model = keras_import.load(path, backend=backend, custom_objects=custom_objects,
                                  safe_mode=safe_mode)
    if model is not None:
        from kbridge.hub import release

        if quantize is not None and release._quantizable(model, quantize):
            model.quantize(quantize)  # a checkpoint or .keras file: after loading
        if adapter is not None:
            load_adapter(model, adapter)
        return model
    raise ReleaseError(f"{path}: expected a release directory, a .keras file or a "
                       ".weights.h5 file")


def publish(model_or_dir, target, token=None, private=False, revision=None,
            commit_message=None, card=None, max_shard_size="5GB"):
    """Upload a model (saved first) or a release directory to ``hf://org/name``.

    Creates the repository if needed (``private``; ignored if it exists), the branch
    ``revision`` (or ``hf://org/name@revision``) if given, then uploads config, weights and
    model card in one commit; files a release does not need (``sources.RELEASE_PATTERNS``) are
    left out. ``private=True`` refuses to upload into an existing public repository.
    Returns the commit URL. Errors (bad target, no token, no write access) are
    ``ReleaseError`` naming the target; the target is validated before any request.
    """
    if not str(target).startswith(sources.HF_PREFIX):
        raise ReleaseError(f"publish() targets hf://org/name. Received: {target!r}; to write "
                           "a local release use kbridge.hub.save")
    repo_id, revision = sources.parse_hf(str(target), revision)
    if isinstance(model_or_dir, (str, os.PathLike)):
        folder = os.fspath(model_or_dir)
        if not os.path.isdir(folder):
            raise ReleaseError(f"publish(): {folder!r} is not a release directory")
        read_json(os.path.join(folder, CONFIG_FILE))
        from kbridge.hub import release

        release.weight_files(folder)  # the weights are there (one file, or every shard)
    sources._import_hub()
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    tmp = None
    try:
        if not isinstance(model_or_dir, (str, os.PathLike)):
            tmp = tempfile.mkdtemp(prefix="kbridge-publish-")
            folder = save(model_or_dir, os.path.join(tmp, "release"), card=card,
                          max_shard_size=max_shard_size)
        step = "create the repository"
        try:
            api.create_repo(repo_id=repo_id, private=private, exist_ok=True)
            if private and api.repo_info(repo_id=repo_id).private is False:
                raise ReleaseError(f"{target}: private=True, but the repository already exists "
                                   "and is public; nothing was uploaded")
            if revision and revision != "main":
                step = f"create the branch {revision!r}"
                api.create_branch(repo_id=repo_id, branch=revision, exist_ok=True)
            step = "upload the release"
            info = api.upload_folder(repo_id=repo_id, folder_path=folder, revision=revision,
                                     allow_patterns=sources.RELEASE_PATTERNS,
                                     commit_message=commit_message or "Upload kbridge release")
        except HfHubHTTPError as e:
            raise sources.hub_error(target, e, step) from None
        except ReleaseError:
            raise
        except sources.transport_errors() + (ValueError,) as e:  # connection, invalid card
            raise ReleaseError(f"{target}: cannot {step}: {type(e).__name__}: {e}") from None
        return getattr(info, "commit_url", str(info))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def inspect(source, token=None, cache_dir=None, revision=None):
    """A dict describing a release: class, parameter count, dtypes, shards, card."""
    from kbridge.hub import release, safetensors_io

    path = sources.resolve(source, token=token, cache_dir=cache_dir, revision=revision)
    config = read_json(os.path.join(path, CONFIG_FILE))
    files, _ = release.weight_files(path)
    params, dtypes, nbytes = 0, {}, 0
    for f in files:
        header, _, _ = safetensors_io.read_header(f)
        for key, info in header.items():
            if key == "__metadata__":
                continue
            n = 1
            for d in info["shape"]:
                n *= d
            params += n
            dtypes[info["dtype"]] = dtypes.get(info["dtype"], 0) + 1
            nbytes += info["data_offsets"][1] - info["data_offsets"][0]
    card_path = os.path.join(path, release.CARD_FILE)
    card = None
    if os.path.exists(card_path):
        from kbridge.hub.files import read_regular

        card = read_regular(card_path).decode("utf-8", errors="replace")
    return {
        "source": str(source),
        "path": path,
        "format": config.get("format"),
        "class": config.get("class") or config.get("model_type"),
        "parameters": params,
        "bytes": nbytes,
        "dtypes": dtypes,
        "shards": [os.path.basename(f) for f in files],
        "kbridge_version": config.get("kbridge_version"),
        "card": card,
    }
