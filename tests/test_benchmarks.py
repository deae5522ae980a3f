"""The benchmark harness (benchmarks/run.py) on its smallest configuration: self-made tiny models, seconds."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import run
import torch
from harness import flops, glue_data, machine, report, suites, training
from harness import quality as quality_module
from harness.baseline import DocsDistillationTrainer
from transformers import BertConfig

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"  # pyproject: pytest's pythonpath


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One run of the whole tiny suite (every section; the training section in a subprocess per method)."""
    output_dir = tmp_path_factory.mktemp("bench")
    results = run.main(["--suite", "tiny", "--output-dir", str(output_dir)])
    return results, output_dir


def test_tiny_suite_writes_json_markdown_and_plots(results):
    results, output_dir = results
    stem = f"tiny-{machine.machine_slug(results['machine'])}"
    written = json.loads((output_dir / f"{stem}.json").read_text())
    assert written["suite"] == "tiny" and written["schema_version"] == 1
    for key in ("cpu", "cpu_count", "torch_threads", "torch", "transformers", "shared_machine", "load_average_end"):
        assert key in written["machine"]
    for section in run.SECTIONS:
        assert "error" not in written[section], written[section].get("error")
    markdown = (output_dir / f"{stem}.md").read_text()
    for title in ("## Training cost", "## Sequence-length scaling", "## Inference", "## Quality"):
        assert title in markdown
    for suffix in ("training", "seq-len", "inference", "quality"):
        png = output_dir / f"{stem}-{suffix}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({png.name})" in markdown


