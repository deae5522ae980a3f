"""The state of the local test Hub (tests/hub_server.py): repos, commits, blobs, LFS objects, metadata checks."""

from __future__ import annotations

import hashlib
import hmac
import re
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


# The license identifiers the Hub accepts (hub-docs docs/hub/repositories-licenses.md, and the list its metadata
# validation answers with), and its pipeline tags (huggingface.js packages/tasks/src/pipelines.ts, PIPELINE_DATA).
LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0",
    "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0",
    "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1",
    "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "h-research",
    "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0", "odc-by", "odbl", "openmdw-1.0",
    "openmdw-1.1", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr",
    "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3", "llama3.1", "llama3.2",
    "llama3.3", "llama4", "grok2-community", "gemma", "unknown", "other",
)  # fmt: skip
PIPELINE_TAGS = (
    "biology", "text-classification", "token-classification", "table-question-answering", "question-answering",
    "zero-shot-classification", "translation", "summarization", "feature-extraction", "text-generation",
    "text2text-generation", "fill-mask", "sentence-similarity", "text-to-speech", "text-to-audio",
    "automatic-speech-recognition", "audio-to-audio", "audio-classification", "audio-text-to-text",
    "voice-activity-detection", "depth-estimation", "image-classification", "object-detection", "image-segmentation",
    "text-to-image", "image-to-text", "image-to-image", "image-to-video", "unconditional-image-generation",
    "video-classification", "reinforcement-learning", "robotics", "tabular-classification", "tabular-regression",
    "tabular-to-text", "table-to-text", "multiple-choice", "text-ranking", "text-retrieval", "time-series-forecasting",
    "text-to-video", "image-text-to-text", "visual-question-answering", "document-question-answering",
    "zero-shot-image-classification", "graph-ml", "mask-generation", "zero-shot-object-detection", "text-to-3d",
    "image-to-3d", "image-feature-extraction", "video-text-to-text", "keypoint-detection", "visual-document-retrieval",
    "any-to-any", "other",
)  # fmt: skip
# The front matter as huggingface_hub.repocard.REGEX_YAML_BLOCK finds it.
YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")


def front_matter(content: bytes):
    """The parsed YAML metadata of a README ({} without any); raises yaml.YAMLError when it is not valid YAML."""
    match = YAML_BLOCK.match(content.decode())
    return (yaml.safe_load(match.group(2)) or {}) if match else {}


def readme_errors(content: bytes) -> list[str]:
    """What the Hub says of a README's metadata: invalid YAML, or the errors of ``metadata_errors``."""
    try:
        metadata = front_matter(content)
    except yaml.YAMLError as error:
        return [f"Invalid YAML in the metadata of README.md: {' '.join(str(error).split())}"]
    return metadata_errors(metadata)


def metadata_errors(metadata) -> list[str]:
    """The checks the Hub makes of a model card's metadata, with its messages (a Joi schema: ``"key" must be ...``)."""
    if not isinstance(metadata, dict):
        return ["The metadata must be a YAML mapping"]
    errors = _key_errors(metadata)
    for key in ("tags", "datasets", "metrics", "base_model"):
        value = metadata.get(key)
        if value is not None and not (isinstance(value, str) or _strings(value)):
            errors.append(f'"{key}" must be a string or a list of strings')
    if "license" in metadata:
        errors += _license_errors(metadata["license"])
    if "pipeline_tag" in metadata and metadata["pipeline_tag"] not in PIPELINE_TAGS:
        errors.append(f'"pipeline_tag" must be one of [{", ".join(PIPELINE_TAGS)}]')
    if "model-index" in metadata:
        errors += _model_index_errors(metadata["model-index"])
    return errors


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _key_errors(value) -> list[str]:
    if isinstance(value, list):
        return [error for item in value for error in _key_errors(item)]
    if not isinstance(value, dict):
        return []
    if any("." in str(key) or "$" in str(key) for key in value):
        return ['You can\'t have a key with a "." or "$" character in your YAML metadata']
    return [error for item in value.values() for error in _key_errors(item)]


def _license_errors(value, where: str = "license") -> list[str]:
    if isinstance(value, list):
        return [error for i, item in enumerate(value) for error in _license_errors(item, f"{where}[{i}]")]
    if not isinstance(value, str):
        return [f'"{where}" must be a string']
    return [] if value in LICENSES else [f'"{where}" must be one of [{", ".join(LICENSES)}, array]']


def _model_index_errors(model_index) -> list[str]:
    """``model-index``: ``[{name, results: [{task: {type}, dataset: {name, type}, metrics: [{type, value}]}]}]``,
    metric values numbers."""
    if not isinstance(model_index, list):
        return ['"model-index" must be an array']
    errors = []
    for i, model in enumerate(model_index):
        where = f"model-index[{i}]"
        if not isinstance(model, dict):
            errors.append(f'"{where}" must be of type object')
            continue
        if not isinstance(model.get("name"), str):
            errors.append(f'"{where}.name" must be a string')
        results = model.get("results")
        if not isinstance(results, list):
            errors.append(f'"{where}.results" must be an array')
            continue
        for j, result in enumerate(results):
            errors += _result_errors(result, f"{where}.results[{j}]")
    return errors


def _result_errors(result, where: str) -> list[str]:
    if not isinstance(result, dict):
        return [f'"{where}" must be of type object']
    errors = []
    task, dataset, metrics = result.get("task"), result.get("dataset"), result.get("metrics")
    if not isinstance(task, dict) or not isinstance(task.get("type"), str):
        errors.append(f'"{where}.task.type" is required')
    for key in ("name", "type"):
        if not isinstance(dataset, dict) or not isinstance(dataset.get(key), str):
            errors.append(f'"{where}.dataset.{key}" is required')
    if not isinstance(metrics, list):
        return [*errors, f'"{where}.metrics" must be an array']
    for k, metric in enumerate(metrics):
        if not isinstance(metric, dict):
            errors.append(f'"{where}.metrics[{k}]" must be of type object')
            continue
        if not isinstance(metric.get("type"), str):
            errors.append(f'"{where}.metrics[{k}].type" is required')
        value = metric.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f'"{where}.metrics[{k}].value" must be a number')
    return errors
