"""Rows suites (benchmarks/suites/standard.yaml): the plan, the held-out selection, resuming, merging, the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import run
from harness import rows, rows_report, store

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"  # pyproject: pytest's pythonpath


def small_definition() -> dict:
    """The standard suite's own rows and candidates, on one task and one seed (for the fake-run tests)."""
    definition = rows.load_definition("standard")
    definition["tasks"] = {"SST-2": {"train_rows": 8, "heldout_rows": 4}}
    definition["protocol"]["seeds"] = [0, 1]
    return definition


def fake_record(row: rows.Row, score: float, **extra) -> dict:
    return {"kind": row.kind, "task": row.task, "teacher": row.teacher, "seed": row.seed, "score": score,
            "metric": "accuracy", "wall_seconds": 10.0, "date": "2026-12-02T00:00:00+0000", **extra}  # fmt: skip


def test_the_standard_suite_plans_every_row_of_the_issue():
    definition = rows.load_definition("standard")
    planned = rows.plan(definition)
    names = [row.name for row in planned]
    assert len(names) == len(set(names)) == 3 * (2 + 7 + 9 * 2)  # teachers, candidates, 9 rows x 2 seeds
    assert names[:6] == [f"{task}/teacher/{name}" for task in ("MRPC", "RTE", "SST-2") for name in ("mpnet", "minilm")]
    # Row by row on every task and seed, cheapest first; a selection's candidates (all tasks) just before its row.
    assert names[6:12] == [f"{task}/student_alone/seed{seed}" for task in ("MRPC", "RTE", "SST-2") for seed in (0, 1)]
    assert names.index("SST-2/theseus/seed1") < names.index("MRPC/logit_kd_augmented/seed0")
    assert names.index("SST-2/logit_kd_augmented/seed1") < names.index("MRPC/select/preset/pkd-skip@10")
    assert names.index("SST-2/select/preset/distilbert@1") < names.index("MRPC/best_preset/seed0")
    by_name = {row.name: row for row in planned}
    augmented = by_name["SST-2/logit_kd_augmented/seed1"]
    assert augmented.teacher == "mpnet" and augmented.seed == 1
    assert augmented.args == rows.arg_sets()["tinybert_augmentation"]  # the shared declaration, expanded
    augmented_minilm = by_name["SST-2/logit_kd_augmented_minilm/seed0"]
    assert augmented_minilm.teacher == "minilm" and augmented_minilm.args == augmented.args
    assert names.index("SST-2/logit_kd_augmented/seed1") < names.index("MRPC/logit_kd_augmented_minilm/seed0")
    theseus = by_name["RTE/theseus/seed0"]
    assert theseus.teacher == "minilm" and theseus.own_student
    assert theseus.args[:4] == ["--distill_method", "theseus", "--theseus_successor_layers", "3"]
    assert by_name["MRPC/ebbt/seed0"].select == "ebbt" and by_name["MRPC/ebbt/seed0"].teacher == "minilm"
    ebbt = by_name["MRPC/select/ebbt/beta0.1"]
    assert ebbt.args[:2] == ["--distill_preset", "ebbt"] and ebbt.seed == definition["protocol"]["selection_seed"]
    assert json.loads(ebbt.args[3]) == [{"loss": "input_gradient", "weight": 0.1, "noise": 0.1}]
    assert json.loads(by_name["MRPC/select/ebbt_no_noise/beta1"].args[3])[0]["noise"] == 0.0


def test_heldout_splits_by_rows_and_by_fraction():
    # SST-2: the 872 rows after the 8000 trained on; candidates train on the same 8000 rows.
    assert rows.split_sizes({"train_rows": 8000, "heldout_rows": 872}, 67349) == {
        "train_rows": 8000, "select_train_rows": 8000, "heldout_rows": 872,
    }  # fmt: skip
    # MRPC: all 3668 rows for the final rows; the selection holds out round(366.8) = 367 and trains on 3301.
    assert rows.split_sizes({"train_rows": None, "heldout_fraction": 0.1}, 3668) == {
        "train_rows": None, "select_train_rows": 3301, "heldout_rows": 367,
    }  # fmt: skip
    with pytest.raises(ValueError, match="heldout_rows"):
        rows.split_sizes({"train_rows": 8000, "heldout_rows": 872}, 8500)


