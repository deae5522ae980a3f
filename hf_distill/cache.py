"""Teacher output cache: the teacher's logits over a fixed training set, computed once and stored on disk.

When the teacher's inputs do not change between epochs (no augmentation on the fly), running the teacher at every
step repeats the same forward passes. `cached_teacher_logits` computes them once, stores them in a safetensors file
whose header records what they belong to, and `add_teacher_logits` puts them in a ``teacher_logits`` column, which
[`DistillationTrainer`] reads instead of running the teacher (it then needs no teacher at all).

A cache is tied to three fingerprints (sha256), and refused with a `TeacherCacheMismatchError` naming the one that
differs:

- ``teacher``: the model type, label count and every parameter and buffer, byte for byte (dtype included);
- ``data``: the rows' text and label columns, in order;
- ``tokenization``: the token ids (and masks) the teacher reads, in order: tokenizer, ``max_length`` and
  truncation all show here.

The header also records the sha256 of the logits themselves, checked (with their finiteness) on every load: a file
damaged on disk (truncated, or with overwritten bytes that a header check cannot see) raises a
`TeacherCacheCorruptError` naming it, instead of training a student on garbage. Non-finite logits are never written.

Only logits are stored: intermediate targets (hidden states, attention) are ``[rows, layers, seq, width]`` and
would take gigabytes for a GLUE training set.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .data import TEACHER_PREFIX
from .teacher import forward_argument_names

CACHE_FORMAT = "hf_distill.teacher_cache.v2"  # v2: the header records the logits' sha256
LOGITS_COLUMN = f"{TEACHER_PREFIX}logits"
_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class TeacherCacheMismatchError(ValueError):
    """A cache file exists but belongs to another teacher, other data or another tokenization."""


class TeacherCacheCorruptError(TeacherCacheMismatchError):
    """A cache file exists but is damaged: unreadable, or its logits differ from those written."""


def teacher_fingerprint(teacher: nn.Module) -> str:
    """sha256 of ``teacher``'s model type, label count and every parameter and buffer (names, dtypes, bytes)."""
    digest = hashlib.sha256()
    config = getattr(teacher, "config", None)
    digest.update(
        f"{getattr(config, 'model_type', type(teacher).__name__)}|{getattr(config, 'num_labels', '')}".encode()
    )
    for name, tensor in sorted(teacher.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def columns_fingerprint(dataset: datasets.Dataset, columns: Sequence[str]) -> str:
    """sha256 of the values of ``columns`` of ``dataset``, row order included."""
    digest = hashlib.sha256()
    values = dataset.select_columns(list(columns))[:]
    for name in columns:
        digest.update(f"{name}=".encode())
        digest.update(json.dumps(values[name], separators=(",", ":")).encode())
    return digest.hexdigest()


def teacher_input_columns(dataset: datasets.Dataset, prefix: str | None = None) -> tuple[str, dict[str, str]]:
    """``(prefix, {model argument: column})``: the ``teacher_*`` token columns when present, else the student's.

    The same rule as [`DistillationTrainer`]: a teacher with its own tokenizer reads ``teacher_input_ids``, ...
    An explicit ``prefix`` (``""`` for the student's columns) overrides the rule.
    """
    if prefix is None:
        prefix = TEACHER_PREFIX if f"{TEACHER_PREFIX}input_ids" in dataset.column_names else ""
    if f"{prefix}input_ids" not in dataset.column_names:
        raise ValueError(
            f"The dataset has no input_ids or {TEACHER_PREFIX}input_ids column (columns: {dataset.column_names}): "
            "tokenize it before computing teacher logits."
        )
    return prefix, {name: prefix + name for name in _INPUT_NAMES if prefix + name in dataset.column_names}


def cache_key(
    teacher: nn.Module, dataset: datasets.Dataset, data_columns: Sequence[str], teacher_name: str | None = None
) -> dict[str, str]:
    """The fingerprints (and readable notes) a cache of ``teacher``'s outputs over ``dataset`` is stored under."""
    _, inputs = teacher_input_columns(dataset)
    missing = [name for name in data_columns if name not in dataset.column_names]
    if missing:
        raise ValueError(f"data_columns {missing} are not columns of the dataset ({dataset.column_names}).")
    return {
        "format": CACHE_FORMAT,
        "teacher": teacher_fingerprint(teacher),
        "data": columns_fingerprint(dataset, data_columns),
        "tokenization": columns_fingerprint(dataset, sorted(inputs.values())),
        "teacher_name": str(teacher_name or getattr(getattr(teacher, "config", None), "_name_or_path", "") or ""),
        "num_rows": str(len(dataset)),
    }


@torch.inference_mode()
def compute_teacher_logits(
    teacher: nn.Module,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    show_progress: bool = True,
    input_prefix: str | None = None,
    description: str = "Teacher logits",
) -> torch.Tensor:
    """The teacher's logits over every row of the tokenized ``dataset``, in order: float32 ``[rows, num_labels]``.

    ``tokenizer`` is the teacher's (it pads the teacher's columns). The teacher runs in eval mode. Any model works:
    ``input_prefix=""`` feeds a student its own columns.
    """
    _, inputs = teacher_input_columns(dataset, input_prefix)
    accepted = forward_argument_names(teacher)
    inputs = {name: column for name, column in inputs.items() if name in accepted}
    device = torch.device(device) if device is not None else next(teacher.parameters()).device
    was_training = teacher.training
    teacher.eval()
    outputs = []
    columns = dataset.select_columns(list(inputs.values()))
    for start in tqdm(range(0, len(dataset), batch_size), desc=description, disable=not show_progress):
        rows = columns[start : start + batch_size]
        count = len(next(iter(rows.values())))
        features = [{name: rows[column][i] for name, column in inputs.items()} for i in range(count)]
        batch = tokenizer.pad(features, padding=True, return_tensors="pt")
        batch = {name: value.to(device) for name, value in batch.items()}
        outputs.append(teacher(**batch).logits.float().cpu())
    teacher.train(was_training)
    return torch.cat(outputs)


def logits_checksum(logits: torch.Tensor) -> str:
    """sha256 of the float32 bytes of ``logits`` (what the cache file stores)."""
    return hashlib.sha256(logits.float().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()


def save_teacher_cache(path: str | Path, logits: torch.Tensor, key: dict[str, str]) -> None:
    """Write ``logits``, ``key`` and the logits' checksum to the safetensors file ``path`` (atomically: a temporary
    file, then rename). Non-finite logits are refused: a student must not train on them."""
    path = Path(path)
    logits = logits.float().contiguous()
    bad_rows = int((~torch.isfinite(logits)).any(-1).sum())
    if bad_rows:
        raise ValueError(
            f"The teacher's logits are not finite on {bad_rows} of {logits.shape[0]} rows, so {path} was not written: "
            "the teacher overflows (run it in float32: teacher_dtype='float32') or its weights are not finite."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({"logits": logits}, str(temporary), metadata={**key, "logits_sha256": logits_checksum(logits)})
    os.replace(temporary, path)


def load_teacher_cache(path: str | Path, key: dict[str, str]) -> torch.Tensor:
    """The logits stored at ``path``; `TeacherCacheMismatchError` unless it was made for exactly ``key``,
    `TeacherCacheCorruptError` when the file is damaged (unreadable, checksum or finiteness)."""
    recompute = "delete it or recompute it with --overwrite_teacher_cache (overwrite=True)"
    try:
        with safe_open(str(path), framework="pt") as handle:
            stored = handle.metadata() or {}
            logits = handle.get_tensor("logits")
    except SafetensorError as error:
        raise TeacherCacheCorruptError(f"Teacher cache {path} is damaged ({error}): {recompute}.") from None
    if stored.get("format") != CACHE_FORMAT:
        raise TeacherCacheMismatchError(
            f"{path} is not a teacher cache of this version (format {stored.get('format')!r}, expected "
            f"{CACHE_FORMAT!r}; older caches carry no checksum of their logits): {recompute}."
        )
    if logits_checksum(logits) != stored.get("logits_sha256") or not torch.isfinite(logits).all():
        raise TeacherCacheCorruptError(
            f"Teacher cache {path} is damaged: its logits are not the ones written (sha256 mismatch) or not finite: "
            f"{recompute}."
        )
    for part, what in (("teacher", "teacher weights"), ("data", "training data"), ("tokenization", "tokenization")):
        if stored.get(part) != key[part]:
            raise TeacherCacheMismatchError(
                f"Teacher cache {path} was computed for other {what} than this run's (cached {part} fingerprint "
                f"{stored.get(part, '?')[:12]} for teacher {stored.get('teacher_name')!r} on {stored.get('num_rows')} "
                f"rows, now {key[part][:12]} for {key['teacher_name']!r} on {key['num_rows']} rows): refusing to "
                "train on it. Delete it, use another cache folder, or pass --overwrite_teacher_cache."
            )
    if logits.shape[0] != int(key["num_rows"]):  # fingerprints matched, so only a corrupted file gets here
        raise TeacherCacheCorruptError(
            f"Teacher cache {path} holds {logits.shape[0]} rows, not {key['num_rows']}: {recompute}."
        )
    return logits


def cached_teacher_logits(
    path: str | Path,
    teacher: nn.Module,
    dataset: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    data_columns: Sequence[str],
    batch_size: int = 64,
    device: torch.device | str | None = None,
    overwrite: bool = False,
    teacher_name: str | None = None,
    show_progress: bool = True,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Load the teacher's logits over ``dataset`` from ``path``, or compute and store them when there is no file.

    ``data_columns`` are the columns the data fingerprint covers (text and label). An existing file made for another
    teacher, data or tokenization raises `TeacherCacheMismatchError`, a damaged one `TeacherCacheCorruptError`,
    unless ``overwrite``. Returns the logits
    ``[rows, num_labels]`` and ``{"hit": bool, "seconds": float, "path": str, **fingerprints}``.
    """
    start = time.perf_counter()
    key = cache_key(teacher, dataset, data_columns, teacher_name)
    path = Path(path)
    if path.exists() and not overwrite:
        logits, hit = load_teacher_cache(path, key), True
    else:
        logits, hit = compute_teacher_logits(teacher, dataset, tokenizer, batch_size, device, show_progress), False
        save_teacher_cache(path, logits, key)
    return logits, {"hit": hit, "seconds": time.perf_counter() - start, "path": str(path), **key}


def add_teacher_logits(dataset: datasets.Dataset, logits: torch.Tensor) -> datasets.Dataset:
    """``dataset`` with a ``teacher_logits`` column (row i gets ``logits[i]``), replacing any existing one."""
    if logits.shape[0] != len(dataset):
        raise ValueError(f"{logits.shape[0]} rows of teacher logits for a dataset of {len(dataset)} rows.")
    if LOGITS_COLUMN in dataset.column_names:
        dataset = dataset.remove_columns(LOGITS_COLUMN)
    feature = datasets.List(datasets.Value("float32"), length=logits.shape[1])
    return dataset.add_column(LOGITS_COLUMN, logits.tolist(), feature=feature)
