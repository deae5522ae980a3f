"""`run_glue_distill.py --distill_method theseus`: tiny 3-layer teacher, a few dozen rows of the real SST-2 TSVs."""

import pytest
import torch
import yaml
from transformers import AutoModelForSequenceClassification

from tests.recipes.test_recipe import (  # noqa: F401 (models is a fixture, pytestmark the skip without GLUE data)
    EVAL_ROWS,
    TRAIN_ROWS,
    common_flags,
    dev_accuracy,
    models,
    pytestmark,
    read_results,
    recipe_main,
    run_bad,
)


def test_theseus_from_a_yaml_config_exports_the_successor(tmp_path, models):  # noqa: F811
    config = {
        "teacher_model_name_or_path": str(models["teacher"]),
        "distill_method": "theseus",
        "theseus_predecessor_groups": "[[0, 1], [2]]",  # 3 teacher layers: uneven groups need the mapping
        "theseus_successor_init": "group_last",
        "theseus_replacement_rate": 0.5,
        "theseus_replacing_steps": 0.5,
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert recipe_main(["--config", tmp_path / "config.yaml", *common_flags(out), "--logging_steps", 1]) == 0
    results = read_results(out)
    assert results["distill_method"] == "theseus"
    assert results["config"]["method"]["TheseusArguments"]["theseus_predecessor_groups"] == [[0, 1], [2]]
    student, teacher = results["student"], results["teacher"]
    assert student["num_layers"] == 2 and student["parameters"] < teacher["parameters"]
    saved = AutoModelForSequenceClassification.from_pretrained(out)
    assert saved.config.num_hidden_layers == 2
    assert student["parameters"] == sum(p.numel() for p in saved.parameters())
    assert student["metrics"]["accuracy"] == pytest.approx(dev_accuracy(out))  # the saved student is the evaluated one
    assert results["train"]["global_step"] == 2 * TRAIN_ROWS // 8 and results["inference"]["examples"] == EVAL_ROWS

    # The saved successor keeps the teacher's frozen embeddings and classifier, and trained successor layers.
    source = AutoModelForSequenceClassification.from_pretrained(models["teacher"])
    for name, value in source.state_dict().items():
        if not name.startswith("bert.encoder."):
            torch.testing.assert_close(saved.state_dict()[name], value, msg=name)
    layer = "bert.encoder.layer.1.output.dense.weight"
    assert not torch.equal(saved.state_dict()[layer], source.state_dict()["bert.encoder.layer.2.output.dense.weight"])


def test_theseus_bad_input_stops_with_one_line(tmp_path, models, capsys):  # noqa: F811
    out = tmp_path / "out"
    base = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--distill_method", "theseus"]
    assert "needs theseus_successor_layers" in run_bad(capsys, out, base)
    error = run_bad(capsys, out, [*base, "--theseus_successor_layers", 2])
    assert "does not divide the predecessor's 3 layers" in error
    error = run_bad(capsys, out, [*base, "--theseus_successor_layers", 3, "--student_layers", "0,2"])
    assert "builds its successor layers from the teacher's own layers" in error
    error = run_bad(capsys, out, [*base, "--theseus_successor_layers", 3, "--theseus_replacement_rate", 1.5])
    assert "replacement_rate=1.5" in error
    error = run_bad(capsys, out, [*base, "--theseus_successor_layers", 3, "--theseus_schedule", "linear"])
    assert "slope=None must be > 0" in error
    error = run_bad(capsys, out, [*base, "--theseus_successor_layers", 3, "--teacher_cache_dir", tmp_path / "c"])
    assert "needs more of the teacher than its logits" in error
    assert not (out / "results.json").exists()
