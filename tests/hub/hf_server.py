"""A loopback stand-in for the Hugging Face Hub, for testing ``hf://`` sources offline.

It speaks the part of the Hub HTTP API that ``huggingface_hub`` (2.x) uses to create a
repository, create a branch, commit files (preupload + NDJSON commit, every file uploaded
"regular", i.e. base64 inline: no LFS, no Xet) and download a snapshot (repo info, recursive
tree listing, HEAD/GET ``resolve``). Storage is in memory. Every request is recorded in
``server.requests``; ``server.refuse = True`` makes it answer 503 to everything (to prove a
code path makes no request).

    server = HubServer().start()
    ... HF_ENDPOINT=server.url ...
    server.stop()
"""

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(data):
    """The git object id of a blob: what the Hub reports as a regular file's oid / ETag."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


class HubError(Exception):
    def __init__(self, status, message, code=None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class Repo:
    def __init__(self, repo_id, owner_token, private):
        self.repo_id, self.owner_token, self.private = repo_id, owner_token, private
        self.commits = {}  # sha -> {"files": {path: bytes}, "parent", "summary", "description"}
        self.branches = {}  # name -> sha
        self.created_at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())

    def new_commit(self, parent, files, summary, description=""):
        body = json.dumps([parent, sorted((p, git_blob_sha1(d)) for p, d in files.items()),
                           summary, description, time.time_ns()]).encode()
        sha = hashlib.sha1(body).hexdigest()
        self.commits[sha] = {"files": dict(files), "parent": parent, "summary": summary,
                             "description": description}
        return sha

    def resolve(self, revision):
        """Commit sha of a branch name or (full) commit id; HubError 404 otherwise."""
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.commits:
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


class HubServer:
    """The Hub, in memory, on ``http://127.0.0.1:<port>``."""

    def __init__(self):
        self.repos = {}
        self.requests = []  # (method, path, authorization header or None)
        self.refuse = False
        self.lock = threading.Lock()
        self._httpd = None
        self._thread = None

    # --- lifecycle -------------------------------------------------------------------
    def start(self):
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hf-test-hub",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    @property
    def url(self):
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- helpers for tests -----------------------------------------------------------
    def files(self, repo_id, revision="main"):
        """``{path: bytes}`` of ``revision`` of ``repo_id``."""
        repo = self.repos[repo_id]
        return dict(repo.commits[repo.resolve(revision)]["files"])

    def commit(self, repo_id, revision="main"):
        repo = self.repos[repo_id]
        sha = repo.resolve(revision)
        return {"sha": sha, **repo.commits[sha]}

    def put_files(self, repo_id, files, revision="main", token=None, private=False,
                  summary="test files"):
        """Commit ``files`` directly (bypassing the client), creating the repo if needed."""
        with self.lock:
            repo = self.repos.get(repo_id)
            if repo is None:
                repo = self._create(repo_id, token, private)
            parent = repo.branches.get(revision) or repo.branches["main"]
            merged = {**repo.commits[parent]["files"], **files}
            repo.branches[revision] = repo.new_commit(parent, merged, summary)
            return repo.branches[revision]

    def _create(self, repo_id, token, private):
        repo = Repo(repo_id, token, private)
        repo.branches["main"] = repo.new_commit(None, {".gitattributes": GITATTRIBUTES},
                                                "initial commit")
        self.repos[repo_id] = repo
        return repo


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer = None
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    # --- plumbing --------------------------------------------------------------------
    def _token(self):
        auth = self.headers.get("Authorization")
        if auth and auth.startswith("Bearer "):
            return auth[len("Bearer "):].strip()
        return None

    def _send(self, status, body=b"", headers=None, head=False):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _error(self, err, head=False, extra=None):
        headers = {"X-Error-Message": err.message, **(extra or {})}
        if err.code:
            headers["X-Error-Code"] = err.code
        body = {"error": err.message, **getattr(err, "body", {})}
        self._send(err.status, body, headers, head=head)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method):
        raw_path, _, query = self.path.partition("?")
        self.query = parse_qs(query)
        # Segments are split before unquoting: the client quotes revisions with safe="".
        self.segments = [unquote(s) for s in raw_path.split("/")[1:]]
        with self.hub.lock:
            self.hub.requests.append((method, raw_path, self.headers.get("Authorization")))
            refuse = self.hub.refuse
        body = self._body() if method == "POST" else b""
        if refuse:
            return self._send(503, {"error": "refusing requests"}, head=method == "HEAD")
        try:
            route = self._route(method)
            if route is None:
                raise HubError(404, f"no route for {method} {raw_path}")
            with self.hub.lock:
                route(body) if method == "POST" else route(head=method == "HEAD")
        except HubError as err:
            self._error(err, head=method == "HEAD", extra=getattr(err, "headers", None))

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    # --- routing ---------------------------------------------------------------------
    def _route(self, method):
        s = self.segments
        if method == "POST" and s[:3] == ["api", "repos", "create"]:
            return self._create_repo
        if method == "POST" and s[:2] == ["api", "validate-yaml"]:
            return self._validate_yaml
        if s[:2] == ["api", "models"] and len(s) >= 5:
            self.repo_id = "/".join(s[2:4])
            action, rest = s[4], s[5:]
            if method == "POST" and action in ("branch", "preupload", "commit") and len(rest) == 1:
                self.rev = rest[0]
                return {"branch": self._create_branch, "preupload": self._preupload,
                        "commit": self._commit}[action]
            if method == "GET" and action == "revision" and len(rest) == 1:
                self.rev = rest[0]
                return self._repo_info
            if method == "GET" and action == "tree" and rest:
                self.rev, self.file_path = rest[0], "/".join(rest[1:])
                return self._tree
        if s[:2] == ["api", "models"] and len(s) == 4 and method == "GET":
            self.repo_id, self.rev = "/".join(s[2:4]), "main"
            return self._repo_info
        if method in ("GET", "HEAD") and len(s) >= 5 and s[2] == "resolve":
            self.repo_id, self.rev, self.file_path = "/".join(s[:2]), s[3], "/".join(s[4:])
            return self._resolve
        return None

    # --- access ----------------------------------------------------------------------
    def _repo(self, write=False):
        repo = self.hub.repos.get(self.repo_id)
        token = self._token()
        known = {r.owner_token for r in self.hub.repos.values() if r.owner_token}
        if token is not None and token not in known:
            raise HubError(401, "Invalid credentials in Authorization header")
        if repo is None:
            raise HubError(404 if token else 401, "Repository not found", "RepoNotFound")
        if write and token is None:
            raise HubError(401, "You must be authenticated to write to a repository")
        if (repo.private or write) and token != repo.owner_token:
            if write and not repo.private:
                raise HubError(403, "You don't have the rights to write to this repository")
            raise HubError(404 if token else 401, "Repository not found", "RepoNotFound")
        return repo

    def _json_body(self, body):
        try:
            return json.loads(body or b"{}")
        except ValueError:
            raise HubError(400, "invalid JSON body") from None

    # --- endpoints -------------------------------------------------------------------
    def _create_repo(self, body):
        payload = self._json_body(body)
        token = self._token()
        if token is None:
            raise HubError(401, "You must be authenticated to create a repository")
        if payload.get("type", "model") != "model":
            raise HubError(400, "this test hub only stores model repositories")
        name, org = payload.get("name"), payload.get("organization")
        repo_id = f"{org}/{name}" if org else f"user/{name}"
        if repo_id in self.hub.repos:  # the Hub names the existing repo (the client reads it)
            err = HubError(409, "You already created this model repo")
            err.body = {"url": f"{self.hub.url}/{repo_id}"}
            raise err
        private = payload.get("visibility") == "private" or payload.get("private") is True
        self.hub._create(repo_id, token, private)
        self._send(200, {"url": f"{self.hub.url}/{repo_id}", "name": repo_id,
                         "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    def _validate_yaml(self, body):
        content = self._json_body(body).get("content", "")
        errors = []
        if content.startswith("---") and content.count("\n---") < 1:
            errors.append({"message": "unterminated YAML front matter"})
        status = 400 if errors else 200
        self._send(status, {"errors": errors, "warnings": []})

    def _create_branch(self, body):
        repo = self._repo(write=True)
        if self.rev in repo.branches:
            raise HubError(409, "Reference already exists")
        start = self._json_body(body).get("startingPoint") or "main"
        repo.branches[self.rev] = repo.resolve(start)
        self._send(200, {})

    def _preupload(self, body):
        repo = self._repo(write=True)
        files = self._json_body(body).get("files", [])
        current = repo.commits[repo.branches[self.rev]]["files"] if self.rev in repo.branches \
            else {}
        answer = []
        for f in files:
            existing = current.get(f["path"])
            answer.append({"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                           "oid": git_blob_sha1(existing) if existing is not None else None})
        self._send(200, {"files": answer, "commitOid": repo.branches.get(self.rev)})

    def _commit(self, body):
        repo = self._repo(write=True)
        if self.rev not in repo.branches:
            raise HubError(404, f"Invalid rev id: {self.rev}", "RevisionNotFound")
        if "create_pr" in self.query:
            raise HubError(400, "this test hub does not open pull requests")
        try:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        except ValueError:
            raise HubError(400, "the commit payload is not NDJSON") from None
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the commit payload must start with a header line")
        header = lines[0]["value"]
        parent = repo.branches[self.rev]
        if header.get("parentCommit") not in (None, parent):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(repo.commits[parent]["files"])
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value") or {}
            path = value.get("path", "")
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise HubError(400, f"invalid path {path!r}")
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, "only base64 file content is supported")
                files[path] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                prefix = path.rstrip("/") + "/"
                files = {p: d for p, d in files.items() if not p.startswith(prefix)}
            else:
                raise HubError(400, f"unsupported commit operation {key!r} (LFS is not emulated)")
        sha = repo.new_commit(parent, files, header.get("summary", ""),
                              header.get("description", ""))
        repo.branches[self.rev] = sha
        self._send(200, {"success": True, "commitOid": sha,
                         "commitUrl": f"{self.hub.url}/{repo.repo_id}/commit/{sha}",
                         "hookOutput": ""})

    def _repo_info(self, head=False):
        repo = self._repo()
        sha = repo.resolve(self.rev)
        files = repo.commits[sha]["files"]
        self._send(200, {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id, "modelId": repo.repo_id, "author": repo.repo_id.split("/")[0],
            "sha": sha, "private": repo.private, "gated": False, "disabled": False,
            "tags": [], "library_name": "kbridge", "createdAt": repo.created_at,
            "lastModified": repo.created_at,
            "siblings": [{"rfilename": p} for p in sorted(files)],
        }, head=head)

    def _tree(self, head=False):
        repo = self._repo()
        sha = repo.resolve(self.rev)
        files = repo.commits[sha]["files"]
        base = self.file_path.strip("/")
        prefix = base + "/" if base else ""
        if base and not any(p.startswith(prefix) for p in files):
            raise HubError(404, f"{base} does not exist on {self.rev}", "EntryNotFound")
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        entries, folders = [], set()
        for path in sorted(files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):].split("/")
            for depth in range(1, len(rest)):
                folder = prefix + "/".join(rest[:depth])
                if (recursive or depth == 1) and folder not in folders:
                    folders.add(folder)
                    entries.append({"type": "directory", "path": folder,
                                    "oid": hashlib.sha1(folder.encode()).hexdigest(), "size": 0})
            if recursive or len(rest) == 1:
                entries.append({"type": "file", "path": path, "size": len(files[path]),
                                "oid": git_blob_sha1(files[path])})
        self._send(200, entries, head=head)

    def _resolve(self, head=False):
        repo = self._repo()
        sha = repo.resolve(self.rev)
        data = repo.commits[sha]["files"].get(self.file_path)
        if data is None:
            err = HubError(404, "Entry not found", "EntryNotFound")
            err.headers = {"X-Repo-Commit": sha}
            raise err
        headers = {"X-Repo-Commit": sha, "ETag": f'"{git_blob_sha1(data)}"',
                   "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and not head:
            start_s, _, end_s = rng[len("bytes="):].partition("-")
            start = int(start_s or 0)
            end = int(end_s) if end_s else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start:end + 1], headers)
        self._send(200, data, headers, head=head)
