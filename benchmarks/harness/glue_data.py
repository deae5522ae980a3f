"""GLUE TSV files (SST-2, MRPC, RTE) as tokenized rows, and the scores of predictions.

Tokenized rows are plain lists of dicts, which `transformers.Trainer` and `DistillationTrainer` take as datasets:
the harness's own data path needs no ``datasets`` package (the GPU machine has none)."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import numpy as np

# task -> (text columns, label column, label map (None: already 0/1 integers), metric)
TASKS: dict[str, tuple[tuple[str, ...], str, dict[str, int] | None, str]] = {
    "SST-2": (("sentence",), "label", None, "accuracy"),
    "MRPC": (("#1 String", "#2 String"), "Quality", None, "f1"),
    "RTE": (("sentence1", "sentence2"), "label", {"entailment": 0, "not_entailment": 1}, "accuracy"),
}


def read_rows(glue_dir: str | Path, task: str, split: str) -> list[dict[str, Any]]:
    """Rows ``{"text": [..], "label": int}`` of ``glue_dir/task/split.tsv``."""
    if task not in TASKS:
        raise ValueError(f"Unknown GLUE task {task!r}; choose from {sorted(TASKS)}.")
    fields, label_field, label_map, _ = TASKS[task]
    path = Path(glue_dir) / task / f"{split}.tsv"
    with open(path, newline="", encoding="utf-8-sig") as handle:  # MRPC's header starts with a BOM
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = []
        for row in reader:
            raw = row[label_field]
            label = label_map[raw] if label_map else int(raw)
            rows.append({"text": [row[field] for field in fields], "label": label})
    return rows


def subset(rows: list[dict[str, Any]], count: int | None, shuffle_seed: int | None) -> list[dict[str, Any]]:
    """The first ``count`` rows (all when None), after a ``random.Random(shuffle_seed)`` shuffle when given."""
    rows = list(rows)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(rows)
    return rows if count is None else rows[:count]


def tokenized(rows: list[dict[str, Any]], tokenizer: Any, max_length: int) -> list[dict[str, Any]]:
    """One dict per row: ``input_ids``/``attention_mask``(/``token_type_ids``) unpadded, and ``labels``."""
    columns = list(zip(*[row["text"] for row in rows]))
    encoded = tokenizer(*[list(column) for column in columns], truncation=True, max_length=max_length)
    keys = list(encoded.keys())
    return [{**{key: encoded[key][index] for key in keys}, "labels": row["label"]} for index, row in enumerate(rows)]


def score(task: str, logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, plus F1 of class 1 for MRPC (its GLUE metric). The task's metric is under ``"score"``."""
    predictions = logits.argmax(-1)
    result = {"accuracy": float((predictions == labels).mean())}
    true_positive = float(((predictions == 1) & (labels == 1)).sum())
    predicted, actual = float((predictions == 1).sum()), float((labels == 1).sum())
    result["f1"] = 2 * true_positive / (predicted + actual) if predicted + actual else 0.0
    result["score"] = result[TASKS[task][3]]
    return result