def test_training_ratios_come_from_the_measured_numbers(results):
    results, _ = results
    section = results["training"]
    methods = section["methods"]
    assert set(methods) == {"plain", "logit_kd", "docs_kd", "cached_kd", "preset:distilbert"}
    assert section["cached_kd_source"] == "hf_distill.cache"
    assert methods["cached_kd"]["runs"][0]["teacher_cache"]["source"] == "hf_distill.cache"
    plain = methods["plain"]
    for name, entry in methods.items():
        runs = entry["runs"]
        assert len(runs) == section["rounds"] and all(run_["timed_steps"] > 0 for run_ in runs)
        assert entry["step_time_s"] == pytest.approx(sorted(r["step_time_s"] for r in runs)[len(runs) // 2])
        assert entry["step_time_s"] > 0 and entry["peak_memory_mb"] > 0, name
        assert entry["samples_per_s"] == pytest.approx(section["batch"] / entry["step_time_s"])
        assert entry["cost_ratio"] == pytest.approx(entry["step_time_s"] / plain["step_time_s"])
        assert entry["memory_ratio"] == pytest.approx(entry["peak_memory_mb"] / plain["peak_memory_mb"])
        assert entry["gap_to_ideal"] == pytest.approx(entry["cost_ratio"] / entry["ideal_ratio"] - 1)
    # The tiny case: a 4-layer teacher, its layers [0, 2] as the student, same width: ideal = 1 + 4 / (3 * 2) + head.
    assert methods["logit_kd"]["ideal_ratio"] == pytest.approx(1 + 4 / 6, rel=0.02)
    assert methods["cached_kd"]["ideal_ratio"] == 1.0 and plain["cost_ratio"] == 1.0


def test_other_sections_are_measured(results):
    results, _ = results
    scaling = results["seq_len_scaling"]["by_length"]
    assert list(scaling) == ["8", "16"]
    for entry in scaling.values():
        kd, docs = entry["logit_kd"], entry["docs_kd"]
        assert kd["overhead_vs_docs_kd"] == pytest.approx(kd["step_time_s"] / docs["step_time_s"])
    case = results["inference"]["cases"]["4->2"]
    assert case["flop_ratio"] == pytest.approx(case["teacher"]["forward_gflops"] / case["student"]["forward_gflops"])
    assert case["latency_speedup"] == pytest.approx(case["teacher"]["latency_ms"] / case["student"]["latency_ms"])
    assert case["latency_efficiency"] == pytest.approx(case["latency_speedup"] / case["flop_ratio"])
    quality = results["quality"]["cases"]["4->2 SST-2"]
    # Every method registered in hf_distill.recipes.methods runs too (as recipe:<name>), none is left out or estimated.
    recipe_methods = quality_module.recipe_methods(suites.SUITES["tiny"]["quality"])
    assert "recipe:bilstm@alone" in recipe_methods
    expected = {"teacher", "student_alone", "logit_kd", "preset:distilbert", *recipe_methods}
    assert set(quality["methods"]) == expected
    assert quality["dev_rows"] == 64 and quality["train_rows"] == 64
    teacher_score = quality["methods"]["teacher"]["score"]
    for entry in quality["methods"].values():
        assert 0 <= entry["score"] <= 1
        assert entry["retention"] == pytest.approx(entry["score"] / teacher_score)


def test_training_worker_runs_in_a_fresh_process(tmp_path):
    """The isolated path of the real suites: one configuration in its own interpreter, memory measured there."""
    from harness.fixture import make_fixture

    teacher = make_fixture(tmp_path)["teacher"]
    config = dict(
        method="cached_kd", teacher={"path": teacher, "layers": None, "num_labels": 2},
        student={"path": teacher, "layers": [0, 2], "num_labels": 2}, seq_len=8, batch=4, steps=3, warmup=1, seed=0,
    )  # fmt: skip
    run_ = training.run_worker(config)
    assert run_["timed_steps"] == 2 and run_["step_time_s"] > 0
    assert run_["peak_memory_mb"] > 0 and run_["memory_kind"].startswith("ru_maxrss")
    assert run_["teacher_cache"]["source"] == "hf_distill.cache"


def test_forward_flops_by_hand():
    config = BertConfig(hidden_size=8, num_hidden_layers=3, intermediate_size=16, num_attention_heads=2, num_labels=2)
    seq = 4
    per_layer = 2 * seq * (4 * 64 + 2 * 8 * 16) + 4 * seq * seq * 8  # projections + FFN, then QK^T and AV
    assert flops.forward_flops(config, seq) == 3 * per_layer + 2 * (64 + 16)
    teacher = BertConfig(hidden_size=8, num_hidden_layers=6, intermediate_size=16, num_attention_heads=2)
    expected = 1 + flops.forward_flops(teacher, seq) / (3 * flops.forward_flops(config, seq))
    assert flops.kd_ideal_ratio(teacher, config, seq) == expected


def test_add_ratios_by_hand():
    results = {
        "plain": {"step_time_s": 0.2, "peak_memory_mb": 100.0, "ideal_ratio": 1.0},
        "logit_kd": {"step_time_s": 0.35, "peak_memory_mb": 150.0, "ideal_ratio": 1.5},
        "seq": {"step_time_s": 0.3, "peak_memory_mb": None, "ideal_ratio": 1.5},
    }
    training.add_ratios(results)
    assert results["logit_kd"]["cost_ratio"] == pytest.approx(1.75)
    assert results["logit_kd"]["memory_ratio"] == pytest.approx(1.5)
    assert results["logit_kd"]["gap_to_ideal"] == pytest.approx(1.75 / 1.5 - 1)
    assert results["seq"]["memory_ratio"] is None


def test_docs_baseline_loss_by_hand(tokenizer, tmp_path):
    from hf_distill import DistillationTrainingArguments
    from tests.tiny import tiny_bert

    student, teacher = tiny_bert(tokenizer, seed=0), tiny_bert(tokenizer, seed=1, layers=3)
    args = DistillationTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = DocsDistillationTrainer(
        model=student, args=args, teacher_model=teacher, temperature=2.0, lambda_param=0.3
    )
    inputs = {"input_ids": torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]]), "labels": torch.tensor([1, 0])}
    inputs["attention_mask"] = (inputs["input_ids"] != 0).long()
    loss = trainer.compute_loss(student, inputs)
    with torch.no_grad():
        z_s = student(**{k: v for k, v in inputs.items() if k != "labels"}).logits
        z_t = teacher(**{k: v for k, v in inputs.items() if k != "labels"}).logits
    p_t = torch.softmax(z_t / 2, -1)
    kl = (p_t * (p_t.log() - torch.log_softmax(z_s / 2, -1))).sum(-1).mean() * 4
    ce = torch.nn.functional.cross_entropy(z_s, inputs["labels"])
    assert loss.item() == pytest.approx((0.7 * ce + 0.3 * kl).item(), rel=1e-5)