def test_recipe_commands_of_each_kind(tmp_path):
    glue = tmp_path / "glue" / "SST-2"
    glue.mkdir(parents=True)
    (glue / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"s{i}\t{i % 2}\n" for i in range(20)))
    (glue / "dev.tsv").write_text("sentence\tlabel\nd\t0\n")
    definition = small_definition()
    paths = rows.Paths(str(tmp_path / "glue"), "/models", "/teachers", str(tmp_path / "work"))
    runner = rows.Runner(definition, paths, tmp_path / "results.json")
    by_name = {row.name: row for row in rows.plan(definition)}
    teacher = runner.command(by_name["SST-2/teacher/mpnet"])
    assert teacher[teacher.index("--output_dir") + 1] == "/teachers/mpnet-sst2"
    assert teacher[teacher.index("--teacher_model_name_or_path") + 1] == "/models/mpnet-base"
    assert teacher[teacher.index("--learning_rate") + 1] == "2e-05" and "--stage" in teacher
    assert teacher[-4:] == ["--train_shuffle_seed", "0", "--max_train_samples", "8"]
    alone = runner.command(by_name["SST-2/student_alone/seed1"], "OUT")
    assert alone[alone.index("--student_layers") + 1] == "0,2,4" and alone[alone.index("--seed") + 1] == "1"
    assert alone[alone.index("--teacher_cache_dir") + 1].endswith("teacher-cache/minilm-sst2-final")
    assert alone[-2:] == ["--alpha", "0"] and alone[alone.index("--glue_dir") + 1] == str(tmp_path / "glue")
    assert alone.count("--inference_repeats") == 1 and alone[alone.index("--inference_repeats") + 1] == "0"
    # A row's own flag replaces the protocol's: the logged command names the timing once, as it ran.
    logit_kd = runner.command(by_name["SST-2/logit_kd/seed0"], "OUT")
    assert logit_kd.count("--inference_repeats") == 1 and logit_kd[logit_kd.index("--inference_repeats") + 1] == "1"
    assert logit_kd.count("--warmup_steps") == 1 and logit_kd[logit_kd.index("--warmup_steps") + 1] == "0.1"
    theseus = runner.command(by_name["SST-2/theseus/seed0"], "OUT")
    assert "--student_model_name_or_path" not in theseus and "--teacher_cache_dir" not in theseus
    candidate = runner.command(by_name["SST-2/select/preset/minilm@0.1"], "OUT")
    heldout_dir = Path(candidate[candidate.index("--glue_dir") + 1])
    assert heldout_dir == tmp_path / "work" / "heldout" / "SST-2-8-4"
    dev = (heldout_dir / "SST-2" / "dev.tsv").read_text().splitlines()
    assert len(dev) == 1 + 4 and candidate[-4:] == ["--distill_preset", "minilm", "--intermediate_weight", "0.1"]
    # The held-out rows are the 4 after the first 8 of the seed-0 shuffle: none of them is trained on.
    import random

    order = list(range(20))
    random.Random(0).shuffle(order)
    assert dev[1:] == [f"s{i}\t{i % 2}" for i in order[8:12]]


