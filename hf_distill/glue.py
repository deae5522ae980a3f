"""The nine GLUE tasks: their columns and labels, loading from the Hub or a local TSV folder, and offline metrics.

Every task is loaded into the column names of the Hub dataset ``nyu-mll/glue`` (``sentence``, ``sentence1`` /
``sentence2``, ``question1`` / ``question2``, ``premise`` / ``hypothesis``, ``question`` / ``sentence``) plus an
integer ``label`` (a float for STS-B), whichever source it comes from, so the rest of a recipe never branches on it.
Metrics go through the `evaluate` module shipped in ``hf_distill/metrics/glue_metric`` (it needs no Hub).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from .metrics import compute_metrics_for, load_metric, predictions_of

# The numbers come from the package's `evaluate` module; these names stay importable from here.
from .metrics.glue_metric.glue_metric import (  # noqa: F401
    _ranks,
    accuracy,
    f1_score,
    glue_scores,
    matthews_correlation,
    pearson,
    spearman,
)

logger = logging.getLogger(__name__)

HUB_DATASET = "nyu-mll/glue"


@dataclass(frozen=True)
class GlueTask:
    """One GLUE task.

    ``text_fields`` are the Hub column names (one for single-sentence tasks, two for pairs); ``label_names`` the
    Hub label names in id order (``None`` for the regression task STS-B). ``eval_splits`` maps each dev split's Hub
    name to its TSV file; the first is the one models are selected and compared on. ``tsv_columns`` maps each Hub
    column (and ``label``) to the TSV header name, or to a position for header-less files (``tsv_header`` false).
    """

    name: str
    folder: str
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...] | None
    metrics: tuple[str, ...]
    tsv_columns: dict[str, str | int]
    eval_splits: dict[str, str] = field(default_factory=lambda: {"validation": "dev.tsv"})
    tsv_header: bool = True

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)

    @property
    def main_eval_split(self) -> str:
        return next(iter(self.eval_splits))

    @property
    def main_metric(self) -> str:
        """The task's GLUE score: its single metric, or ``combined_score`` (the mean) when it has two."""
        return self.metrics[0] if len(self.metrics) == 1 else "combined_score"

    @property
    def id2label(self) -> dict[int, str] | None:
        return None if self.label_names is None else dict(enumerate(self.label_names))


def _pair(first: str, second: str, tsv_first: str, tsv_second: str, label: str) -> dict[str, str | int]:
    return {first: tsv_first, second: tsv_second, "label": label}


GLUE_TASKS: dict[str, GlueTask] = {
    task.name: task
    for task in (
        GlueTask(
            "cola", "CoLA", ("sentence",), ("unacceptable", "acceptable"), ("matthews_correlation",),
            tsv_columns={"sentence": 3, "label": 1}, tsv_header=False,
        ),
        GlueTask(
            "sst2", "SST-2", ("sentence",), ("negative", "positive"), ("accuracy",),
            tsv_columns={"sentence": "sentence", "label": "label"},
        ),
        GlueTask(
            "mrpc", "MRPC", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("accuracy", "f1"),
            tsv_columns=_pair("sentence1", "sentence2", "#1 String", "#2 String", "Quality"),
        ),
        GlueTask(
            "qqp", "QQP", ("question1", "question2"), ("not_duplicate", "duplicate"), ("accuracy", "f1"),
            tsv_columns=_pair("question1", "question2", "question1", "question2", "is_duplicate"),
        ),
        GlueTask(
            "stsb", "STS-B", ("sentence1", "sentence2"), None, ("pearson", "spearmanr"),
            tsv_columns=_pair("sentence1", "sentence2", "sentence1", "sentence2", "score"),
        ),
        GlueTask(
            "mnli", "MNLI", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"), ("accuracy",),
            tsv_columns=_pair("premise", "hypothesis", "sentence1", "sentence2", "gold_label"),
            eval_splits={"validation_matched": "dev_matched.tsv", "validation_mismatched": "dev_mismatched.tsv"},
        ),
        GlueTask(
            "qnli", "QNLI", ("question", "sentence"), ("entailment", "not_entailment"), ("accuracy",),
            tsv_columns=_pair("question", "sentence", "question", "sentence", "label"),
        ),
        GlueTask(
            "rte", "RTE", ("sentence1", "sentence2"), ("entailment", "not_entailment"), ("accuracy",),
            tsv_columns=_pair("sentence1", "sentence2", "sentence1", "sentence2", "label"),
        ),
        GlueTask(
            "wnli", "WNLI", ("sentence1", "sentence2"), ("not_entailment", "entailment"), ("accuracy",),
            tsv_columns=_pair("sentence1", "sentence2", "sentence1", "sentence2", "label"),
        ),
    )
}  # fmt: skip


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def get_task(name: str) -> GlueTask:
    """The task called ``name`` (Hub name ``"sst2"`` or folder name ``"SST-2"``, any case)."""
    for task in GLUE_TASKS.values():
        if _key(name) in (_key(task.name), _key(task.folder)):
            return task
    raise ValueError(f"task_name={name!r} is not a GLUE task; use one of {', '.join(GLUE_TASKS)}.")


# ---- Loading ----