def test_glue_score_and_reader(tmp_path):
    logits = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]).numpy()
    labels = torch.tensor([1, 1, 0, 0]).numpy()
    scores = glue_data.score("MRPC", logits, labels)
    # predictions 1, 0, 1, 0: accuracy 2/4; F1 of class 1 = 2 * 1 / (2 + 2)
    assert scores["accuracy"] == 0.5 and scores["f1"] == 0.5 and scores["score"] == 0.5
    path = tmp_path / "RTE" / "dev.tsv"
    path.parent.mkdir()
    path.write_text("index\tsentence1\tsentence2\tlabel\n0\ta b\tc\tentailment\n1\td\te f\tnot_entailment\n")
    rows = glue_data.read_rows(tmp_path, "RTE", "dev")
    assert rows == [{"text": ["a b", "c"], "label": 0}, {"text": ["d", "e f"], "label": 1}]


def test_markdown_states_the_targets():
    section = {
        "case": "x", "batch": 2, "seq_len": 8, "rounds": 1, "warmup": 1, "cached_kd_source": "teacher_logits column",
        "methods": {
            "plain": {"step_time_s": 1.0, "samples_per_s": 2.0, "peak_memory_mb": 10.0, "ideal_ratio": 1.0},
            "logit_kd": {"step_time_s": 1.6, "samples_per_s": 1.25, "peak_memory_mb": 12.0, "ideal_ratio": 1.5},
            "cached_kd": {"step_time_s": 1.04, "samples_per_s": 1.9, "peak_memory_mb": 11.0, "ideal_ratio": 1.0},
        },
    }  # fmt: skip
    training.add_ratios(section["methods"])
    text = "\n".join(report._training(section))
    assert "+6.7% (met)" in text and "x1.040 (met)" in text
    assert not math.isnan(section["methods"]["logit_kd"]["gap_to_ideal"])


def test_a_method_over_seeds_is_the_mean_and_shows_each_seed():
    from harness import quality

    runs = [{"score": 0.75, "train_seconds": 10.0}, {"score": 0.80, "train_seconds": 14.0}]
    row = quality._over_seeds(runs, [0, 1, 2])
    assert row["score"] == pytest.approx(0.775) and row["seed_scores"] == [0.75, 0.80] and row["seeds"] == [0, 1]
    assert row["train_seconds"] == pytest.approx(12.0)
    failed = quality._over_seeds([runs[0], {"score": None, "error": "ValueError: x"}], [0, 1])
    assert failed["score"] is None and failed["error"] == "ValueError: x"
    assert quality._over_seeds(runs[:1], [0]) == runs[0]
    section = {"cases": {"6->3 SST-2": {
        "metric": "accuracy", "dev_rows": 8, "train_rows": 8, "sizes": {"epochs": 1}, "source": "measured",
        "methods": {"teacher": {"score": 0.9, "retention": 1.0}, "logit_kd": {**row, "retention": 0.86}},
    }}}  # fmt: skip
    text = "\n".join(report._quality(section))
    assert "score (mean of seeds [0, 1])" in text and "0.7500 / 0.8000" in text


def test_reused_results_keep_their_source_and_machine(tmp_path):
    from harness import quality

    listed = tmp_path / "theseus.json"
    listed.write_text(json.dumps([{"name": "teacher", "dev_acc": 0.8}, {"name": "theseus", "dev_acc": 0.76}]))
    reused = quality.load_reused(str(listed), teacher_score=0.5, teacher_source="this run")
    assert reused["source"] == f"reused from {listed}" and reused["machine"] == "not recorded in the file"
    assert reused["methods"]["theseus"]["retention"] == pytest.approx(0.76 / 0.8)  # the file's own teacher
    mapping = tmp_path / "presets.json"
    mapping.write_text(json.dumps({"machine": "2-core CPU", "results": {"3L/pkd": {"accuracy": 0.7, "seconds": 9}}}))
    reused = quality.load_reused(str(mapping), teacher_score=0.875, teacher_source="this run")
    assert reused["machine"] == "2-core CPU" and reused["retention_reference"] == "this run"
    assert reused["methods"]["3L/pkd"] == {
        "score": 0.7,
        "accuracy": 0.7,
        "seconds": 9,
        "retention": pytest.approx(0.8),
    }
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    with pytest.raises(ValueError, match="no rows with a score"):
        quality.load_reused(str(empty), None, "")


