"""``hf_server``: a loopback Hugging Face Hub, with huggingface_hub pointed at it."""

import os

import pytest

from tests.hub.hf_server import HubServer


def point_huggingface_hub_at(monkeypatch, endpoint, home, offline=False):
    """Point ``huggingface_hub`` at ``endpoint`` with its cache and token files under ``home``.

    huggingface_hub reads its environment once, at import, into ``huggingface_hub.constants``;
    so the environment (for subprocesses) and the constants (for this process) are both set.
    No token leaks in from the machine: HF_TOKEN is removed and the token file is ``home``'s.
    """
    hub_cache = os.path.join(home, "hub")
    env = {
        "HF_ENDPOINT": endpoint, "HF_HOME": home, "HF_HUB_CACHE": hub_cache,
        "HF_XET_CACHE": os.path.join(home, "xet"), "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "1" if offline else "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_DISABLE_IMPLICIT_TOKEN",
                "TRANSFORMERS_OFFLINE", "HF_HUB_ETAG_TIMEOUT", "HUGGINGFACE_HUB_CACHE",
                "HF_HUB_ENABLE_HF_TRANSFER"):
        monkeypatch.delenv(key, raising=False)

    from huggingface_hub import constants

    token_path = os.path.join(home, "token")
    values = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": home, "HF_HUB_CACHE": hub_cache, "HUGGINGFACE_HUB_CACHE": hub_cache,
        "HF_XET_CACHE": env["HF_XET_CACHE"], "HF_TOKEN_PATH": token_path,
        "HF_STORED_TOKENS_PATH": os.path.join(home, "stored_tokens"),
        "HF_HUB_OFFLINE": offline, "HF_HUB_DISABLE_XET": True, "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": False,
    }
    for name, value in values.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    return env


@pytest.fixture
def hf_server(tmp_path, monkeypatch):
    """A fresh in-memory Hub on 127.0.0.1; huggingface_hub uses it and a cache under tmp_path.

    ``hf_server.home`` is the HF_HOME in use; ``hf_server.env`` the environment variables set
    (for subprocesses).
    """
    pytest.importorskip("huggingface_hub")
    server = HubServer().start()
    home = str(tmp_path / "hf_home")
    os.makedirs(home)
    server.home = home
    server.env = point_huggingface_hub_at(monkeypatch, server.url, home)
    try:
        yield server
    finally:
        server.stop()
