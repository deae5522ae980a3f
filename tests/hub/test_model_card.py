"""The student's model card: metadata and body rendered from a run's results, nothing else."""

import copy
import json

import pytest
from huggingface_hub import ModelCard

from hf_distill import render_model_card
from hf_distill.hub.model_card import hub_id, metric_values
from hf_distill.hub.push import push_student, with_checkpoint_facts
from tests.tiny import tiny_bert

RESULTS = {  # the shape of recipes/run_glue_distill.py's results.json
    "task": "sst2",
    "stage": "distill",
    "eval_split": "validation",
    "main_metric": "accuracy",
    "distill_method": "pkd",
    "license": "apache-2.0",
    "teacher": {
        "name_or_path": "/nonexistent/teachers/minilm-sst2",
        "hub_id": "someone/minilm-sst2",
        "parameters": 22_713_216,
        "size_bytes": 90_868_000,
        "num_layers": 6,
        "hidden_size": 384,
        "metrics": {"accuracy": 0.8314},
        "metrics_by_split": {"validation": {"accuracy": 0.8314}},
        "inference_seconds": 4.1,
    },
    "student": {
        "name_or_path": "sentence-transformers/all-MiniLM-L6-v2",
        "layers": [0, 2, 4],
        "architecture": "BertForSequenceClassification",
        "parameters": 17_390_000,
        "size_bytes": 69_600_000,
        "num_layers": 3,
        "hidden_size": 384,
        "metrics": {"accuracy": 0.8108},
        "metrics_by_split": {"validation": {"accuracy": 0.8108}},
        "inference_seconds": 2.125,
    },
    "inference_speedup": 1.93,
    "inference": {"examples": 872, "batch_size": 32, "repeats": 3, "device": "cpu"},
    "train": {"runtime_seconds": 312.4, "global_step": 126, "epochs": 2.0},
    "num_processes": 1,
    "device": "cpu",
    "machine": "x86_64 (2 CPUs)",
    "versions": {"transformers": "5.23.0", "hf_distill": "0.1.0"},
    "config": {
        "config_file": "recipes/configs/sst2_pkd.yaml",
        "model": {"student_layers": "0,2,4", "teacher_model_name_or_path": "/nonexistent/teachers/minilm-sst2"},
        "data": {"max_seq_length": 64, "task_name": "sst2"},
        "training": {
            "temperature": 4.0,
            "alpha": 0.7,
            "kd_loss_type": "kl",
            "teacher_dtype": None,
            "learning_rate": 5e-5,
            "num_train_epochs": 2.0,
            "max_steps": -1,
            "per_device_train_batch_size": 32,
            "seed": 0,
            "output_dir": "outputs/x",
            "logging_steps": 50,
        },
        "method": {"PkdArguments": {"pkd_beta": 100.0, "pkd_layer_map": [1, 3, 5]}},
    },
    "command": "python recipes/run_glue_distill.py --config recipes/configs/sst2_pkd.yaml",
    "early_exit": [
        {"threshold": 0.1, "accuracy": 0.805, "avg_layers": 2.41, "speedup": 1.21},
        {"threshold": 0.4, "accuracy": 0.7752, "avg_layers": 1.56, "speedup": 1.79},
    ],
}


def test_metadata_comes_from_the_results():
    card = render_model_card(RESULTS, repo_id="me/sst2-pkd-student")
    data = card.data
    assert data.license == "apache-2.0"
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert data.get("teacher") == "someone/minilm-sst2"
    assert data.datasets == ["nyu-mll/glue"]
    assert data.metrics == ["accuracy"]  # loss, runtime and epoch are not metrics
    assert data.tags == ["distillation", "hf_distill", "pkd"]
    assert data.pipeline_tag == "text-classification"
    assert data.library_name == "transformers"
    assert data.model_name == "sst2-pkd-student"
    [result] = data.eval_results
    assert (result.task_type, result.dataset_type, result.dataset_name) == (
        "text-classification",
        "nyu-mll/glue",
        "GLUE SST-2",
    )
    assert (result.dataset_config, result.dataset_split, result.metric_type, result.metric_value) == (
        "sst2",
        "validation",
        "accuracy",
        0.8108,
    )


