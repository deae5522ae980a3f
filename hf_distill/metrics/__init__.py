"""Metrics through `evaluate`: the GLUE metric module shipped with the package, or any `evaluate` metric.

``GLUE_METRIC_PATH`` is a folder that ``evaluate.load`` reads without the Hub (the GLUE paper's dev metrics, see
``glue_metric/glue_metric.py``); [`load_metric`] loads it or any other metric with the task as configuration, and
[`metric_scores`] turns model outputs into its inputs as transformers' ``run_glue.py`` does (argmax over the
classes, or the single score of a regression head).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import evaluate
import numpy as np

GLUE_METRIC_PATH = str(Path(__file__).resolve().parent / "glue_metric")


def load_metric(task: str, metric_name: str | None = None) -> evaluate.EvaluationModule:
    """``evaluate.load(metric_name, task)`` kept in memory; ``metric_name`` None: the shipped GLUE module.

    ``metric_name`` is anything ``evaluate.load`` takes: a Hub metric (``"glue"``, ``"accuracy"``, needing the
    Hub) or a local folder / script. The task is passed as the configuration name: GLUE-style modules read it,
    others ignore it.
    """
    return evaluate.load(metric_name or GLUE_METRIC_PATH, task, keep_in_memory=True)


def predictions_of(outputs: np.ndarray, regression: bool) -> np.ndarray:
    """A metric's ``predictions`` from model ``outputs``: the argmax of logits ``[N, C]`` (class ids ``[N]`` kept),
    or for a regression head its scores ``[N]`` (from ``[N]`` or ``[N, 1]``)."""
    outputs = np.asarray(outputs)
    if regression:
        return outputs.reshape(-1)
    return outputs.argmax(-1) if outputs.ndim == 2 else outputs


def metric_scores(
    metric: evaluate.EvaluationModule, outputs: np.ndarray, labels: np.ndarray, regression: bool
) -> dict[str, Any]:
    """``metric`` on model ``outputs`` (see [`predictions_of`]), numbers as floats; with several numbers and no
    ``combined_score``, their mean is added under that name, as transformers' ``run_glue.py`` does (so
    ``evaluate.load("glue", "mrpc")`` reports the same keys as the shipped module)."""
    scores = metric.compute(predictions=predictions_of(outputs, regression), references=np.asarray(labels))
    scores = {name: float(value) if np.isscalar(value) else value for name, value in scores.items()}
    numbers = [value for value in scores.values() if isinstance(value, float)]
    if len(numbers) > 1 and "combined_score" not in scores:
        scores["combined_score"] = float(np.mean(numbers))
    return scores


def compute_metrics_for(metric: evaluate.EvaluationModule, regression: bool) -> Callable[[Any], dict[str, float]]:
    """A ``compute_metrics`` for `transformers.Trainer` reporting ``metric``."""

    def compute_metrics(prediction: Any) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return metric_scores(metric, logits, prediction.label_ids, regression)

    return compute_metrics