def test_suite_overrides():
    settings = suites.with_overrides(suites.SUITES["quick"], ["training.rounds=1", 'quality.tasks=["RTE"]'])
    assert settings["training"]["rounds"] == 1 and settings["quality"]["tasks"] == ["RTE"]
    assert suites.SUITES["quick"]["training"]["rounds"] == 2  # the suite itself is untouched
    with pytest.raises(ValueError, match="training.roundz"):
        suites.with_overrides(suites.SUITES["quick"], ["training.roundz=1"])


def test_a_failing_method_is_recorded_and_the_others_measured(tmp_path):
    from harness.fixture import make_fixture

    teacher = make_fixture(tmp_path)["teacher"]
    results = training.measure(
        ["plain", "preset:no-such-preset"], {"path": teacher, "layers": None, "num_labels": 2},
        {"path": teacher, "layers": [0, 2], "num_labels": 2}, seq_len=8, batch=4, steps=3, warmup=1, rounds=2,
        isolated=False,
    )  # fmt: skip
    assert results["plain"]["cost_ratio"] == 1.0 and len(results["plain"]["runs"]) == 2
    assert results["preset:no-such-preset"] == {"error": results["preset:no-such-preset"]["error"]}
    assert "no-such-preset" in results["preset:no-such-preset"]["error"]
    text = "\n".join(report._training({"case": "x", "batch": 4, "seq_len": 8, "rounds": 2, "warmup": 1,
                                       "cached_kd_source": "-", "methods": results}))  # fmt: skip
    assert "| preset:no-such-preset | failed: ValueError" in text


def test_heldout_rows_follow_the_train_rows_and_preset_variants_carry_their_settings(tmp_path):
    task_dir = tmp_path / "SST-2"
    task_dir.mkdir()
    lines = [f"sentence {index}\t{index % 2}" for index in range(10)]
    (task_dir / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(lines) + "\n")
    (task_dir / "dev.tsv").write_text("sentence\tlabel\ndev a\t0\ndev b\t1\n")
    sizes = {"train_rows": 4, "dev_rows": None, "heldout_rows": 3}
    shuffled = glue_data.subset(glue_data.read_rows(tmp_path, "SST-2", "train"), None, shuffle_seed=0)
    trained = glue_data.subset(glue_data.read_rows(tmp_path, "SST-2", "train"), 4, shuffle_seed=0)
    heldout = quality_module.eval_rows(str(tmp_path), "SST-2", {**sizes, "eval_split": "heldout"})
    assert heldout == shuffled[4:7] and not any(row in trained for row in heldout)
    dev = quality_module.eval_rows(str(tmp_path), "SST-2", sizes)
    assert [row["text"] for row in dev] == [["dev a"], ["dev b"]]
    with pytest.raises(ValueError, match="eval_split='test'"):
        quality_module.eval_rows(str(tmp_path), "SST-2", {**sizes, "eval_split": "test"})
    variants = {**sizes, "preset_args": {"mobilebert@w0.1": {"intermediate_weight": 0.1}}}
    assert quality_module.preset_settings("mobilebert@w0.1", variants) == {
        "distill_preset": "mobilebert",
        "intermediate_weight": 0.1,
    }
    assert quality_module.preset_settings("minilm", variants) == {"distill_preset": "minilm"}
    # A recipe method scores its task dev.tsv: with eval_split "heldout" it gets a folder whose dev.tsv is those rows.
    folder = quality_module.heldout_glue_dir(
        str(tmp_path), "SST-2", {**sizes, "eval_split": "heldout"}, tmp_path / "h"
    )
    assert glue_data.read_rows(folder, "SST-2", "dev") == heldout
    assert glue_data.read_rows(folder, "SST-2", "train") == glue_data.read_rows(tmp_path, "SST-2", "train")


def test_training_ratios_round_by_round_and_the_evaluation_with_reused_eval_logits(results):
    results, output_dir = results
    section = results["training"]
    methods = section["methods"]
    for name, entry in methods.items():
        plain_by_round = {run_["round"]: run_["step_time_s"] for run_ in methods["plain"]["runs"]}
        expected = [run_["step_time_s"] / plain_by_round[run_["round"]] for run_ in entry["runs"]]
        assert entry["cost_ratio_rounds"]["per_round"] == pytest.approx(expected), name
    pair = section["pairs"]["logit_kd / docs_kd"]
    docs_by_round = {run_["round"]: run_["step_time_s"] for run_ in methods["docs_kd"]["runs"]}
    assert pair["median"] == pytest.approx(
        [run_["step_time_s"] / docs_by_round[run_["round"]] for run_ in methods["logit_kd"]["runs"]][0]
    )  # one round in the tiny suite: the median is that round's ratio
    evaluation = section["evaluation"]
    assert evaluation["rows"] == section["batch"] * section["steps"]
    assert len(evaluation["ratio"]["per_round"]) == section["rounds"]
    assert evaluation["seconds_with_teacher"] > 0 and evaluation["seconds_with_cached_logits"] > 0
    markdown = (output_dir / f"tiny-{machine.machine_slug(results['machine'])}.md").read_text()
    assert "DistillationTrainer step time / docs-style Trainer KD subclass: x" in markdown
    assert f"round by round {report._spread(pair)}" in markdown
    assert f"reused / running the teacher: x{report._spread(evaluation['ratio'])}" in markdown