def test_body_shows_every_measured_number():
    text = render_model_card(RESULTS, repo_id="me/sst2-pkd-student").text
    for expected in [
        "| Parameters | 22.7M (22,713,216) | 17.4M (17,390,000) |",
        "| Size on disk | 90.9 MB | 69.6 MB |",
        "| Layers | 6 | 3 |",
        "| accuracy (GLUE SST-2, validation) | 0.8314 | 0.8108 |",
        "| Inference time (872 examples) | 4.1 s | 2.12 s |",
        f"keeps {0.8108 / 0.8314:.1%} of the teacher's accuracy",  # retention = student / teacher metric
        f"{22_713_216 / 17_390_000:.2f}x fewer parameters",  # compression = teacher / student params
        "1.93x faster inference than the teacher, measured on CPU, x86_64 (2 CPUs); batch size 32, best of 3.",
        "**Training time:** 5 min 12 s on CPU, x86_64 (2 CPUs).",
        "| `temperature` | 4 |",
        "| `alpha` | 0.7 |",
        "| `pkd_layer_map` | `[1, 3, 5]` |",
        "| `student_layers` | 0,2,4 |",
        "| `max_seq_length` | 64 |",
        "| `learning_rate` | 5e-05 |",
        "keeping its layers `[0, 2, 4]`",  # cut from the student checkpoint, not from the teacher
        "patient knowledge distillation",
        "| threshold | accuracy | avg_layers | speedup |",
        "| 0.4 | 0.7752 | 1.56 | 1.79 |",
        'AutoModelForSequenceClassification.from_pretrained("me/sst2-pkd-student")',
        "python recipes/run_glue_distill.py --config recipes/configs/sst2_pkd.yaml",
        "Configuration file: `recipes/configs/sst2_pkd.yaml`",
        "- transformers: 5.23.0",
        "[someone/minilm-sst2](https://huggingface.co/someone/minilm-sst2)",
    ]:
        assert expected in text, expected
    for absent in ["teacher_dtype", "max_steps", "output_dir", "logging_steps"]:  # unset or not a distillation knob
        assert f"`{absent}`" not in text, absent


def test_every_eval_split_is_reported():
    results = copy.deepcopy(RESULTS)
    results.update(task="mnli", eval_split="validation_matched")
    results["student"]["metrics_by_split"] = {
        "validation_matched": {"accuracy": 0.7},
        "validation_mismatched": {"accuracy": 0.71},
    }
    results["teacher"]["metrics_by_split"] = {
        "validation_matched": {"accuracy": 0.8},
        "validation_mismatched": {"accuracy": 0.82},
    }
    card = render_model_card(results)
    assert [(r.dataset_config, r.dataset_split, r.metric_value) for r in card.data.eval_results] == [
        ("mnli", "validation_matched", 0.7),
        ("mnli", "validation_mismatched", 0.71),
    ]
    assert "| accuracy (GLUE MNLI, validation_mismatched) | 0.82 | 0.71 |" in card.text


def test_nothing_is_invented_when_the_run_measured_little():
    card = render_model_card({"student": {"parameters": 1234, "architecture": "BertModel"}})
    data, text = card.data, card.text
    assert data.license is None and data.base_model is None and data.datasets is None
    assert data.eval_results is None and data.metrics is None and data.get("teacher") is None
    assert data.pipeline_tag is None
    for absent in ["Retention", "Compression", "Speedup", "Training time", "Early exit", "Size on disk", "%"]:
        assert absent not in text, absent
    assert "| Parameters | — | 1.2k (1,234) |" in text
    assert "License | not stated" in text
    assert "did not record the command" in text
    assert "AutoModel.from_pretrained" in text


def test_given_retention_and_compression_are_used_as_given():
    results = copy.deepcopy(RESULTS)
    results.update(retention={"accuracy": 0.5}, compression_ratio=3.0)
    text = render_model_card(results).text
    assert "keeps 50.0% of the teacher's accuracy" in text and "3.00x fewer parameters" in text


def test_local_paths_are_not_hub_ids_and_their_card_license_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "teacher").mkdir(parents=True)
    (tmp_path / "models" / "teacher" / "README.md").write_text("---\nlicense: mit\n---\n# a teacher\n")
    results = {"teacher": {"name_or_path": "models/teacher"}, "student": {"name_or_path": "org/student-init"}}
    assert hub_id(results["teacher"]) is None  # looks like namespace/name, but it is a local folder
    data = render_model_card(results).data
    assert data.base_model == "org/student-init" and data.get("teacher") is None
    assert data.license == "mit"
    assert "`teacher` (a local checkpoint)" in render_model_card(results).text


def test_card_text_parses_back_to_the_same_metadata():
    card = render_model_card(RESULTS, repo_id="me/sst2-pkd-student")
    reloaded = ModelCard(str(card))
    assert reloaded.data.to_dict() == card.data.to_dict()
    assert reloaded.data.eval_results[0].metric_value == 0.8108


def test_early_exit_curve_as_a_dict_with_description():
    results = copy.deepcopy(RESULTS)
    results["early_exit"] = {"description": "Entropy threshold sweep on SST-2 dev.", "rows": RESULTS["early_exit"]}
    text = render_model_card(results).text
    assert "## Early exit\n\nEntropy threshold sweep on SST-2 dev." in text
    assert "| 0.1 | 0.805 | 2.41 | 1.21 |" in text


