"""The state of the local test Hub (tests/hub_server.py): repos, commits, blobs, LFS objects, metadata checks."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field

import yaml

TOKEN = "hf_distill_test_token"
USER = "hf-distill-tester"
TOKENS = {TOKEN: USER}
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
# Files the Hub's default .gitattributes routes to LFS; anything >= 10 MB or binary goes there too.
LFS_PATTERNS = ["*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.onnx", "*.npy", "*.pkl"]
LFS_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS).encode()


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class HubError(Exception):
    """An error answer: status, ``{"error": message, **extra}`` body, ``X-Error-Code``/``X-Error-Message``."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, **extra):
        super().__init__(message)
        self.status, self.message, self.code, self.headers, self.extra = status, message, code, headers or {}, extra


@dataclass
class Blob:
    data: bytes | None = None  # regular file content
    lfs_oid: str | None = None  # sha256 of an LFS file
    size: int = 0

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.lfs_oid}\nsize {self.size}\n".encode()

    @property
    def oid(self) -> str:
        return git_oid(self.data if self.lfs_oid is None else self.pointer)


@dataclass
class Commit:
    oid: str
    title: str
    date: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    owner: str
    private: bool
    created: str = field(default_factory=now)
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def commit(self, revision: str) -> Commit:
        oid = self.branches.get(revision, revision)
        if oid not in self.commits:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return self.commits[oid]

    def add_commit(self, branch: str, title: str, files: dict[str, Blob]) -> Commit:
        listing = "".join(f"{path} {blob.oid}\n" for path, blob in sorted(files.items()))
        oid = hashlib.sha1(f"{self.repo_id}\n{self.branches.get(branch)}\n{title}\n{listing}".encode()).hexdigest()
        self.commits[oid] = Commit(oid, title, now(), files)
        self.branches[branch] = oid
        return self.commits[oid]


class HubState:
    """Repos, LFS objects and a log of requests ``(method, path, status)`` for the tests to inspect."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.secret = b"local-hub-signing-key"
        self.lock = threading.Lock()

    def sign(self, oid: str) -> str:
        return hmac.new(self.secret, oid.encode(), hashlib.sha256).hexdigest()


def front_matter(content: bytes) -> dict:
    text = content.decode()
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    return (yaml.safe_load(text[3:end]) or {}) if end != -1 else {}


def metadata_errors(metadata) -> list[str]:
    """The checks the Hub makes that a distilled student's card could fail."""
    if not isinstance(metadata, dict):
        return ["The metadata must be a YAML mapping"]
    errors = []
    for key in ("tags", "datasets", "metrics", "base_model"):
        value = metadata.get(key)
        if value is not None and not (isinstance(value, str) or all(isinstance(v, str) for v in value)):
            errors.append(f'"{key}" must be a string or a list of strings')
    if "license" in metadata and not isinstance(metadata["license"], str):
        errors.append('"license" must be a string')
    for model in metadata.get("model-index") or []:
        if not isinstance(model.get("name"), str):
            errors.append('"model-index[].name" must be a string')
        for result in model.get("results") or []:
            if not isinstance(result.get("task", {}).get("type"), str):
                errors.append('"model-index[].results[].task.type" is required')
            dataset = result.get("dataset", {})
            if not (isinstance(dataset.get("name"), str) and isinstance(dataset.get("type"), str)):
                errors.append('"model-index[].results[].dataset" needs a name and a type')
            for metric in result.get("metrics") or []:
                if not isinstance(metric.get("type"), str) or "value" not in metric:
                    errors.append('"model-index[].results[].metrics[]" needs a type and a value')
    return errors