def test_a_teacher_read_from_disk_is_checked_against_the_suite_command(tmp_path):
    command = ["python", "run.py", "--max_seq_length", "128", "--num_train_epochs", "3", "--learning_rate", "2e-05",
               "--train_shuffle_seed", "0", "--max_train_samples", "8000", "--seed", "0"]  # fmt: skip
    config = {"data": {"max_seq_length": 128, "max_train_samples": 8000, "train_shuffle_seed": 0},
              "training": {"num_train_epochs": 3.0, "learning_rate": 2e-5, "seed": 0}}  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"config": config}))
    assert rows.protocol_differences(path, command) == {}
    config["training"]["learning_rate"], config["data"]["max_train_samples"] = 5e-5, None
    path.write_text(json.dumps({"config": config}))
    assert rows.protocol_differences(path, command) == {
        "learning_rate": [5e-5, "2e-05"],
        "max_train_samples": [None, "8000"],
    }


def test_a_teacher_folder_without_results_is_not_overwritten(tmp_path):
    definition = small_definition()
    paths = rows.Paths(str(tmp_path / "glue"), "/models", str(tmp_path / "teachers"), str(tmp_path / "work"))
    (tmp_path / "teachers" / "mpnet-sst2").mkdir(parents=True)
    (tmp_path / "teachers" / "mpnet-sst2" / "model.safetensors").write_text("being written")
    record = rows.Runner(definition, paths, tmp_path / "r.json").run_row(rows.plan(definition)[0])
    assert "holds files but no results.json" in record["error"] and record["wall_seconds"] >= 0


def test_selection_picks_the_best_heldout_score_once_every_candidate_has_a_result():
    definition = small_definition()
    results = {"rows": {}}
    by_name = {row.name: row for row in rows.plan(definition)}
    best = by_name["SST-2/best_preset/seed0"]
    assert rows.status(results, definition, best) == "waiting for teacher"
    results["rows"]["SST-2/teacher/minilm"] = fake_record(by_name["SST-2/teacher/minilm"], 0.85)
    results["rows"]["SST-2/select/preset/pkd-skip@10"] = fake_record(by_name["SST-2/select/preset/pkd-skip@10"], 0.8)
    assert rows.status(results, definition, best) == "waiting for selection"
    results["rows"]["SST-2/select/preset/minilm@0.1"] = {"kind": "candidate", "error": "RuntimeError: boom"}
    results["rows"]["SST-2/select/preset/distilbert@1"] = fake_record(by_name["SST-2/select/preset/distilbert@1"], 0.8)
    chosen = rows.selection(results, definition, "SST-2", "preset")
    assert chosen["chosen"] == "pkd-skip@10"  # a tie goes to the first listed; the failed one is not chosen
    assert (
        chosen["errors"] == {"minilm@0.1": "RuntimeError: boom"}
        and rows.status(results, definition, best) == "pending"
    )
    for label in ("beta0.1", "beta1"):
        results["rows"][f"SST-2/select/ebbt/{label}"] = {"kind": "candidate", "error": "ValueError: no ebbt"}
    assert rows.status(results, definition, by_name["SST-2/ebbt/seed0"]) == "unavailable"
    assert rows.status(results, definition, by_name["SST-2/ebbt_no_noise/seed0"]) == "waiting for selection"


def _fake_runner(tmp_path, monkeypatch, scores: dict[str, float], fail: set[str] = frozenset(), teachers=True):
    """A runner whose rows record ``scores[method]`` (+ seed / 100) instead of training; ``teachers``: whether the
    teachers' folders hold a results.json (as a teacher stage leaves them)."""
    definition = small_definition()
    paths = rows.Paths(str(tmp_path / "glue"), "/models", str(tmp_path / "teachers"), str(tmp_path / "work"))
    for name in definition["teachers"] if teachers else ():
        paths.teacher(name, "SST-2").mkdir(parents=True, exist_ok=True)
        (paths.teacher(name, "SST-2") / "results.json").write_text("{}")
    runner = rows.Runner(definition, paths, tmp_path / "results.json")
    calls = []

    def run_row(row):
        calls.append(row.name)
        if row.name in fail:
            return {"kind": row.kind, "error": "RuntimeError: exit 1", "wall_seconds": 1.0}
        if row.kind == "teacher":  # as the teacher stage does, it leaves the folder's results.json
            paths.teacher(row.teacher, row.task).mkdir(parents=True, exist_ok=True)
            (paths.teacher(row.teacher, row.task) / "results.json").write_text("{}")
            return fake_record(row, scores.get("teacher", 0.9), wall_seconds=600.0)
        args, chosen = runner.args(row)
        extra = {"chosen": {"candidate": chosen["chosen"]}} if chosen else {}
        return fake_record(row, scores.get(row.method, 0.5) + row.seed / 100, args=args, **extra)

    monkeypatch.setattr(runner, "run_row", run_row)
    return runner, calls