def test_results_without_student_are_refused():
    with pytest.raises(ValueError, match="'student'"):
        render_model_card({"teacher": {}})


def test_metric_values_keep_only_quality_metrics():
    metrics = {"eval_accuracy": 0.9, "eval_f1": 0.8, "eval_loss": 0.3, "eval_kd_loss": 0.1, "eval_runtime": 2.0}
    metrics |= {"eval_samples_per_second": 10.0, "epoch": 1.0, "eval_model_preparation_time": 0.1, "name": "x"}
    assert metric_values(metrics) == {"accuracy": 0.9, "f1": 0.8}


def test_rendered_card_passes_hub_metadata_validation(hub):
    render_model_card(RESULTS, repo_id="me/sst2-pkd-student").validate()
    with pytest.raises(ValueError, match=r'license\\" must be a string'):
        ModelCard("---\nlicense: 3\n---\ntext").validate()


def test_distillation_results_describe_the_trainer_run(trained_teacher, tokenizer, tmp_path):
    from tests.hub.test_push import make_trainer

    trainer = make_trainer(tmp_path / "run", trained_teacher, tokenizer, temperature=3.0, alpha=0.25)
    results = trainer.distillation_results()
    last_eval = trainer.state.log_history[-1]
    assert results["student"]["metrics"] == {"accuracy": last_eval["eval_accuracy"]}
    training = results["config"]["training"]
    assert (training["temperature"], training["alpha"], training["kd_loss_type"]) == (3.0, 0.25, "kl")
    assert "teacher_dtype" not in training  # None: not set
    assert results["teacher"]["parameters"] == sum(p.numel() for p in trained_teacher.parameters())
    assert results["student"]["parameters"] == sum(p.numel() for p in trainer.model.parameters())
    assert results["teacher"]["num_layers"] == 4 and results["student"]["num_layers"] == 1
    runtime = next(e["train_runtime"] for e in trainer.state.log_history if "train_runtime" in e)
    assert results["train"]["runtime_seconds"] == runtime
    assert training["per_device_train_batch_size"] == 8 and results["distill_method"] == "logit"
    text = render_model_card(results).text
    assert "| `temperature` | 3 |" in text and f"| accuracy | — | {last_eval['eval_accuracy']:.4g} |" in text


FAKE_TOKEN = "hf_FAKEtoken1234567890abcdefghijklmnop"


def test_no_token_reaches_the_card():
    results = copy.deepcopy(RESULTS)
    results["command"] = (
        f"python recipes/run_glue_distill.py --hub_token {FAKE_TOKEN} --hub_token=plain-secret "
        '--teacher_model_init_kwargs \'{"token": "kwarg-secret"}\''
    )
    results["config"]["training"].update(hub_token="<HUB_TOKEN>", teacher_model_init_kwargs={"token": "kwarg-secret"})
    results["config"]["method"]["PkdArguments"]["pkd_auth_token"] = "method-secret"
    results["tags"] = [f"made-with-{FAKE_TOKEN}"]
    card = str(render_model_card(results, repo_id="me/sst2-pkd-student"))
    for secret in (FAKE_TOKEN, "plain-secret", "kwarg-secret", "method-secret", "<HUB_TOKEN>"):
        assert secret not in card, secret
    assert "--hub_token '<redacted>' --hub_token='<redacted>'" in card
    assert '| `teacher_model_init_kwargs` | `{"token": "<redacted>"}` |' in card


def test_card_shows_no_absolute_path_of_the_machine(tmp_path, monkeypatch):
    home, work = tmp_path / "home" / "me", tmp_path / "home" / "me" / "project"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    results = copy.deepcopy(RESULTS)
    results["teacher"] = {**results["teacher"], "name_or_path": str(home / "teachers" / "minilm-sst2")}
    results["student"] = {**results["student"], "name_or_path": "/tmp/tmpx8k2/minilm-l6"}
    results["command"] = (
        f"python recipes/run_glue_distill.py --config {work}/configs/sst2.yaml --output_dir {work}/runs/sst2 "
        f"--teacher_model_name_or_path {home}/teachers/minilm-sst2 --student_model_name_or_path /tmp/tmpx8k2/minilm-l6"
    )
    results["config"]["config_file"] = str(work / "configs" / "sst2.yaml")
    results["config"]["training"]["teacher_model_init_kwargs"] = {"cache_dir": str(home / ".cache" / "hf")}
    card = str(render_model_card(results, repo_id="me/sst2-pkd-student"))
    assert str(tmp_path) not in card and "/tmp/" not in card
    assert (
        "--config ./configs/sst2.yaml --output_dir ./runs/sst2 --teacher_model_name_or_path ~/teachers/minilm-sst2 "
        "--student_model_name_or_path .../minilm-l6" in card
    )
    assert "Configuration file: `./configs/sst2.yaml`" in card
    assert '`{"cache_dir": "~/.cache/hf"}`' in card
    assert "`minilm-l6` (a local checkpoint)" in card


