"""The GLUE benchmark's dev metrics as an `evaluate` module that works offline.

Load it by path, with the task as the configuration name::

    import evaluate
    from hf_distill.metrics import GLUE_METRIC_PATH

    metric = evaluate.load(GLUE_METRIC_PATH, "mrpc")
    metric.compute(predictions=[1, 0, 1], references=[1, 1, 1])
    # {'accuracy': 0.667, 'f1': 0.8, 'combined_score': 0.733}

The metrics per task are those of the GLUE paper (Wang et al., 2019, https://arxiv.org/abs/1804.07461) and of
``evaluate.load("glue", task)``: Matthews correlation for CoLA, accuracy and F1 of the positive class for MRPC and
QQP, Pearson and Spearman correlations for STS-B, accuracy for the others. A task with two metrics also gets
``combined_score``, their mean (its GLUE score, as transformers' ``run_glue.py`` reports it). Predictions are class
ids (scores for STS-B). The file needs only numpy and `evaluate`, so a copy of it works on its own.
"""

from __future__ import annotations

from collections.abc import Callable

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "GLUE dev metrics (accuracy, F1, Matthews correlation, Pearson, Spearman) computed with numpy."
_CITATION = """@inproceedings{wang2019glue,
  title={{GLUE}: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer and Bowman, Samuel R.},
  booktitle={International Conference on Learning Representations},
  year={2019}
}"""
_KWARGS_DESCRIPTION = """
Args:
    predictions: class ids [N] (scores [N] for stsb).
    references: gold class ids [N] (scores [N] for stsb).
Returns:
    the task's metrics (see TASK_METRICS), plus combined_score (their mean) for a task with two.
"""


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float((predictions == labels).mean())


def f1_score(predictions: np.ndarray, labels: np.ndarray) -> float:
    """F1 of the positive class (label 1): ``2 TP / (2 TP + FP + FN)``, 0 when there is no positive at all."""
    tp = float(np.sum((predictions == 1) & (labels == 1)))
    fp = float(np.sum((predictions == 1) & (labels != 1)))
    fn = float(np.sum((predictions != 1) & (labels == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def matthews_correlation(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Binary Matthews correlation ``(TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``, 0 when undefined."""
    tp = float(np.sum((predictions == 1) & (labels == 1)))
    tn = float(np.sum((predictions != 1) & (labels != 1)))
    fp = float(np.sum((predictions == 1) & (labels != 1)))
    fn = float(np.sum((predictions != 1) & (labels == 1)))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denominator == 0 else float((tp * tn - fp * fn) / denominator)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, dtype=np.float64) - np.mean(x), np.asarray(y, dtype=np.float64) - np.mean(y)
    denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return 0.0 if denominator == 0 else float(np.sum(x * y) / denominator)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing their average rank (as scipy.stats.rankdata)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's correlation of the (tie-averaged) ranks."""
    return pearson(_ranks(x), _ranks(y))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "f1": f1_score,
    "matthews_correlation": matthews_correlation,
    "pearson": pearson,
    "spearmanr": spearman,
}
_ACCURACY = ("accuracy",)
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "cola": ("matthews_correlation",),
    "sst2": _ACCURACY,
    "mrpc": ("accuracy", "f1"),
    "qqp": ("accuracy", "f1"),
    "stsb": ("pearson", "spearmanr"),
    "mnli": _ACCURACY,
    "mnli_matched": _ACCURACY,
    "mnli_mismatched": _ACCURACY,
    "qnli": _ACCURACY,
    "rte": _ACCURACY,
    "wnli": _ACCURACY,
    "hans": _ACCURACY,
}


def glue_scores(task: str, predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    """The metrics of GLUE task ``task`` (a key of `TASK_METRICS`) for class ids (scores for stsb) ``[N]``."""
    if task not in TASK_METRICS:
        raise ValueError(f"GLUE metric configuration {task!r} is not one of {', '.join(TASK_METRICS)}.")
    predictions, references = np.asarray(predictions), np.asarray(references)
    results = {name: METRICS[name](predictions, references) for name in TASK_METRICS[task]}
    if len(results) > 1:
        results["combined_score"] = float(np.mean(list(results.values())))
    return results


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class GlueMetric(evaluate.Metric):
    """The GLUE metrics of the task named by ``config_name`` (``evaluate.load(path, "sst2")``)."""

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name not in TASK_METRICS:
            raise ValueError(
                f"GLUE metric configuration {self.config_name!r} is not one of {', '.join(TASK_METRICS)}: load it "
                'as evaluate.load(path, "sst2").'
            )
        kind = "float32" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value(kind), "references": datasets.Value(kind)}),
            format="numpy",
        )

    def _compute(self, predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
        return glue_scores(self.config_name, predictions, references)
