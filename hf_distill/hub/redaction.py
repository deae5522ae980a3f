"""What a run records (results.json, commands) holds no secret; what it publishes (model cards) no path of the
training machine either.

[`redact`] is the one function every recorded command and setting goes through:

- a value stored under a secret-like name (``token``, ``hub_token``, ``use_auth_token``, ``authorization``,
  ``password``, ``secret``, ``credentials``, ``api_key``, ...) becomes ``"<redacted>"``, in nested dicts, in
  command lines (``--hub_token X``, ``--hub_token=X``) and in text (``"token": "X"``, ``token=X``);
- anything that looks like a Hugging Face token (``hf_`` and 30+ letters or digits) and the token of the
  environment (``HF_TOKEN``, or the one saved by ``hf auth login``) become ``"<redacted>"`` wherever they appear;
- with ``paths=True`` (what is published: model cards, and the recorded command), absolute paths are shown by
  [`display_path`]: relative to the working directory (``./runs/sst2``), from the home folder
  (``~/models/teacher``), or, anywhere else (temporary folders, scratch disks), by their last component only
  (``.../teacher``). The settings of the local ``results.json`` keep them: a later ``hf_distill push`` reads the
  checkpoints they name.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
# A name is secret when it ends with one of these words or contains one of the second group.
_ENDINGS = r"token|auth|api_?key|passwd"
_ANYWHERE = r"password|secret|credentials?|authorization|private_key"
_SECRET_NAME = rf"[\w-]*?(?:{_ENDINGS})|[\w-]*(?:{_ANYWHERE})[\w-]*"
SECRET_NAME = re.compile(rf"^-*(?:{_SECRET_NAME})$", re.IGNORECASE)
HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{30,}")
_VALUE = r"'[^']*'|\"[^\"]*\"|[^\s,;}\]'\"]+"
# --hub_token X / --hub_token=X (a command line); "token": "X" / token=X / 'token': 'X' (JSON, reprs, settings).
_FLAG = re.compile(rf"(?<![\w-])(--?(?:{_SECRET_NAME}))(=|\s+)(?!--)({_VALUE})", re.IGNORECASE)
_ASSIGN = re.compile(rf"(?<![\w-])(['\"]?)((?:{_SECRET_NAME}))\1(\s*[:=]\s*)({_VALUE})", re.IGNORECASE)
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/:\\-])/[^\s'\"`,;:()\[\]{}<>|]+")
_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def is_secret_name(name: str) -> bool:
    """``hub_token``, ``token``, ``--use-auth-token``, ``HF_TOKEN``, ``api_key``, ``password``... but not
    ``tokenizer_name`` or ``max_tokens``."""
    return bool(SECRET_NAME.match(str(name)))


def redact(value: Any, paths: bool = False) -> Any:
    """``value`` with its secrets replaced by ``"<redacted>"`` and, with ``paths``, its absolute paths shortened by
    [`display_path`] (see the module docstring).

    Dicts are redacted by key and recursively; lists as command lines (the word after a secret flag is its value)
    and element by element; strings as text. Other values are returned as they are.
    """
    return _redact(value, _known_secrets(), paths)


def redact_command(argv: Iterable[Any]) -> str:
    """The shell command of ``argv`` as it is recorded and published: ``--hub_token X`` -> ``--hub_token
    '<redacted>'``, and its paths by [`display_path`] (``~/models/x`` left unquoted, for the shell to expand)."""
    return " ".join(_shell_word(word) for word in redact([str(word) for word in argv], paths=True))


def _shell_word(word: str) -> str:
    return "~/" + shlex.quote(word[2:]) if word.startswith("~/") else shlex.quote(word)


def display_path(path: str) -> str:
    """An absolute ``path`` as a card shows it: ``./x`` under the working directory, ``~/x`` under the home folder
    (the nearer of the two), else ``.../name`` (its last component). Other strings are returned as they are."""
    if not os.path.isabs(path):
        return path
    path = os.path.normpath(path)
    anchors = [(os.path.normpath(os.getcwd()), "."), (os.path.normpath(os.path.expanduser("~")), "~")]
    inside = [(anchor, label) for anchor, label in anchors if _within(path, anchor)]
    if inside:
        anchor, label = max(inside, key=lambda item: len(item[0]))
        rest = os.path.relpath(path, anchor)
        return label if rest == "." else f"{label}/{rest}"
    return f".../{os.path.basename(path)}" if os.path.basename(path) else "..."


def _within(path: str, anchor: str) -> bool:
    return anchor != os.path.dirname(anchor) and (path == anchor or path.startswith(anchor + os.sep))


def _known_secrets() -> list[str]:
    """The Hub token of this environment, when there is one (short values are not worth searching for)."""
    values = [os.environ.get(name) for name in _TOKEN_VARIABLES]
    try:
        from huggingface_hub import get_token

        values.append(get_token())
    except Exception:  # noqa: BLE001 - no token store, nothing to add
        pass
    return sorted({value for value in values if value and len(value) >= 8}, key=len, reverse=True)


def _redact(value: Any, secrets: list[str], paths: bool, shell: bool = True) -> Any:
    if isinstance(value, Mapping):
        return {key: _redact_entry(key, item, secrets, paths) for key, item in value.items()}
    if isinstance(value, list | tuple):
        words = list(value)
        for index, word in enumerate(words[:-1]):
            following = words[index + 1]
            if isinstance(word, str) and word.startswith("-") and "=" not in word and is_secret_name(word):
                if isinstance(following, str) and not following.startswith("--"):
                    words[index + 1] = REDACTED
        return type(value)(_redact(word, secrets, paths, shell=False) for word in words)
    if isinstance(value, str):
        return _redact_text(value, secrets, paths, shell)
    return value


def _redact_entry(key: Any, value: Any, secrets: list[str], paths: bool) -> Any:
    unset = value is None or isinstance(value, bool) or (isinstance(value, str) and not value)
    if is_secret_name(str(key)) and not unset:
        return REDACTED
    return _redact(value, secrets, paths)


def _redact_text(text: str, secrets: list[str], paths: bool, shell: bool) -> str:
    """``shell``: ``text`` may be a shell command, where a bare ``<redacted>`` needs quotes."""
    text = _FLAG.sub(lambda match: match[1] + match[2] + _hidden(match[3], shell), text)
    text = _ASSIGN.sub(lambda match: match[1] + match[2] + match[1] + match[3] + _hidden(match[4]), text)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = HF_TOKEN.sub(REDACTED, text)
    if not paths:
        return text
    if os.path.isabs(text) and "\n" not in text:
        return display_path(text)
    return _ABSOLUTE_PATH.sub(lambda match: display_path(match[0]), text)


def _hidden(value: str, shell: bool = False) -> str:
    """``"<redacted>"`` in the quotes ``value`` had (a bare word of a command line is quoted for the shell); a value
    already redacted is kept as it is."""
    quote = value[0] if value[:1] in ("'", '"') and len(value) > 1 and value[-1] == value[0] else ""
    if value.strip("'\"") == REDACTED:
        return value
    if not quote and shell:
        quote = "'"
    return f"{quote}{REDACTED}{quote}"
