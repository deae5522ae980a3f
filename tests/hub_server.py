"""A local Hugging Face Hub for the tests: the endpoints the real `huggingface_hub` client calls, over real HTTP.

In memory, standard library only. It implements what pushing and loading a model needs (huggingface_hub 2.x with
``HF_HUB_DISABLE_XET=1``, i.e. the git-LFS upload path):

- ``POST /api/repos/create`` / ``/api/repos/delete``, ``GET /api/whoami-v2``
- ``POST /api/validate-yaml``, and every commit that adds a README.md: its YAML metadata is refused (400, the Hub's
  ``{"errors": [{"message": ...}], "warnings": [...]}``) as the Hub refuses it: not YAML, a license or
  ``pipeline_tag`` the Hub does not know, a malformed ``model-index`` or a metric value that is not a number
- ``POST /api/{type}s/{repo}/preupload/{rev}``: regular or LFS upload mode per file, and the current oid
- ``POST /{repo}.git/info/lfs/objects/batch``: LFS "basic" transfer actions (signed upload url + verify)
- ``PUT /lfs/upload/{oid}?signature=..``: the (unauthenticated, signed) upload; sha256 and size are checked
- ``POST /api/{type}s/{repo}/commit/{rev}``: the NDJSON commit (``file``, ``lfsFile``, ``deletedFile``/``Folder``)
- ``GET /api/{type}s/{repo}[/revision/{rev}]``: repo info with siblings and ``cardData``
- ``GET /api/{type}s/{repo}/tree/{rev}[/{path}]`` and ``POST .../paths-info/{rev}``
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: regular files answer 200 with ``ETag`` (git blob oid),
  ``X-Repo-Commit`` and ``Content-Length``; LFS files answer 302 to a signed "CDN" url on another host name
  (``localhost`` instead of ``127.0.0.1``, so the client drops the Authorization header as it does for the real
  CDN) with ``X-Linked-Etag`` (sha256), ``X-Linked-Size`` and ``X-Repo-Commit``.

Authorization: every write needs ``Authorization: Bearer <token>`` with a token of ``TOKENS``; a token that is not
known gets 401 "Invalid credentials in Authorization header" (as the Hub answers), on reads too; private repos are
visible to their owner only (others get 401 RepoNotFound, as on the Hub). Errors carry ``X-Error-Code`` /
``X-Error-Message`` so the client raises its usual exception classes.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.hub_store import (
    GITATTRIBUTES,
    LFS_PATTERNS,
    LFS_SIZE,
    REPO_TYPES,
    TOKEN,
    TOKENS,
    URL_PREFIX,
    USER,
    Blob,
    Commit,
    HubError,
    HubState,
    Repo,
    front_matter,
    git_oid,
    readme_errors,
)

__all__ = ["TOKEN", "USER", "LocalHub", "free_port", "hub_environment"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hub_environment(port: int) -> dict[str, str]:
    """Environment that points `huggingface_hub` at a local hub on ``port`` (read when it is imported)."""
    return {
        "HF_ENDPOINT": f"http://127.0.0.1:{port}",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }


class LocalHub:
    """The server: ``start()`` serves on ``127.0.0.1:port`` in a thread, ``stop()`` closes the port (state kept)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cdn_url = f"http://localhost:{self.port}"
        self.state = HubState()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalHub:
        handler = type("BoundHubHandler", (HubHandler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="local-hub")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        return self.state.repos.get((repo_type, repo_id))


class HubHandler(BaseHTTPRequestHandler):
    """One request. HTTP/1.0 (the connection closes after each answer), so a stopped server refuses at once."""

    hub: LocalHub

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet; the requests go to state.requests
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ---- plumbing ----

    def _handle(self, method: str) -> None:
        self.method = method
        split = urlsplit(self.path)
        self.query = parse_qs(split.query)
        self.segments = [unquote(part) for part in split.path.strip("/").split("/")]
        try:
            self.body = self._read_body()
            with self.hub.state.lock:
                status, headers, body = self._route()
        except HubError as error:
            headers = {"X-Error-Message": error.message, **error.headers}
            if error.code:
                headers["X-Error-Code"] = error.code
            status, body = error.status, json.dumps({"error": error.message, **error.extra}).encode()
            headers.setdefault("Content-Type", "application/json")
        self.hub.state.requests.append((method, split.path, status))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, str(value))
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self, payload, status: int = 200, headers: dict | None = None):
        return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()

    def _user(self) -> str | None:
        """The token's user; None without a token; 401 for a token the Hub does not know."""
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        if token not in TOKENS:
            raise HubError(401, "Invalid credentials in Authorization header")
        return TOKENS[token]

    def _repo(self, repo_type: str, repo_id: str, write: bool = False) -> Repo:
        user = self._user()
        repo = self.hub.repo(repo_id, repo_type)
        if repo is None or (repo.private and user != repo.owner):
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        if write and user != repo.owner:
            raise HubError(401 if user is None else 403, "You don't have the rights to write to this repo")
        return repo

    def _route(self):
        s, method = self.segments, self.method
        if s[0] == "api":
            if s[1:] == ["whoami-v2"] and method == "GET":
                return self._whoami()
            if s[1:] == ["repos", "create"] and method == "POST":
                return self._create_repo()
            if s[1:] == ["repos", "delete"] and method == "DELETE":
                return self._delete_repo()
            if s[1:] == ["validate-yaml"] and method == "POST":
                return self._validate_yaml()
            if len(s) >= 4 and s[1] in REPO_TYPES:
                repo_type, repo_id, rest = REPO_TYPES[s[1]], "/".join(s[2:4]), s[4:]
                if not rest and method == "GET":
                    return self._repo_info(repo_type, repo_id, "main")
                if len(rest) == 2 and rest[0] == "revision" and method == "GET":
                    return self._repo_info(repo_type, repo_id, rest[1])
                if len(rest) == 2 and rest[0] == "preupload" and method == "POST":
                    return self._preupload(repo_type, repo_id, rest[1])
                if len(rest) == 2 and rest[0] == "commit" and method == "POST":
                    return self._commit(repo_type, repo_id, rest[1])
                if len(rest) >= 2 and rest[0] == "tree" and method == "GET":
                    return self._tree(repo_type, repo_id, rest[1], "/".join(rest[2:]))
                if len(rest) == 2 and rest[0] == "paths-info" and method == "POST":
                    return self._paths_info(repo_type, repo_id, rest[1])
        if s[0] == "lfs" and len(s) == 3:
            if s[1] == "upload" and method == "PUT":
                return self._lfs_upload(s[2])
            if s[1] == "verify" and method == "POST":
                return self._lfs_verify(s[2])
            if s[1] == "cdn" and method in ("GET", "HEAD"):
                return self._lfs_download(s[2])
        repo_type = REPO_TYPES.get(s[0]) if s[0] in ("datasets", "spaces") else "model"
        s = s[1:] if repo_type != "model" else s
        if len(s) == 6 and s[1].endswith(".git") and s[2:] == ["info", "lfs", "objects", "batch"]:
            return self._lfs_batch(repo_type, f"{s[0]}/{s[1].removesuffix('.git')}")
        if len(s) >= 5 and s[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(repo_type, "/".join(s[:2]), s[3], "/".join(s[4:]))
        raise HubError(404, f"The local hub has no endpoint {method} {self.path}")

    # ---- repos ----

    def _whoami(self):
        user = self._user()
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self._json({"type": "user", "name": user, "orgs": [], "auth": {"accessToken": {"role": "write"}}})

    def _create_repo(self):
        user = self._user()
        if user is None:
            raise HubError(401, "You must be logged in to create a repo")
        payload = json.loads(self.body)
        namespace = payload.get("organization") or user
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a repo under the namespace {namespace}")
        repo_type = payload.get("type") or "model"
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.hub.url}/{URL_PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.hub.state.repos:
            raise HubError(409, "You already created this model repo", url=url)  # the client reads "url" from it
        repo = Repo(repo_id, repo_type, owner=user, private=payload.get("visibility") == "private")
        repo.add_commit(
            "main", "initial commit", {".gitattributes": Blob(data=GITATTRIBUTES, size=len(GITATTRIBUTES))}
        )
        self.hub.state.repos[(repo_type, repo_id)] = repo
        return self._json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self):
        payload = json.loads(self.body)
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or self._user()}/{payload['name']}"
        self._repo(repo_type, repo_id, write=True)
        del self.hub.state.repos[(repo_type, repo_id)]
        return self._json({})

    def _repo_info(self, repo_type: str, repo_id: str, revision: str):
        repo = self._repo(repo_type, repo_id)
        commit = repo.commit(revision)
        metadata = front_matter(commit.files["README.md"].data) if "README.md" in commit.files else {}  # validated
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling = {"rfilename": path}
            if self.query.get("blobs") == ["True"] or self.query.get("blobs") == ["true"]:
                sibling.update(size=blob.size, blobId=blob.oid)
                if blob.lfs_oid:
                    sibling["lfs"] = {"size": blob.size, "sha256": blob.lfs_oid, "pointerSize": len(blob.pointer)}
            siblings.append(sibling)
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo.owner,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": metadata.get("tags", []) if isinstance(metadata, dict) else [],
            "siblings": siblings,
        }
        if isinstance(metadata, dict) and metadata:
            info["cardData"] = metadata
            for key in ("pipeline_tag", "library_name"):
                if key in metadata:
                    info[key] = metadata[key]
            if "model-index" in metadata:
                info["model-index"] = metadata["model-index"]
        return self._json(info)

    # ---- uploads ----

    def _preupload(self, repo_type: str, repo_id: str, revision: str):
        repo = self._repo(repo_type, repo_id, write=True)
        files = repo.commit(revision).files
        answers = []
        for item in json.loads(self.body)["files"]:
            sample = base64.b64decode(item["sample"])
            name = item["path"].rsplit("/", 1)[-1]
            lfs = item["size"] >= LFS_SIZE or b"\0" in sample or any(fnmatch.fnmatch(name, p) for p in LFS_PATTERNS)
            current = files.get(item["path"])
            oid = None
            if current is not None:
                oid = current.lfs_oid if lfs else (current.oid if current.lfs_oid is None else None)
            answers.append(
                {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        return self._json({"files": answers, "commitOid": repo.commit(revision).oid})

    def _lfs_batch(self, repo_type: str, repo_id: str):
        self._repo(repo_type, repo_id, write=True)
        payload = json.loads(self.body)
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(422, "The local hub only offers the basic upload transfer")
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if self.hub.state.lfs.get(obj["oid"]) is None:
                signature = self.hub.state.sign(obj["oid"])
                entry["actions"] = {
                    "upload": {
                        "href": f"{self.hub.url}/lfs/upload/{obj['oid']}?size={obj['size']}&signature={signature}"
                    },
                    "verify": {"href": f"{self.hub.url}/lfs/verify/{obj['oid']}", "header": {}},
                }
            objects.append(entry)
        return self._json(
            {"transfer": "basic", "objects": objects}, headers={"Content-Type": "application/vnd.git-lfs+json"}
        )

    def _lfs_upload(self, oid: str):
        if self.query.get("signature") != [self.hub.state.sign(oid)]:
            raise HubError(403, "Bad signature on the upload url")
        if hashlib.sha256(self.body).hexdigest() != oid or self.query.get("size") != [str(len(self.body))]:
            raise HubError(400, f"Uploaded content does not match sha256 {oid} and size {self.query.get('size')}")
        self.hub.state.lfs[oid] = self.body
        return 200, {"ETag": f'"{oid}"'}, b""

    def _lfs_verify(self, oid: str):
        if self._user() is None:
            raise HubError(401, "Unauthorized")
        payload = json.loads(self.body)
        stored = self.hub.state.lfs.get(oid)
        if stored is None or len(stored) != payload["size"]:
            raise HubError(404, f"LFS object {oid} not found")
        return self._json({"success": True})

    def _commit(self, repo_type: str, repo_id: str, revision: str):
        repo = self._repo(repo_type, repo_id, write=True)
        if self.headers.get("Content-Type") != "application/x-ndjson":
            raise HubError(400, "The commit payload must be application/x-ndjson")
        head = repo.commit(revision)
        files = dict(head.files)
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        if not lines or lines[0]["key"] != "header":
            raise HubError(400, "The first line of a commit must be its header")
        header = lines[0]["value"]
        if header.get("parentCommit") not in (None, head.oid):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            path = value["path"]
            if key == "file":
                data = (
                    base64.b64decode(value["content"])
                    if value.get("encoding") == "base64"
                    else value["content"].encode()
                )
                if path == "README.md" and readme_errors(data):  # the Hub validates the card of every commit
                    return self._metadata_answer(readme_errors(data), [])
                files[path] = Blob(data=data, size=len(data))
            elif key == "lfsFile":
                stored = self.hub.state.lfs.get(value["oid"])
                if stored is None:
                    raise HubError(422, f"LFS object {value['oid']} for {path} was never uploaded")
                files[path] = Blob(lfs_oid=value["oid"], size=len(stored))
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            elif key == "deletedFolder":
                files = {p: b for p, b in files.items() if not p.startswith(path.rstrip("/") + "/")}
            else:
                raise HubError(400, f"Unknown commit operation {key}")
        branch = revision if revision in repo.branches else None
        if branch is None:
            raise HubError(400, f"Can only commit to a branch, not {revision}")
        commit = repo.add_commit(branch, header["summary"], files)
        url = f"{self.hub.url}/{URL_PREFIX[repo_type]}{repo_id}/commit/{commit.oid}"
        return self._json({"success": True, "commitOid": commit.oid, "commitUrl": url, "pullRequestUrl": None})

    def _validate_yaml(self):
        content = json.loads(self.body)["content"].encode()
        errors = readme_errors(content)
        warnings = [] if errors or front_matter(content) else ["Empty metadata: add a YAML header to your README.md"]
        return self._metadata_answer(errors, warnings)

    def _metadata_answer(self, errors: list[str], warnings: list[str]):
        """The Hub's answer to metadata: 400 with ``{"httpStatusCode", "errors", "warnings"}`` when it has errors."""
        status = 400 if errors else 200
        payload = {
            "errors": [{"message": message, "type": "error"} for message in errors],
            "warnings": [{"message": message, "type": "warning"} for message in warnings],
        }
        return self._json({"httpStatusCode": status, **payload} if errors else payload, status=status)

    # ---- listings and downloads ----

    def _entry(self, path: str, blob: Blob | None, commit: Commit) -> dict:
        expand = self.query.get("expand", ["false"])[0].lower() == "true"
        if blob is None:
            entry = {"type": "directory", "oid": git_oid(path.encode()), "size": 0, "path": path}
        else:
            entry = {"type": "file", "oid": blob.oid, "size": blob.size, "path": path}
            if blob.lfs_oid:
                entry["lfs"] = {"oid": blob.lfs_oid, "size": blob.size, "pointerSize": len(blob.pointer)}
        if expand:
            entry["lastCommit"] = {"id": commit.oid, "title": commit.title, "date": commit.date}
        return entry

    def _tree(self, repo_type: str, repo_id: str, revision: str, folder: str):
        commit = self._repo(repo_type, repo_id).commit(revision)
        recursive = self.query.get("recursive", ["false"])[0].lower() == "true"
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        if prefix and not any(path.startswith(prefix) for path in commit.files):
            raise HubError(404, f"{folder} does not exist on {revision}", "EntryNotFound")
        entries: dict[str, dict] = {}
        for path, blob in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):
                directory = prefix + "/".join(parts[:depth])
                if depth == 1 or recursive:
                    entries.setdefault(directory, self._entry(directory, None, commit))
                if not recursive:
                    break
            if len(parts) == 1 or recursive:
                entries[path] = self._entry(path, blob, commit)
        return self._json(list(entries.values()))

    def _paths_info(self, repo_type: str, repo_id: str, revision: str):
        commit = self._repo(repo_type, repo_id).commit(revision)
        form = parse_qs(self.body.decode())
        self.query["expand"] = form.get("expand", ["false"])
        found = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit.files:
                found.append(self._entry(path, commit.files[path], commit))
            elif any(p.startswith(path + "/") for p in commit.files):
                found.append(self._entry(path, None, commit))
        return self._json(found)

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str):
        repo = self._repo(repo_type, repo_id)
        commit = repo.commit(revision)
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
        if blob.lfs_oid is not None:
            signature = self.hub.state.sign(blob.lfs_oid)
            location = f"{self.hub.cdn_url}/lfs/cdn/{blob.lfs_oid}?signature={signature}&filename={quote(path)}"
            headers.update(
                {"Location": location, "ETag": f'"{blob.oid}"', "X-Linked-Etag": f'"{blob.lfs_oid}"'}
                | {"X-Linked-Size": blob.size}
            )
            return 302, headers, b""
        headers.update({"ETag": f'"{blob.oid}"', "Content-Type": "application/octet-stream"})
        return self._ranged(blob.data, headers)

    def _lfs_download(self, oid: str):
        if self.headers.get("Authorization"):
            raise HubError(400, "The CDN must not receive the Hub token")
        if self.query.get("signature") != [self.hub.state.sign(oid)] or oid not in self.hub.state.lfs:
            raise HubError(403, "Access denied")
        return self._ranged(self.hub.state.lfs[oid], {"ETag": f'"{oid}"', "Content-Type": "application/octet-stream"})

    def _ranged(self, data: bytes, headers: dict):
        ranges = self.headers.get("Range")
        if ranges and ranges.startswith("bytes="):
            start, _, end = ranges[len("bytes=") :].partition("-")
            start, end = int(start or 0), int(end) if end else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return 206, headers, data[start : end + 1]
        headers["Content-Length"] = len(data)
        return 200, headers, data if self.method == "GET" else b""