def test_base_model_of_a_local_student_folder(tmp_path, tokenizer):
    run, student_init = tmp_path / "run", tmp_path / "students" / "minilm"
    tiny_bert(tokenizer, layers=1).save_pretrained(run)
    tiny_bert(tokenizer, layers=2).save_pretrained(student_init)
    config = json.loads((student_init / "config.json").read_text())
    (student_init / "config.json").write_text(json.dumps({**config, "_name_or_path": "nreimers/MiniLM-L6-H384"}))
    cached = tmp_path / "hub" / "models--someone--minilm-sst2" / "snapshots" / "0123abcd"
    tiny_bert(tokenizer, layers=2).save_pretrained(cached)
    results = {"teacher": {"name_or_path": str(cached)}, "student": {"name_or_path": str(student_init)}}
    data = render_model_card(with_checkpoint_facts(results, run)).data
    assert data.base_model == "nreimers/MiniLM-L6-H384"  # the local folder's config names its Hub model
    assert data.get("teacher") == "someone/minilm-sst2"  # a copy in the Hub cache: its path names it
    # The user's word wins, through push_student (hf_distill push --student_base_model / --teacher_hub_id).
    calls = {}

    class RecordingApi:
        def create_repo(self, repo_id, **kwargs):
            return type("Url", (), {"repo_id": repo_id})()

        def upload_folder(self, **kwargs):
            calls.update(kwargs)

    given = {"student_base_model": "org/base", "teacher_hub_id": "org/t"}
    push_student(run, "me/x", results=results, api=RecordingApi(), **given)
    pushed = ModelCard.load(run / "README.md").data
    assert (pushed.base_model, pushed.get("teacher")) == ("org/base", "org/t")
    assert calls["allow_patterns"] == ["README.md", "config.json", "model.safetensors"]


def logit_run_config(*flags: str) -> dict:
    """``results["config"]`` as recipes/run_glue_distill.py records it (the arguments of ``--distill_method``)."""

    from hf_distill.recipes.arguments import parse_arguments
    from hf_distill.recipes.report import configuration

    argv = ["--task_name", "sst2", "--teacher_model_name_or_path", "teacher", "--output_dir", "out"]
    argv += ["--student_layers", "0,2,4", *flags]
    return configuration(*parse_arguments(argv))


def test_card_shows_only_the_settings_of_the_method_that_ran():
    results = {"distill_method": "logit", "student": {"layers": "0,2,4"}, "config": logit_run_config()}
    card = render_model_card(results)
    settings = [line.split("`")[1] for line in card.text.splitlines() if line.startswith("| `")]
    assert settings == [
        "temperature", "alpha", "kd_loss_type", "student_layers", "max_seq_length", "learning_rate",
        "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "warmup_steps",
        "weight_decay", "seed",
    ]  # fmt: skip
    assert "| Student initialisation | the teacher's layers 0,2,4 (embeddings and classifier copied) |" in card.text

    augmented = render_model_card({**results, "config": logit_run_config("--augment_copies", "2")}).text
    assert "| `augment_copies` | 2 |" in augmented and "| `augment_replace_prob` | 0.1 |" in augmented
    assert "`augment_mlm_model`" not in augmented and "`augment_copies`" not in card.text  # None / no augmentation

    theseus_config = logit_run_config("--distill_method", "theseus")
    theseus = render_model_card({**results, "distill_method": "theseus", "student": {}, "config": theseus_config}).text
    assert "| `theseus_replacement_rate` | 0.5 |" in theseus
    assert "`temperature`" not in theseus and "`fastbert_speed`" not in theseus  # trained on the task loss alone

    config = logit_run_config("--distill_preset", "tinybert")
    tinybert = render_model_card({"distill_method": "logit", "student": {}, "config": config}).text
    for name in ("intermediate_terms", "layer_mapping", "distill_phases", "intermediate_phase_ratio"):
        assert f"| `{name}` |" in tinybert, name
    assert "Method: TinyBERT-style distillation (Jiao et al., 2020)" in tinybert


def test_a_gradient_transfer_card_names_the_method_and_its_settings():
    config = logit_run_config("--distill_preset", "ebbt")
    card = render_model_card({"distill_method": "logit", "student": {}, "config": config}).text
    assert "with gradient transfer (Srinivas & Fleuret, 2018)" in card
    assert "matching the input gradients at noise-perturbed word embeddings" in card
    terms = next(line for line in card.splitlines() if line.startswith("| `intermediate_terms` |"))
    assert '"input_gradient"' in terms and '"noise": 0.1' in terms, terms
    for name in ("temperature", "alpha", "kd_loss_type"):
        assert f"| `{name}` |" in card, name
