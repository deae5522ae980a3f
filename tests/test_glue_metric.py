"""The GLUE `evaluate` module shipped in hf_distill/metrics: loaded by path without the Hub, numbers by hand."""

import configparser
import math
from pathlib import Path

import evaluate
import numpy as np
import pytest
from transformers import EvalPrediction

from hf_distill.glue import GLUE_TASKS, compute_metrics_fn
from hf_distill.metrics import GLUE_METRIC_PATH, load_metric, metric_scores

ROOT = Path(__file__).resolve().parents[1]
PREDICTIONS = [1, 1, 0, 0, 1, 0, 1, 1]
LABELS = [1, 0, 0, 1, 1, 0, 1, 0]
# TP = 3 (rows 0, 4, 6), FP = 2 (rows 1, 7), TN = 2 (rows 2, 5), FN = 1 (row 3).
ACCURACY, F1 = 5 / 8, 2 * 3 / (2 * 3 + 2 + 1)
MCC = (3 * 2 - 2 * 1) / math.sqrt((3 + 2) * (3 + 1) * (2 + 2) * (2 + 1))

# An `evaluate` module of another name, as a user would pass with --metric_name.
ERROR_RATE = """
import datasets
import evaluate


class ErrorRate(evaluate.Metric):
    def _info(self):
        features = datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")})
        return evaluate.MetricInfo(description="", citation="", features=features)

    def _compute(self, predictions, references):
        return {"error_rate": sum(p != r for p, r in zip(predictions, references)) / len(references)}
"""


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize(
    "task, expected",
    [
        ("sst2", {"accuracy": ACCURACY}),
        ("rte", {"accuracy": ACCURACY}),
        ("mnli_mismatched", {"accuracy": ACCURACY}),
        ("mrpc", {"accuracy": ACCURACY, "f1": F1, "combined_score": (ACCURACY + F1) / 2}),
        ("qqp", {"accuracy": ACCURACY, "f1": F1, "combined_score": (ACCURACY + F1) / 2}),
        ("cola", {"matthews_correlation": MCC}),
    ],
)
def test_loaded_by_path_offline_with_numbers_by_hand(offline, task, expected):
    metric = evaluate.load(GLUE_METRIC_PATH, task)
    assert metric.compute(predictions=PREDICTIONS, references=LABELS) == pytest.approx(expected)


def test_stsb_correlations_by_hand(offline):
    # Deviations x (-1.5, -.5, .5, 1.5), y (-.5, -1.5, 1.5, .5): sum xy = 3, sum x^2 = sum y^2 = 5. The ranks equal
    # the values, so Spearman is the same 3 / 5.
    metric = evaluate.load(GLUE_METRIC_PATH, "stsb")
    scores = metric.compute(predictions=[1.0, 2.0, 3.0, 4.0], references=[2.0, 1.0, 4.0, 3.0])
    assert scores == pytest.approx({"pearson": 0.6, "spearmanr": 0.6, "combined_score": 0.6})


def test_every_task_reports_its_metrics_and_a_bad_task_is_named(offline):
    for name, task in GLUE_TASKS.items():
        metric = evaluate.load(GLUE_METRIC_PATH, name)
        references = [1.0, 2.0, 3.0] if task.is_regression else [0, 1, 1]
        keys = set(metric.compute(predictions=references, references=references))
        assert keys == set(task.metrics) | ({"combined_score"} if len(task.metrics) > 1 else set()), name
    with pytest.raises(ValueError, match="'sst3' is not one of cola, sst2"):
        evaluate.load(GLUE_METRIC_PATH, "sst3")


def test_trainer_metrics_through_the_module_or_another_metric(offline, tmp_path):
    logits = np.stack([1 - np.array(PREDICTIONS), PREDICTIONS], axis=1).astype(float)
    prediction = EvalPrediction(predictions=(logits,), label_ids=np.array(LABELS))
    assert compute_metrics_fn("mrpc")(prediction) == pytest.approx(
        {"accuracy": ACCURACY, "f1": F1, "combined_score": (ACCURACY + F1) / 2}
    )
    (tmp_path / "error_rate").mkdir()
    (tmp_path / "error_rate" / "error_rate.py").write_text(ERROR_RATE)
    assert compute_metrics_fn("sst2", str(tmp_path / "error_rate"))(prediction) == {"error_rate": 3 / 8}


def test_the_wheel_ships_the_module_file():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    patterns = setup["options.package_data"]["hf_distill"].split(",")
    shipped = {path for pattern in patterns for path in (ROOT / "hf_distill").glob(pattern.strip())}
    assert Path(GLUE_METRIC_PATH, "glue_metric.py") in shipped


def test_a_metric_with_several_numbers_gets_their_mean_as_run_glue_does(offline, tmp_path):
    (tmp_path / "two").mkdir()
    two = ERROR_RATE.replace('return {"error_rate"', 'return {"one": 0.25, "error_rate"')
    (tmp_path / "two" / "two.py").write_text(two)
    scores = metric_scores(load_metric("mrpc", str(tmp_path / "two")), np.array(PREDICTIONS), LABELS, False)
    assert scores == {"one": 0.25, "error_rate": 3 / 8, "combined_score": (0.25 + 3 / 8) / 2}