def load_glue(
    task: GlueTask | str, glue_dir: str | Path | None = None, splits: Sequence[str] | None = None
) -> datasets.DatasetDict:
    """Splits of ``task`` (default: ``train`` and the dev splits) as Hub-named columns plus ``label``.

    With ``glue_dir`` the TSV files ``glue_dir/<folder>/{train,dev}.tsv`` are read (the layout of the GLUE download
    script; MNLI has ``dev_matched.tsv`` and ``dev_mismatched.tsv``); otherwise ``nyu-mll/glue`` from the Hub.
    A missing folder or file raises `FileNotFoundError` naming it.
    """
    task = get_task(task) if isinstance(task, str) else task
    splits = list(splits) if splits is not None else ["train", *task.eval_splits]
    for split in splits:
        if split != "train" and split not in task.eval_splits:
            raise ValueError(f"{task.name} has no split {split!r}; it has train, {', '.join(task.eval_splits)}.")
    if glue_dir is None:
        loaded = datasets.load_dataset(HUB_DATASET, task.name)
        columns = [*task.text_fields, "label"]
        return datasets.DatasetDict({split: loaded[split].select_columns(columns) for split in splits})
    folder = Path(glue_dir) / task.folder
    if not folder.is_dir():
        raise FileNotFoundError(
            f"GLUE folder {folder} does not exist: glue_dir must hold one folder per task ({task.folder}/train.tsv, "
            f"{task.folder}/dev.tsv, ...)."
        )
    files = {split: folder / ("train.tsv" if split == "train" else task.eval_splits[split]) for split in splits}
    for path in files.values():
        if not path.is_file():
            raise FileNotFoundError(f"GLUE file {path} does not exist (needed for task {task.name}).")
    return datasets.DatasetDict({split: _read_tsv(task, path) for split, path in files.items()})


def _read_tsv(task: GlueTask, path: Path) -> datasets.Dataset:
    columns: dict[str, list[Any]] = {name: [] for name in [*task.text_fields, "label"]}
    skipped = 0
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None) if task.tsv_header else None
        if task.tsv_header and header is None:
            raise ValueError(f"GLUE file {path} is empty: download it again (it needs a header and rows).")
        positions = _column_positions(task, header, path)
        for line_number, row in enumerate(reader, start=2 if task.tsv_header else 1):
            if len(row) <= max(positions.values()):
                skipped += 1  # the GLUE QQP and MNLI files have a few broken lines; the reference loaders skip them
                continue
            for name in task.text_fields:
                columns[name].append(row[positions[name]])
            columns["label"].append(_parse_label(task, row[positions["label"]], path, line_number))
    if skipped:
        logger.warning("Skipped %d malformed line(s) of %s.", skipped, path)
    if not columns["label"]:
        raise ValueError(f"GLUE file {path} has no rows: download it again.")
    features = datasets.Features(
        {
            **{name: datasets.Value("string") for name in task.text_fields},
            "label": datasets.Value("float32")
            if task.is_regression
            else datasets.ClassLabel(names=list(task.label_names)),
        }
    )
    return datasets.Dataset.from_dict(columns, features=features)


def _column_positions(task: GlueTask, header: list[str] | None, path: Path) -> dict[str, int]:
    if header is None:
        return {name: int(column) for name, column in task.tsv_columns.items()}
    header = [name.strip() for name in header]
    missing = [str(column) for column in task.tsv_columns.values() if column not in header]
    if missing:
        raise ValueError(
            f"GLUE file {path} has no column {', '.join(missing)} (header: {', '.join(header)}); is it the "
            f"{task.folder} file of the GLUE download?"
        )
    return {name: header.index(column) for name, column in task.tsv_columns.items()}


def _parse_label(task: GlueTask, value: str, path: Path, line_number: int) -> int | float:
    value = value.strip()
    try:
        if task.is_regression:
            return float(value)
        if value in task.label_names:
            return task.label_names.index(value)
        label = int(value)
        if 0 <= label < task.num_labels:
            return label
    except ValueError:
        pass
    expected = (
        "a number" if task.is_regression else f"one of {', '.join(task.label_names)} or 0..{task.num_labels - 1}"
    )
    raise ValueError(f"{path} line {line_number}: label {value!r} is not {expected}.")


# ---- Metrics ----


def glue_metrics(task: GlueTask | str, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The official dev metrics of ``task``, as ``evaluate.load(hf_distill.metrics.GLUE_METRIC_PATH, task)``.

    ``predictions`` are logits ``[N, num_labels]`` (argmax taken) or class ids ``[N]``; for STS-B, scores ``[N]``
    or ``[N, 1]``. Tasks with two metrics also get ``combined_score``, their mean (the task's GLUE score).
    """
    task = get_task(task) if isinstance(task, str) else task
    return glue_scores(task.name, predictions_of(predictions, task.is_regression), np.asarray(labels))


def compute_metrics_fn(task: GlueTask | str, metric_name: str | None = None) -> Callable[[Any], dict[str, float]]:
    """A ``compute_metrics`` for `transformers.Trainer` reporting ``task``'s official metrics through `evaluate`
    (``metric_name``: another `evaluate` metric, a Hub name or a local path, given the task as configuration)."""
    task = get_task(task) if isinstance(task, str) else task
    return compute_metrics_for(load_metric(task.name, metric_name), task.is_regression)