def test_every_row_is_saved_when_it_finishes_and_a_rerun_skips_it(tmp_path, monkeypatch):
    runner, calls = _fake_runner(tmp_path, monkeypatch, {"preset": 0.7}, fail={"SST-2/theseus/seed1"})
    saved_counts = []
    runner.run(
        ["SST-2/*"], on_row=lambda results: saved_counts.append(len(store.load(tmp_path / "results.json")["rows"]))
    )
    assert saved_counts == list(range(1, len(calls) + 1))  # on disk after each row, before the next starts
    results = store.load(tmp_path / "results.json")
    assert set(results["rows"]) == {row.name for row in rows.plan(runner.definition)}
    assert results["rows"]["SST-2/best_preset/seed1"]["args"][-2:] == ["--intermediate_weight", "10"]
    assert results["selections"]["preset"]["SST-2"]["chosen"] == "pkd-skip@10"
    # A second run (a new process reading the file) runs only the failed row.
    runner, calls = _fake_runner(tmp_path, monkeypatch, {})
    assert runner.run(None) == ["SST-2/theseus/seed1"] and calls == ["SST-2/theseus/seed1"]


def test_rows_patterns_bring_their_teacher_and_the_time_budget_stops_new_rows(tmp_path, monkeypatch):
    runner, calls = _fake_runner(tmp_path, monkeypatch, {})
    runner.run(["SST-2/logit_kd/*"])
    assert calls == ["SST-2/teacher/mpnet", "SST-2/logit_kd/seed0", "SST-2/logit_kd/seed1"]
    runner, calls = _fake_runner(tmp_path, monkeypatch, {})
    assert runner.run(None, time_budget=-1.0) == [] and calls == []


def test_a_done_teacher_whose_folder_is_gone_is_fine_tuned_again_before_its_first_row(tmp_path, monkeypatch):
    runner, calls = _fake_runner(tmp_path, monkeypatch, {"teacher": 0.85}, teachers=False)
    runner.run(["SST-2/teacher/*"])
    assert calls == ["SST-2/teacher/mpnet", "SST-2/teacher/minilm"]
    shutil.rmtree(tmp_path / "teachers")  # a fresh machine continuing the results file
    runner, calls = _fake_runner(tmp_path, monkeypatch, {"teacher": 0.84}, teachers=False)
    runner.run(["SST-2/student_alone/*"])
    assert calls == ["SST-2/teacher/minilm", "SST-2/student_alone/seed0", "SST-2/student_alone/seed1"]
    results = store.load(tmp_path / "results.json")
    teacher = results["rows"]["SST-2/teacher/minilm"]
    assert teacher["score"] == 0.85 and [rebuild["score"] for rebuild in teacher["rebuilds"]] == [0.84]
    text = rows_report.markdown(results)
    assert "| minilm | 0.8500 |" in text and "; fine-tuned again 2026-12-02 (scored 0.8400, 10 min) |" in text
    assert "(teachers 30 min, selection 0 min, final rows 0 min)" in text  # two teacher rows and the rebuild
    # A rebuild that fails fails the row that needed it (retried next time); the teacher row stays done.
    runner, calls = _fake_runner(tmp_path, monkeypatch, {}, fail={"SST-2/teacher/mpnet"}, teachers=False)
    runner.run(["SST-2/logit_kd/seed0"])
    results = store.load(tmp_path / "results.json")
    failed = results["rows"]["SST-2/logit_kd/seed0"]
    assert calls == ["SST-2/teacher/mpnet"] and failed["kind"] == "recipe" and failed["wall_seconds"] == 0.0
    assert failed["error"] == "rebuilding SST-2/teacher/mpnet: RuntimeError: exit 1"
    assert store.done(results["rows"]["SST-2/teacher/mpnet"])
    assert "; fine-tuned again  (failed, 0 min) |" in rows_report.markdown(results)


