"""`run_glue_distill.py --distill_preset ebbt` (gradient transfer): tiny models, a few dozen rows of real SST-2."""

import json

import yaml

from tests.recipes.test_recipe import (  # noqa: F401 (models is a fixture, pytestmark the skip without GLUE data)
    ROOT,
    TRAIN_ROWS,
    check_distill_results,
    common_flags,
    models,
    pytestmark,
    read_results,
    recipe_main,
    run_bad,
)


def test_ebbt_with_its_term_settings_from_the_command_line(tmp_path, models, capsys):  # noqa: F811
    config = {"teacher_model_name_or_path": str(models["teacher"]), "distill_preset": "ebbt"}
    config["student_model_name_or_path"] = str(models["pretrained_student"])
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    term = [{"loss": "input_gradient", "weight": 0.5, "noise": 0.2}]
    flags = ["--config", tmp_path / "config.yaml", *common_flags(out), "--logging_steps", 1]
    assert recipe_main([*flags, "--intermediate_terms", json.dumps(term)]) == 0
    results = read_results(out)
    check_distill_results(results, out, models, train_rows=TRAIN_ROWS)
    training = results["config"]["training"]
    assert training["distill_preset"] == "ebbt" and training["intermediate_terms"] == term
    assert results["teacher_cache"] is None and not results["trained_from_teacher_logits"]  # the live teacher
    logs = [line for line in capsys.readouterr().out.splitlines() if "input_gradient_loss" in line]
    assert len(logs) == 2 * TRAIN_ROWS // 8  # every optimizer step logged the term


def test_ebbt_refuses_the_teacher_cache_other_tokenizers_and_negative_noise(tmp_path, models, capsys):  # noqa: F811
    out = tmp_path / "out"
    base = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--distill_preset", "ebbt"]
    student = ["--student_model_name_or_path", models["pretrained_student"]]
    bad_noise = json.dumps([{"loss": "input_gradient", "noise": -0.5}])
    error = run_bad(capsys, out, [*base, *student, "--intermediate_terms", bad_noise])
    assert "noise=-0.5; the noise scale sigma must be a number >= 0" in error
    error = run_bad(capsys, out, [*base, *student, "--teacher_cache_dir", tmp_path / "cache"])
    assert "needs more of the teacher than its logits" in error
    error = run_bad(capsys, out, [*base, "--student_model_name_or_path", models["shifted_student"]])
    assert "must read the same tokens (one tokenizer)" in error
    assert not (out / "results.json").exists()


def test_shipped_ebbt_config_selects_the_preset_with_the_live_teacher():
    from hf_distill.recipes.arguments import parse_arguments
    from hf_distill.recipes.methods import get_method

    model_args, _, training_args, _, _ = parse_arguments(
        ["--config", str(ROOT / "recipes/configs/sst2_ebbt_minilm.yaml")]
    )
    assert model_args.distill_method == "logit" and training_args.distill_preset == "ebbt"
    assert [term.loss for term in training_args.intermediate_term_list()] == ["input_gradient"]
    assert not get_method("logit").supports_teacher_cache(training_args)
