"""`run_glue_distill.py --metric_name`: the dev metrics through any `evaluate` module (a local one here)."""

from tests.recipes.test_recipe import (  # noqa: F401 (models is a fixture, pytestmark the skip without GLUE data)
    EVAL_ROWS,
    common_flags,
    dev_accuracy,
    models,
    pytestmark,
    read_results,
    recipe_main,
)
from tests.test_glue_metric import ERROR_RATE


def test_metric_name_takes_a_local_evaluate_module(tmp_path, models):  # noqa: F811
    (tmp_path / "error_rate").mkdir()
    (tmp_path / "error_rate" / "error_rate.py").write_text(ERROR_RATE)
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--student_layers", "0"]
    assert recipe_main([*flags, "--metric_name", tmp_path / "error_rate", "--eval_strategy", "epoch"]) == 0
    results = read_results(out)
    student, teacher = results["student"], results["teacher"]
    assert list(student["metrics"]) == ["error_rate"] and results["main_metric"] == "error_rate"
    assert student["metrics"]["error_rate"] * EVAL_ROWS == round((1 - dev_accuracy(out)) * EVAL_ROWS)
    assert teacher["metrics"]["error_rate"] == 1 - read_results(models["teacher"])["teacher"]["metrics"]["accuracy"]
    assert results["config"]["data"]["metric_name"] == str(tmp_path / "error_rate")