def test_merge_keeps_done_units_over_failed_ones():
    merged = store.merge_units(
        {"a": {"score": 1}, "b": {"error": "x"}, "c": {"score": 3}},
        {"b": {"score": 2}, "c": {"error": "later failure"}, "d": {"score": 4}},
    )
    assert merged == {"a": {"score": 1}, "b": {"score": 2}, "c": {"score": 3}, "d": {"score": 4}}


def test_report_shows_means_seeds_retention_ratios_missing_rows_and_cost(tmp_path, monkeypatch):
    runner, _ = _fake_runner(tmp_path, monkeypatch, {})
    definition = runner.definition
    by_name = {row.name: row for row in rows.plan(definition)}
    runner.results["rows"] = {
        "SST-2/teacher/mpnet": fake_record(by_name["SST-2/teacher/mpnet"], 0.9, parameters=109_000_000,
                                           train_seconds=600.0, source="read"),
        "SST-2/logit_kd/seed0": fake_record(by_name["SST-2/logit_kd/seed0"], 0.80, retention=0.80 / 0.9,
                                            size_ratio=6.5, speedup=5.0, train_seconds=120.0, wall_seconds=200.0),
        "SST-2/logit_kd/seed1": fake_record(by_name["SST-2/logit_kd/seed1"], 0.84, retention=0.84 / 0.9,
                                            size_ratio=6.5, speedup=6.0, train_seconds=180.0, wall_seconds=400.0),
        "SST-2/logit_kd_augmented/seed0": {"kind": "recipe", "error": "RuntimeError: exit 1 (log: x)",
                                           "wall_seconds": 5.0},
    }  # fmt: skip
    text = rows_report.markdown({**runner.results, "definition": definition})
    assert "| logit_kd | mpnet | 0.8200 | 0.8000 / 0.8400 | 0.9111 | 6.50 | 5.50 | 2.5 |" in text
    assert "- `SST-2/logit_kd_augmented/seed0`: failed (RuntimeError: exit 1 (log: x))" in text
    assert "- `SST-2/teacher/minilm`: pending" in text
    assert "- `SST-2/best_preset/seed0`: waiting for teacher" in text
    assert "| preset | pkd-skip@10 | missing |  |" in text
    # 10 + 200 + 400 + 5 s measured; the seeds of logit KD are the only measured kind left to estimate from.
    assert "Measured cost: 10 min of wall time over 4 rows" in text
    assert "rows done: 3 of" in text


