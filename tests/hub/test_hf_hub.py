"""``hf://`` sources through the real huggingface_hub client, against a loopback Hub.

Publish on one backend, load on every backend bit for bit; branches; the offline cache;
private repositories; the command line; sharded releases; names refused before any request.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import kbridge
from kbridge import cli, ops
from kbridge.hub import ReleaseError
from tests.conftest import BACKENDS
from tests.hub.test_release import _model
from tests.models.test_models import X

pytest.importorskip("huggingface_hub")

TOKEN = "hf_test_owner_token"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _random_model(seed, units=(5, 2), backend="numpy"):
    """A small Sequential whose weights are all drawn from ``seed`` (no zero biases)."""
    with kbridge.backend.use(backend):
        model = _model(units=units)
        rng = np.random.default_rng(seed)
        model.set_weights([rng.normal(size=w.shape).astype(w.dtype)
                           for w in model.get_weights()])
    return model


def _outputs(model):
    with kbridge.backend.use(model.backend_name):
        return ops.convert_to_numpy(model(X))


def _assert_same(loaded, model, backend):
    assert loaded.backend_name == backend
    theirs, ours = loaded.get_weights(), model.get_weights()
    assert len(theirs) == len(ours)
    for a, b in zip(theirs, ours):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    np.testing.assert_allclose(_outputs(loaded), _outputs(model), rtol=1e-5, atol=1e-5)


def _paths(server):
    return [path for _, path, _ in server.requests]


# --- publish on one backend, load on all -------------------------------------------------
@pytest.mark.parametrize("source_backend", BACKENDS)
def test_publish_then_load_on_every_backend(hf_server, tmp_path, source_backend):
    model = _random_model(1, backend=source_backend)
    url = kbridge.hub.publish(model, "hf://org/name", token=TOKEN, private=True,
                              commit_message="first kbridge release")
    commit = hf_server.commit("org/name")
    assert url == f"{hf_server.url}/org/name/commit/{commit['sha']}"
    assert commit["summary"] == "first kbridge release"
    assert sorted(commit["files"]) == [".gitattributes", "README.md", "config.json",
                                       "model.safetensors"]
    assert hf_server.repos["org/name"].private
    config = json.loads(commit["files"]["config.json"])
    assert config["format"] == "kbridge" and config["class"] == "Sequential"
    assert commit["files"]["README.md"].startswith(b"---\nlibrary_name: kbridge\n")
    # every request of the publish carried the token
    assert hf_server.requests and all(auth == f"Bearer {TOKEN}"
                                      for _, _, auth in hf_server.requests)

    for backend in BACKENDS:
        hf_server.requests.clear()
        cache = tmp_path / f"cache-{backend}"  # a fresh cache per backend: a real download
        loaded = kbridge.hub.load("hf://org/name", backend=backend, token=TOKEN, cache_dir=cache)
        _assert_same(loaded, model, backend)
        gets = [p for m, p, _ in hf_server.requests if m == "GET" and "/resolve/" in p]
        # only the release files are fetched, never .gitattributes
        assert sorted(p.rsplit("/", 1)[1] for p in gets) == ["README.md", "config.json",
                                                             "model.safetensors"]
        snapshot = cache / "models--org--name" / "snapshots" / commit["sha"]
        assert sorted(os.listdir(snapshot)) == ["README.md", "config.json", "model.safetensors"]


def test_default_cache_is_huggingface_hubs(hf_server):
    model = _random_model(2)
    kbridge.hub.publish(model, "hf://org/pub", token=TOKEN)  # public
    loaded = kbridge.hub.load("hf://org/pub", backend="numpy")  # no token needed
    _assert_same(loaded, model, "numpy")
    assert os.path.isdir(os.path.join(hf_server.home, "hub", "models--org--pub", "snapshots"))


# --- revisions ----------------------------------------------------------------------------
def test_publish_and_load_a_branch(hf_server):
    main_model, dev_model, exp_model = (_random_model(s) for s in (10, 11, 12))
    kbridge.hub.publish(main_model, "hf://org/name", token=TOKEN, private=True)
    kbridge.hub.publish(dev_model, "hf://org/name@dev", token=TOKEN)
    kbridge.hub.publish(exp_model, "hf://org/name", token=TOKEN, revision="feature/exp")
    repo = hf_server.repos["org/name"]
    assert set(repo.branches) == {"main", "dev", "feature/exp"}
    # branches start from main
    assert repo.commits[repo.branches["dev"]]["parent"] == repo.branches["main"]

    for backend in ("numpy", BACKENDS[-1]):
        _assert_same(kbridge.hub.load("hf://org/name", backend=backend, token=TOKEN),
                     main_model, backend)
        _assert_same(kbridge.hub.load("hf://org/name@dev", backend=backend, token=TOKEN),
                     dev_model, backend)
        _assert_same(kbridge.hub.load("hf://org/name", backend=backend, token=TOKEN,
                                      revision="feature/exp"), exp_model, backend)
    # a commit id is a revision too
    sha = repo.branches["dev"]
    _assert_same(kbridge.hub.load(f"hf://org/name@{sha}", backend="numpy", token=TOKEN),
                 dev_model, "numpy")
    info = kbridge.hub.inspect("hf://org/name@dev", token=TOKEN)
    assert info["class"] == "Sequential" and info["parameters"] == 32

    with pytest.raises(ReleaseError, match=r"hf://org/name@nope.*revision"):
        kbridge.hub.load("hf://org/name@nope", backend="numpy", token=TOKEN)


def test_republishing_the_same_release_makes_no_commit(hf_server, tmp_path):
    model = _random_model(3)
    kbridge.hub.save(model, tmp_path / "rel")
    first = kbridge.hub.publish(tmp_path / "rel", "hf://org/name", token=TOKEN)
    commits = len(hf_server.repos["org/name"].commits)
    second = kbridge.hub.publish(tmp_path / "rel", "hf://org/name", token=TOKEN)
    assert second == first and len(hf_server.repos["org/name"].commits) == commits


# --- offline -----------------------------------------------------------------------------
def test_offline_loads_from_the_cache_without_a_request(hf_server, monkeypatch):
    model = _random_model(4)
    kbridge.hub.publish(model, "hf://org/name", token=TOKEN, private=True)
    kbridge.hub.publish(_random_model(5), "hf://org/name@dev", token=TOKEN)
    kbridge.hub.load("hf://org/name", backend="numpy", token=TOKEN)  # fills the cache

    hf_server.requests.clear()
    hf_server.refuse = True  # any request now gets a 503
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # after import: kbridge reads it at call time
    for backend in BACKENDS:
        _assert_same(kbridge.hub.load("hf://org/name", backend=backend), model, backend)
    assert kbridge.hub.inspect("hf://org/name")["parameters"] == 32
    # never downloaded: a clear error, still no request
    with pytest.raises(ReleaseError, match=r"hf://org/name@dev.*local cache.*HF_HUB_OFFLINE=1"):
        kbridge.hub.load("hf://org/name@dev", backend="numpy")
    assert hf_server.requests == []


def test_offline_in_a_fresh_process_with_the_server_gone(hf_server, tmp_path):
    model = _random_model(6)
    kbridge.hub.save(model, tmp_path / "rel")
    kbridge.hub.publish(tmp_path / "rel", "hf://org/name", token=TOKEN, private=True)
    kbridge.hub.load("hf://org/name", backend="numpy", token=TOKEN)
    hf_server.stop()  # nothing listens on the endpoint any more
    env = {**os.environ, **hf_server.env, "HF_HUB_OFFLINE": "1", "PYTHONPATH": REPO_ROOT}
    out = subprocess.run([sys.executable, "-m", "kbridge.cli", "hub", "inspect", "hf://org/name",
                          "--json"], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["parameters"] == 32 and info["shards"] == ["model.safetensors"]
    assert info["path"].startswith(os.path.join(hf_server.home, "hub"))


# --- private repositories ----------------------------------------------------------------
def test_private_repo_needs_its_token(hf_server, monkeypatch):
    model = _random_model(7)
    kbridge.hub.publish(model, "hf://org/secret", token=TOKEN, private=True)
    with pytest.raises(ReleaseError, match=r"hf://org/secret: cannot download it: .*private.*tok"):
        kbridge.hub.load("hf://org/secret", backend="numpy")
    with pytest.raises(ReleaseError, match=r"hf://org/secret"):
        kbridge.hub.load("hf://org/secret", backend="numpy", token="hf_wrong")
    with pytest.raises(ReleaseError, match=r"hf://org/secret"):
        kbridge.hub.inspect("hf://org/secret")
    # HF_TOKEN is huggingface_hub's default token
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    _assert_same(kbridge.hub.load("hf://org/secret", backend="numpy"), model, "numpy")


def test_publish_errors_name_the_target(hf_server, tmp_path):
    with pytest.raises(ReleaseError, match=r"hf://org/name: cannot create the repository: .*token"):
        kbridge.hub.publish(_random_model(8), "hf://org/name")  # no token at all
    kbridge.hub.publish(_random_model(8), "hf://org/name", token=TOKEN, private=True)
    hf_server.put_files("other/x", {}, token="hf_other_token")  # another user exists
    with pytest.raises(ReleaseError, match=r"hf://org/name: cannot upload the release"):
        kbridge.hub.publish(_random_model(9), "hf://org/name", token="hf_other_token")
    kbridge.hub.publish(_random_model(8), "hf://org/open", token=TOKEN)  # public
    with pytest.raises(ReleaseError, match=r"hf://org/open: private=True, but .* is public"):
        kbridge.hub.publish(_random_model(9), "hf://org/open", token=TOKEN, private=True)
    assert len(hf_server.repos["org/open"].commits) == 2  # the initial one + the first upload
    with pytest.raises(ReleaseError, match=r"not a release directory"):
        kbridge.hub.publish(tmp_path / "missing", "hf://org/name", token=TOKEN)
    with pytest.raises(ReleaseError, match=r"targets hf://org/name"):
        kbridge.hub.publish(_random_model(8), str(tmp_path / "local"), token=TOKEN)


def test_publish_uploads_only_release_files(hf_server, tmp_path):
    kbridge.hub.save(_random_model(3), tmp_path / "rel")
    (tmp_path / "rel" / ".env").write_text("SECRET=1\n")
    (tmp_path / "rel" / "notes.txt").write_text("scratch\n")
    kbridge.hub.publish(tmp_path / "rel", "hf://org/name", token=TOKEN)
    assert sorted(hf_server.files("org/name")) == [".gitattributes", "README.md", "config.json",
                                                   "model.safetensors"]


def test_repo_without_a_release(hf_server):
    hf_server.put_files("org/raw", {"weights.bin": b"\0" * 8})
    with pytest.raises(ReleaseError, match=r"hf://org/raw: the repository has no config.json"):
        kbridge.hub.load("hf://org/raw", backend="numpy")
    with pytest.raises(ReleaseError, match=r"hf://org/none: cannot download it: .*does not exist"):
        kbridge.hub.load("hf://org/none", backend="numpy")


def test_a_hostile_tree_listing_writes_nothing_outside_the_cache(hf_server, tmp_path):
    kbridge.hub.publish(_random_model(3), "hf://org/name", token=TOKEN)
    hf_server.put_files("org/name", {"../../escape.safetensors": b"x" * 8})
    cache = tmp_path / "deep" / "cache"
    with pytest.raises(ReleaseError, match=r"hf://org/name"):
        kbridge.hub.load("hf://org/name", backend="numpy", cache_dir=cache)
    found = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs
             if f == "escape.safetensors"]
    assert found == []


# --- the command line --------------------------------------------------------------------
def test_cli_publish_and_inspect(hf_server, tmp_path, capsys):
    model = _random_model(13)
    kbridge.hub.save(model, tmp_path / "rel")
    assert cli.main(["hub", "publish", str(tmp_path / "rel"), "hf://org/cli", "--token", TOKEN,
                     "--private", "--message", "from the CLI"]) == 0
    commit = hf_server.commit("org/cli")
    assert capsys.readouterr().out.strip() == f"{hf_server.url}/org/cli/commit/{commit['sha']}"
    assert commit["summary"] == "from the CLI" and hf_server.repos["org/cli"].private

    assert cli.main(["hub", "publish", str(tmp_path / "rel"), "hf://org/cli", "--token", TOKEN,
                     "--revision", "v2"]) == 0
    assert "v2" in hf_server.repos["org/cli"].branches
    capsys.readouterr()

    assert cli.main(["hub", "inspect", "hf://org/cli", "--token", TOKEN]) == 0
    out = capsys.readouterr().out
    assert "source:      hf://org/cli" in out and "class:       Sequential" in out
    assert "parameters:  32" in out and "shards:      model.safetensors" in out
    assert "library_name: kbridge" in out

    assert cli.main(["hub", "load", "hf://org/cli@v2", "--token", TOKEN, "--backend",
                     "numpy"]) == 0
    assert "32 parameters" in capsys.readouterr().out

    # errors are one line, naming the source, in a fresh process (and an empty cache: a
    # snapshot already cached would be used, as huggingface_hub does, when the Hub refuses)
    env = {**os.environ, **hf_server.env, "PYTHONPATH": REPO_ROOT,
           "HF_HUB_CACHE": str(tmp_path / "fresh-cache")}
    out = subprocess.run([sys.executable, "-m", "kbridge.cli", "hub", "inspect", "hf://org/cli"],
                         capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("kbridge: error: hf://org/cli: cannot download it")


# --- sharded releases --------------------------------------------------------------------
def test_sharded_release_round_trip(hf_server, tmp_path, backend):
    model = _random_model(14, units=(64, 64, 2))
    kbridge.hub.publish(model, "hf://org/big", token=TOKEN, max_shard_size="8KB")
    files = sorted(hf_server.files("org/big"))
    shards = [f for f in files if f.startswith("model-")]
    assert len(shards) > 1 and "model.safetensors.index.json" in files
    assert "model.safetensors" not in files
    loaded = kbridge.hub.load("hf://org/big", backend=backend)
    _assert_same(loaded, model, backend)
    info = kbridge.hub.inspect("hf://org/big")
    assert info["shards"] == shards and info["parameters"] == sum(
        w.size for w in model.get_weights())


# --- names -------------------------------------------------------------------------------
BAD_SOURCES = [
    "hf://../x", "hf://org/..", "hf://org/../name", "hf:///etc/passwd", "hf://org/name/extra",
    "hf://org\\name/x", "hf://org/na%2e%2e", "hf://org/name\n", "hf://", "hf://org/",
    "hf://-org/name", "hf://org/name.", "hf://org/a--b",
    "hf://org/name@", "hf://org/name@../../../tmp/x", "hf://org/name@/etc/x",
    "hf://org/name@a//b", "hf://org/name@a/../b", "hf://org/name@main\n",
    "hf://org/name@dev/", "hf://org/name@x.lock", "hf://org/name@a b",
]


@pytest.mark.parametrize("source", BAD_SOURCES)
def test_bad_names_are_refused_before_any_request(hf_server, tmp_path, source):
    for call in (lambda: kbridge.hub.load(source, backend="numpy"),
                 lambda: kbridge.hub.inspect(source),
                 lambda: kbridge.hub.publish(_model(), source, token=TOKEN)):
        with pytest.raises(ReleaseError, match=r"Invalid (Hugging Face source|revision)"):
            call()
    with pytest.raises(ReleaseError, match=r"Invalid revision"):
        kbridge.hub.load("hf://org/name", revision="../../x", backend="numpy")
    assert hf_server.requests == []
    assert not os.path.exists(os.path.join(hf_server.home, "hub"))
