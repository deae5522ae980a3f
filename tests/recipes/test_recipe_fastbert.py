"""``run_glue_distill.py --distill_method fastbert``: both stages in one run, the speed table in results.json, the
PNG, the saved early-exit model; tiny models and a few dozen rows of the real SST-2 TSVs (see test_recipe.py)."""

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from hf_distill import FastBertForSequenceClassification
from tests.recipes.test_recipe import (
    EVAL_ROWS,
    GLUE_DIR,
    TRAIN_ROWS,
    common_flags,
    dev_accuracy,
    models,
    read_results,
    recipe_main,
)

pytestmark = pytest.mark.skipif(not (GLUE_DIR / "SST-2").is_dir(), reason=f"no GLUE TSVs in {GLUE_DIR}")
assert models  # the module-scoped fixture of test_recipe.py: a tiny SST-2 teacher fine-tuned by the recipe

FASTBERT_FLAGS = [
    "--distill_method", "fastbert", "--fastbert_speeds", 0, 0.5, 1, "--fastbert_speed", 0.4,
    "--fastbert_timing_batch_sizes", 1, 8, "--fastbert_timing_rows", 6, 16, "--fastbert_timing_repeats", 1,
]  # fmt: skip


def test_fastbert_runs_both_stages_and_writes_the_speed_table(tmp_path, models):
    out = tmp_path / "out"
    flags = [*common_flags(out), *FASTBERT_FLAGS, "--teacher_model_name_or_path", models["teacher"]]
    flags += ["--student_model_name_or_path", models["pretrained_teacher"], "--num_train_epochs", 3]
    flags += ["--fastbert_backbone_epochs", 2, "--fastbert_branches_learning_rate", 1e-2]
    assert recipe_main(flags) == 0
    results = read_results(out)
    assert results["distill_method"] == "fastbert"
    assert results["train"]["global_step"] == 3 * TRAIN_ROWS // 8

    saved = AutoModelForSequenceClassification.from_pretrained(out)
    assert isinstance(saved, FastBertForSequenceClassification) and saved.config.speed == 0.4
    assert (out / "modeling_fastbert.py").exists() and (out / "losses.py").exists()
    # The student's metrics are the saved model's adaptive predictions at speed 0.4.
    assert results["student"]["metrics"]["accuracy"] == pytest.approx(dev_accuracy(out))

    speed = results["method_results"]
    assert speed["speed_curve"] == str(out / "fastbert_speed_curve.png")
    assert (out / "fastbert_speed_curve.png").read_bytes()[:4] == b"\x89PNG"
    rows = speed["speed_table"]
    assert [row["speed"] for row in rows] == [None, 0.0, 0.5, 1.0]
    assert rows[1]["avg_layers"] == 3 and rows[1]["accuracy"] == rows[0]["accuracy"]
    assert rows[3]["avg_layers"] < 3  # speed 1: the trained branches are never exactly uniform
    for row in rows[1:]:
        assert row["timed_rows_batch1"] == 6 and row["timed_rows_batch8"] == 16
        assert row["exit_agreement_batch1"] == 1.0 and row["exit_agreement_batch8"] == 1.0
        assert row["speedup_batch1"] > 0 and row["relative_flops"] > 0  # > 1 when branches run but nobody exits
    assert rows[3]["relative_flops"] < 1


def test_fastbert_from_the_fine_tuned_teacher_trains_the_branches_only(tmp_path, models):
    out = tmp_path / "out"
    flags = [*common_flags(out), *FASTBERT_FLAGS, "--teacher_model_name_or_path", models["teacher"]]
    flags += ["--fastbert_backbone", "teacher", "--fastbert_backbone_epochs", 0]
    assert recipe_main(flags) == 0
    results = read_results(out)
    teacher = AutoModelForSequenceClassification.from_pretrained(models["teacher"])
    saved = AutoModelForSequenceClassification.from_pretrained(out)
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(saved.backbone.state_dict()[key], value)  # stage 1 skipped, backbone frozen
    assert results["method_results"]["speed_table"][0]["accuracy"] == pytest.approx(
        results["teacher"]["metrics"]["accuracy"]
    )
    assert len(results["method_results"]["speed_table"]) == 4 and EVAL_ROWS == 32


def test_fastbert_bad_settings_stop_with_one_line(tmp_path, models, capsys):
    out = tmp_path / "out"
    base = [*common_flags(out), *FASTBERT_FLAGS, "--teacher_model_name_or_path", models["teacher"]]
    assert recipe_main([*base, "--fastbert_backbone", "teacher"]) == 1
    assert "set fastbert_backbone_epochs=0" in capsys.readouterr().err
    assert recipe_main(base) == 1
    assert "fastbert_backbone='student' needs a student" in capsys.readouterr().err
    assert recipe_main([*base, "--fastbert_speed", 1.5]) == 1
    assert "speed=1.5 must be a number in [0, 1]" in capsys.readouterr().err
    assert not (out / "results.json").exists()