def test_cli_dry_run_merge_and_report_only(tmp_path, capsys):
    glue = tmp_path / "glue"
    for task in ("MRPC", "RTE", "SST-2"):
        (glue / task).mkdir(parents=True)
        (glue / task / "train.tsv").write_text("h\n" + "r\t0\n" * 9000)
    base = ["--suite", "standard", "--glue-dir", str(glue), "--teachers-dir", str(tmp_path / "t"),
            "--work-dir", str(tmp_path / "w")]  # fmt: skip
    run.main([*base, "--results", str(tmp_path / "a.json"), "--dry-run"])
    printed = capsys.readouterr().out
    assert "pending  MRPC/teacher/mpnet" in printed and "waiting for teacher  SST-2/ebbt/seed1" in printed
    store.save(tmp_path / "a.json", {"rows": {"MRPC/teacher/mpnet": {"kind": "teacher", "score": 0.8}}})
    store.save(tmp_path / "b.json", {"rows": {"RTE/teacher/mpnet": {"kind": "teacher", "score": 0.7}}})
    readme = tmp_path / "README.md"
    readme.write_text(f"{rows_report.HEADLINE_START}\nold\n{rows_report.HEADLINE_END}\n")
    merge = ["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--readme", str(readme)]
    run.main([*base, "--results", str(tmp_path / "all.json"), *merge])
    merged = store.load(tmp_path / "all.json")
    # Each report rewrites the README's block too, so a committed results file never leaves it behind.
    assert rows_report.readme_block(readme.read_text()) == rows_report.headline(merged)
    assert "| RTE | score | teacher (mpnet) | 0.7000 |" in readme.read_text()
    assert set(merged["rows"]) == {"MRPC/teacher/mpnet", "RTE/teacher/mpnet"}
    assert merged["definition"]["name"] == "standard" and (tmp_path / "all.md").is_file()
    (tmp_path / "all.md").unlink()
    before = json.dumps(merged)  # compact: a save (indented) would change the bytes
    (tmp_path / "all.json").write_text(before)
    run.main(["--suite", "standard", "--results", str(tmp_path / "all.json"), "--report-only"])
    assert "## MRPC" in (tmp_path / "all.md").read_text()
    assert (tmp_path / "all.json").read_text() == before  # a suite still running owns the results file


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    """Checkpoints, teachers folder and GLUE data for a rows suite on the self-made tiny models."""
    from harness.fixture import make_fixture

    root = tmp_path_factory.mktemp("rows")
    paths = make_fixture(root)
    models = root / "models"
    models.mkdir()
    for name in ("minilm-l6", "mpnet-base"):
        shutil.copytree(paths["teacher"], models / name)
    # A teacher already fine-tuned, as the teacher stage leaves it: read, not retrained.
    teachers = root / "teachers"
    shutil.copytree(paths["teacher"], teachers / "minilm-sst2")
    recipe = {
        "main_metric": "accuracy",
        "command": "python recipes/run_glue_distill.py --stage teacher ...",
        "teacher": {"metrics": {"accuracy": 0.75}, "parameters": 12345},
        "train": {"runtime_seconds": 3.0},
    }
    (teachers / "minilm-sst2" / "results.json").write_text(json.dumps(recipe))  # fmt: skip
    return {"glue_dir": paths["glue_dir"], "models": str(models), "teachers": str(teachers), "root": root}