def dump(state: HubState, folder: str) -> None:
    """Write every file the hub ever stored under ``folder``: ``{repo}/{commit}/{path}`` for each commit's regular
    files (private flag in ``repos.json``) and ``lfs/{sha256}`` for every uploaded LFS object."""
    from pathlib import Path

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for repo in state.repos.values():
        for commit in repo.commits.values():
            for path, blob in commit.files.items():
                if blob.data is not None:
                    target = root / repo.repo_type / repo.repo_id / commit.oid / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(blob.data)
    for oid, data in state.lfs.items():
        (root / "lfs").mkdir(exist_ok=True)
        (root / "lfs" / oid).write_bytes(data)
    repos = {repo.repo_id: {"private": repo.private, "commits": len(repo.commits)} for repo in state.repos.values()}
    (root / "repos.json").write_text(json.dumps(repos, indent=1))


def serve(argv: list[str] | None = None) -> None:
    """``python tests/hub_server.py [--port N] [--dump DIR]``: serve until SIGTERM/SIGINT, print
    ``{"url", "token", "user"}`` as one JSON line once listening; write everything stored to DIR on SIGUSR1 and on
    exit."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(description=serve.__doc__)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--dump", default=None, help="folder that receives every stored file on exit")
    args = parser.parse_args(argv)
    hub = LocalHub(args.port).start()
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: dumped(hub, args.dump))
    print(json.dumps({"url": hub.url, "token": TOKEN, "user": USER}), flush=True)
    stop.wait()
    hub.stop()
    if args.dump:
        dump(hub.state, args.dump)
    sys.exit(0)


def dumped(hub: LocalHub, folder: str | None) -> None:
    """SIGUSR1: write the store to ``folder`` now (the server keeps serving) and print ``dumped``."""
    if folder:
        with hub.state.lock:
            dump(hub.state, folder)
    print("dumped", flush=True)


if __name__ == "__main__":
    serve()