def test_round_ratios_by_hand():
    plain = {
        "runs": [{"round": 0, "step_time_s": 1.0}, {"round": 1, "step_time_s": 2.0}, {"round": 2, "step_time_s": 1.0}]
    }
    kd = {
        "runs": [{"round": 0, "step_time_s": 1.5}, {"round": 1, "step_time_s": 2.2}, {"round": 2, "step_time_s": 1.2}]
    }
    ratios = training.round_ratios(kd, plain)
    assert ratios["per_round"] == pytest.approx([1.5, 1.1, 1.2])
    assert (ratios["median"], ratios["min"], ratios["max"]) == pytest.approx((1.2, 1.1, 1.5))
    text = report._spread(ratios)
    assert text == "1.200 [1.100-1.500]"
    # The median of per-round ratios, not the ratio of medians (which would be 1.5 / 1.0 here).
    assert training.round_ratios({"runs": []}, plain)["median"] is None


def test_the_tiny_suite_in_chunks_merges_into_one_report_and_resumes(tmp_path, monkeypatch):
    """What the GPU suite does: each command runs one chunk into its own file; the files merge into one report."""
    base = ["--suite", "tiny", "--output-dir", str(tmp_path)]
    run.main([*base, "--sections", "inference", "--results", str(tmp_path / "a.json")])
    quality_rows = ["quality/4->2 SST-2/logit_kd"]
    run.main([*base, "--sections", "quality", "--rows", *quality_rows, "--results", str(tmp_path / "b.json")])
    chunk = json.loads((tmp_path / "b.json").read_text())
    assert set(chunk["quality"]["cases"]["4->2 SST-2"]["methods"]) == {"teacher", "logit_kd"}  # its teacher came too
    assert "inference" not in chunk and "training" not in chunk
    # A rerun of the chunk keeps what is there: nothing is trained again.
    monkeypatch.setattr(quality_module, "train_and_score", lambda *args, **kwargs: pytest.fail("retrained"))
    run.main([*base, "--sections", "quality", "--rows", *quality_rows, "--results", str(tmp_path / "b.json")])
    merged_path = tmp_path / "all.json"
    run.main([*base, "--results", str(merged_path), "--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    merged = json.loads(merged_path.read_text())
    assert merged["inference"]["cases"]["4->2"]["latency_speedup"] > 0
    assert set(merged["quality"]["cases"]["4->2 SST-2"]["methods"]) == {"teacher", "logit_kd"}
    markdown = (tmp_path / "all.md").read_text()
    assert "## Inference" in markdown and "| logit_kd |" in markdown


def test_quality_keeps_each_method_on_disk_as_it_finishes(tmp_path, monkeypatch):
    from harness import sections

    calls = []

    def fake(method, *args, **kwargs):
        calls.append(method)
        return {"score": {"teacher": 0.9, "student_alone": 0.6, "logit_kd": 0.7}[method], "train_seconds": 1.0}

    monkeypatch.setattr(quality_module, "train_and_score", fake)
    from harness.fixture import make_fixture

    paths = make_fixture(tmp_path)
    case = suites.cases("tiny", None, "", paths)[0]
    sizes = {**suites.SUITES["tiny"]["quality"], "methods": ["student_alone", "logit_kd"]}
    snapshots = []
    out = sections.quality([case], sizes, paths["glue_dir"], [], persist=lambda q: snapshots.append(
        sorted(q["cases"]["4->2 SST-2"]["methods"])))  # fmt: skip
    assert snapshots == [["teacher"], ["student_alone", "teacher"], ["logit_kd", "student_alone", "teacher"]]
    assert out["cases"]["4->2 SST-2"]["methods"]["logit_kd"]["retention"] == pytest.approx(0.7 / 0.9)
    calls.clear()
    again = sections.quality([case], sizes, paths["glue_dir"], [], previous=out)
    assert calls == [] and again["cases"] == out["cases"]
    picked = sections.quality([case], sizes, paths["glue_dir"], [],
                              wanted=lambda unit: unit.endswith("/logit_kd"))  # fmt: skip
    assert calls == ["teacher", "logit_kd"] and set(picked["cases"]["4->2 SST-2"]["methods"]) == {
        "teacher",
        "logit_kd",
    }


def test_the_harness_data_path_needs_no_datasets_package(tmp_path, monkeypatch):
    """The GPU machine has no `datasets`: training and quality in this process run on plain lists of dicts."""
    from harness.fixture import make_fixture
    from transformers import AutoTokenizer

    import hf_distill  # noqa: F401  (the library itself imports `datasets` today: the GPU run carries its wheel)

    teacher = make_fixture(tmp_path)["teacher"]
    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` now fails, find_spec returns None
    config = dict(
        method="cached_kd", teacher={"path": teacher, "layers": None, "num_labels": 2},
        student={"path": teacher, "layers": [0, 2], "num_labels": 2}, seq_len=8, batch=4, steps=3, warmup=1, seed=0,
    )  # fmt: skip
    run_ = training.time_training(config)
    assert run_["timed_steps"] == 2 and run_["teacher_cache"]["source"] == "teacher_logits column"
    rows = glue_data.read_rows(tmp_path / "glue", "SST-2", "train")[:32]
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    data = glue_data.tokenized(rows, tokenizer, 32)
    assert isinstance(data, list) and data[0]["labels"] == rows[0]["label"]
    sizes = {"batch": 8, "epochs": 1, "lr": 1e-3}
    scored = quality_module.train_and_score(
        "logit_kd", teacher, {"path": teacher, "layers": [0, 2], "num_labels": 2}, "SST-2", data, data[:16],
        tokenizer, sizes,
    )  # fmt: skip
    assert 0 <= scored["score"] <= 1 and scored["train_seconds"] > 0


def test_packed_models_load_in_float32_and_config_only_ones_time_but_do_not_score(tmp_path):
    import pack_models
    from harness import models, sections
    from harness.fixture import make_fixture

    teacher = make_fixture(tmp_path)["teacher"]
    size = pack_models.pack(Path(teacher), tmp_path / "packed")
    assert size < sum(path.stat().st_size for path in Path(teacher).iterdir())
    original = models.build(models.spec(teacher, [0, 2]))
    packed = models.build(models.spec(tmp_path / "packed", [0, 2]))
    for (name, weight), (_, copy) in zip(original.state_dict().items(), packed.state_dict().items()):
        assert copy.dtype == torch.float32
        assert torch.allclose(weight, copy, atol=2e-3, rtol=1e-3), name  # float16 rounding only
    pack_models.pack(Path(teacher), tmp_path / "config-only", config_only=True)
    assert not models.has_weights(tmp_path / "config-only")
    random_model = models.build(models.spec(tmp_path / "config-only"))
    assert models.parameter_count(random_model) == models.parameter_count(models.build(models.spec(teacher)))
    assert "no weights" in sections._missing(str(tmp_path / "config-only"))
    assert sections._missing(str(tmp_path / "config-only"), weights=False) is None


def test_the_training_section_covers_each_case_the_suite_names(monkeypatch):
    from harness import sections

    monkeypatch.setattr(sections, "training_cost", lambda case, sizes: {"case": case["name"], **sizes})
    cases = [{"name": "6->3"}, {"name": "12->6"}, {"name": "other"}]
    section = sections.training_section(cases, {"rounds": 3, "cases": ["12->6", "6->3"]})
    assert section == {"by_case": {"6->3": {"case": "6->3", "rounds": 3}, "12->6": {"case": "12->6", "rounds": 3}}}
    assert sections.training_section(cases, {"rounds": 1}) == {"case": "6->3", "rounds": 1}
    assert suites.SUITES["full"]["training"]["cases"] == ["6->3", "12->6"]
    text = "\n".join(
        report._training({"by_case": {"x": {"case": "x", "error": "E"}, "y": {"case": "y", "error": "F"}}})
    )
    assert "## Training cost (x)" in text and "## Training cost (y)" in text