def test_a_rows_suite_runs_real_recipe_commands_on_tiny_models(tiny_world):
    """The standard suite's rows on the tiny models: a teacher stage, held-out candidates, a chosen row."""
    definition = rows.load_definition("standard")
    definition["tasks"] = {"SST-2": {"train_rows": 160, "heldout_rows": 64}}
    definition["protocol"].update(max_seq_length=32, epochs=1, batch=16, eval_batch=64, seeds=[0], learning_rate=1e-3,
                                  args=["--inference_repeats", "1"])  # fmt: skip
    definition["student"]["layers"] = "0,2"
    definition["rows"] = [
        spec for spec in definition["rows"] if spec["name"] in ("student_alone", "best_preset", "ebbt")
    ]
    preset, ebbt = definition["selections"]["preset"], definition["selections"]["ebbt"]
    preset["candidates"] = {label: preset["candidates"][label] for label in ("pkd-skip@10", "distilbert@1")}
    ebbt["candidates"] = dict(list(ebbt["candidates"].items())[:1])
    paths = rows.Paths(
        tiny_world["glue_dir"], tiny_world["models"], tiny_world["teachers"], str(tiny_world["root"] / "w")
    )
    path = tiny_world["root"] / "standard-tiny.json"
    runner = rows.Runner(definition, paths, path)
    runner.run(None)
    results = store.load(path)["rows"]
    assert results["SST-2/teacher/minilm"]["source"].startswith("read from")
    # That teacher's results.json records no configuration: every checked setting is reported as differing.
    assert results["SST-2/teacher/minilm"]["differs_from_suite"]["max_seq_length"] == [None, "32"]
    mpnet = results["SST-2/teacher/mpnet"]
    assert mpnet["source"] == "trained by this run" and "--stage teacher" in mpnet["command"], mpnet
    assert (Path(tiny_world["teachers"]) / "mpnet-sst2" / "results.json").is_file()
    for label in ("pkd-skip@10", "distilbert@1"):
        candidate = results[f"SST-2/select/preset/{label}"]
        assert "error" not in candidate, candidate
        assert candidate["train_rows"] == 160 and candidate["scored_on"] == "held-out train rows"
    chosen = rows.selection({"rows": results}, definition, "SST-2", "preset")["chosen"]
    best = results["SST-2/best_preset/seed0"]
    assert best["chosen"]["candidate"] == chosen and best["args"] == preset["candidates"][chosen]
    alone = results["SST-2/student_alone/seed0"]
    assert alone["trained_from_teacher_logits"] and alone["retention"] == pytest.approx(
        alone["score"] / alone["teacher_score"]
    )
    assert alone["size_ratio"] == pytest.approx(alone["teacher_parameters"] / alone["parameters"])
    assert "--alpha 0" in alone["command"] and alone["wall_seconds"] > 0 and alone["machine"]["cpu_count"]
    assert "error" not in results["SST-2/select/ebbt/beta0.1"] and "error" not in results["SST-2/ebbt/seed0"]
    runner = rows.Runner(definition, paths, path)
    assert runner.run(None) == []  # every row is on disk: a rerun runs nothing


def test_headline_table_has_teachers_and_means_and_goes_into_the_readme_block(tmp_path, monkeypatch):
    runner, _ = _fake_runner(tmp_path, monkeypatch, {})
    row = {row.name: row for row in rows.plan(runner.definition)}
    kd = "SST-2/logit_kd_minilm/seed"
    results = {
        "definition": runner.definition,
        "rows": {
            "SST-2/teacher/minilm": fake_record(row["SST-2/teacher/minilm"], 0.9),
            f"{kd}0": fake_record(row[f"{kd}0"], 0.80, retention=0.8 / 0.9, size_ratio=1.3, speedup=2.0),
            f"{kd}1": fake_record(row[f"{kd}1"], 0.84, retention=0.84 / 0.9, size_ratio=1.3, speedup=2.2),
        },
    }
    table = rows_report.headline(results)
    assert table.splitlines()[2:] == [
        "| SST-2 | accuracy | teacher (minilm) | 0.9000 |  | 1.0000 | 1.00 | 1.00 |",
        "| SST-2 | accuracy | logit_kd_minilm (from minilm) | 0.8200 | 0.8000 / 0.8400 | 0.9111 | 1.30 | 2.10 |",
    ]
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{rows_report.HEADLINE_START}\nold\n{rows_report.HEADLINE_END}\n\nafter\n")
    rows_report.update_readme(readme, results)
    assert rows_report.readme_block(readme.read_text()) == table and readme.read_text().endswith("\n\nafter\n")
    assert rows_report.headline_plot(results, tmp_path / "h.png") and (tmp_path / "h.png").stat().st_size > 1000
    assert not rows_report.headline_plot({**results, "rows": {}}, tmp_path / "none.png")
    readme.write_text("no block")
    with pytest.raises(ValueError, match="no <!-- headline-table -->"):
        rows_report.update_readme(readme, results)


def test_the_readme_headline_is_the_committed_standard_suite_results():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "standard-cpu-amd-epyc-2c.json"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert rows_report.readme_block(readme) == rows_report.headline(store.load(path))
