import dataclasses
import json
import warnings

import pytest
import torch
import yaml
from transformers import HfArgumentParser, TrainingArguments

from hf_distill import DistillationDataCollator, DistillationTrainer, DistillationTrainingArguments
from hf_distill.terms import PRESETS
from tests.tiny import sentiment_dataset, tiny_bert


def test_defaults_and_contract_names(tmp_path):
    args = DistillationTrainingArguments(output_dir=str(tmp_path), temperature=2.0, alpha=0.5, kd_loss_type="kl")
    assert (args.temperature, args.alpha, args.kd_loss_type, args.teacher_dtype) == (2.0, 0.5, "kl", None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"temperature": 0.0}, r"temperature=0.0 must be > 0"),
        ({"temperature": -1.0}, r"temperature=-1.0 must be > 0"),
        ({"alpha": 1.5}, r"alpha=1.5 must be in \[0, 1\]"),
        ({"alpha": -0.1}, r"alpha=-0.1 must be in \[0, 1\]"),
        ({"kd_loss_type": "cosine"}, r"kd_loss_type='cosine' is not one of kl, ce, mse"),
        ({"teacher_dtype": "int8"}, r"teacher_dtype='int8' is not one of"),
        ({"teacher_model_init_kwargs": "{revision"}, r"teacher_model_init_kwargs='\{revision' is not valid JSON"),
    ],
)
def test_bad_values_are_refused_with_the_value_and_the_fix(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        DistillationTrainingArguments(output_dir=str(tmp_path), **overrides)


def test_parsed_from_cli_json_and_yaml(tmp_path):
    parser = HfArgumentParser(DistillationTrainingArguments)
    (cli,) = parser.parse_args_into_dataclasses(
        [
            "--output_dir",
            str(tmp_path),
            "--temperature",
            "4",
            "--alpha",
            "0.9",
            "--kd_loss_type",
            "mse",
            "--teacher_model_init_kwargs",
            '{"revision": "v1"}',
        ]
    )
    assert (cli.temperature, cli.alpha, cli.kd_loss_type) == (4.0, 0.9, "mse")
    assert cli.teacher_model_init_kwargs == {"revision": "v1"}

    config = {"output_dir": str(tmp_path), "temperature": 3.0, "alpha": 0.25, "teacher_dtype": "bfloat16"}
    (tmp_path / "a.json").write_text(json.dumps(config))
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(config))
    (from_json,) = parser.parse_json_file(str(tmp_path / "a.json"))
    (from_yaml,) = parser.parse_yaml_file(str(tmp_path / "a.yaml"))
    for parsed in (from_json, from_yaml):
        assert (parsed.temperature, parsed.alpha, parsed.teacher_dtype) == (3.0, 0.25, "bfloat16")

    with pytest.raises(SystemExit):
        parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--kd_loss_type", "hinge"])


def test_every_field_has_help():
    own = set(DistillationTrainingArguments.__dataclass_fields__) - set(TrainingArguments.__dataclass_fields__)
    assert own
    for name in own:
        assert DistillationTrainingArguments.__dataclass_fields__[name].metadata.get("help"), name


def test_upgrade_from_plain_training_arguments(tmp_path):
    plain = TrainingArguments(output_dir=str(tmp_path), learning_rate=3e-4, gradient_accumulation_steps=3, seed=11)
    upgraded = DistillationTrainingArguments.from_training_arguments(plain, alpha=0.8)
    assert isinstance(upgraded, DistillationTrainingArguments)
    assert (upgraded.learning_rate, upgraded.gradient_accumulation_steps, upgraded.seed) == (3e-4, 3, 11)
    assert (upgraded.alpha, upgraded.temperature) == (0.8, 2.0)


# ---- Intermediate terms, layer mapping, presets ----


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_preset_expands_into_the_settings_a_user_could_write(tmp_path, preset):
    from_preset = DistillationTrainingArguments(output_dir=str(tmp_path), distill_preset=preset)
    spec = PRESETS[preset]
    by_hand = DistillationTrainingArguments(
        output_dir=str(tmp_path),
        intermediate_terms=[dataclasses.asdict(term) for term in spec.terms],
        layer_mapping=spec.layer_mapping,
        distill_phases=spec.distill_phases,
    )
    assert from_preset.intermediate_terms == by_hand.intermediate_terms
    assert from_preset.intermediate_term_list() == list(spec.terms)
    assert (from_preset.layer_mapping, from_preset.distill_phases) == (by_hand.layer_mapping, by_hand.distill_phases)


def test_preset_contents_follow_the_papers(tmp_path):
    def expand(preset):
        args = DistillationTrainingArguments(output_dir=str(tmp_path), distill_preset=preset)
        return args.intermediate_terms, args.layer_mapping, args.distill_phases

    assert expand("pkd-skip") == ([{"loss": "pkd"}], "skip", "joint")
    assert expand("pkd-last") == ([{"loss": "pkd"}], "last", "joint")
    assert expand("distilbert")[0] == [{"loss": "cosine", "student_layer": -1, "teacher_layer": -1}]
    tinybert_terms, mapping, phases = expand("tinybert")
    assert [t["loss"] for t in tinybert_terms] == ["embedding_mse", "hidden_mse", "attention_mse"]
    assert (mapping, phases) == ("uniform", "intermediate_then_prediction")
    assert [t["loss"] for t in expand("minilm")[0]] == ["attention_kl", "value_relation"]
    assert [t["loss"] for t in expand("minilmv2")[0]] == ["qq_relation", "kk_relation", "vv_relation"]
    assert [t["loss"] for t in expand("mobilebert")[0]] == ["hidden_mse", "attention_kl"]


def test_user_settings_override_the_preset(tmp_path):
    args = DistillationTrainingArguments(
        output_dir=str(tmp_path),
        distill_preset="tinybert",
        layer_mapping="1:2,2:4",
        distill_phases="joint",
        intermediate_terms=[{"loss": "hidden_mse", "weight": 2.0}],
    )
    assert args.intermediate_terms == [{"loss": "hidden_mse", "weight": 2.0}]
    assert (args.layer_mapping, args.distill_phases) == ("1:2,2:4", "joint")
    plain = DistillationTrainingArguments(output_dir=str(tmp_path))
    assert (plain.intermediate_terms, plain.layer_mapping, plain.distill_phases) == (None, "uniform", "joint")


def test_intermediate_weight_scales_every_term_weight(tmp_path):
    terms = [{"loss": "hidden_mse", "weight": 2.0}, {"loss": "attention_kl"}]
    args = DistillationTrainingArguments(output_dir=str(tmp_path), intermediate_terms=terms, intermediate_weight=0.25)
    assert [term.weight for term in args.intermediate_term_list()] == [0.5, 0.25]
    assert args.intermediate_terms == terms  # the configured terms stay as written (saved and logged that way)
    (parsed,) = HfArgumentParser(DistillationTrainingArguments).parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--distill_preset", "mobilebert", "--intermediate_weight", "0.1"]
    )
    assert [term.weight for term in parsed.intermediate_term_list()] == [0.1, 0.1]


def test_intermediate_settings_from_cli_json_and_yaml(tmp_path):
    parser = HfArgumentParser(DistillationTrainingArguments)
    terms = [{"loss": "attention_mse", "student_layer": 1, "teacher_layer": 2, "weight": 0.5}]
    (cli,) = parser.parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--intermediate_terms", json.dumps(terms), "--layer_mapping", "2,4,6"]
    )
    assert cli.intermediate_terms == terms and cli.layer_mapping == "2,4,6"
    (preset,) = parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--distill_preset", "pkd-skip"])
    assert preset.intermediate_terms == [{"loss": "pkd"}] and preset.layer_mapping == "skip"
    config = {"output_dir": str(tmp_path), "intermediate_terms": terms, "layer_mapping": [[1, 2], [2, 4]]}
    (tmp_path / "t.json").write_text(json.dumps(config))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(config))
    for parsed in (
        parser.parse_json_file(str(tmp_path / "t.json"))[0],
        parser.parse_yaml_file(str(tmp_path / "t.yaml"))[0],
    ):
        assert parsed.intermediate_terms == terms and parsed.layer_mapping == [[1, 2], [2, 4]]
    with pytest.raises(SystemExit):
        parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--distill_preset", "bert-of-theseus"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"distill_preset": "patient"}, r"distill_preset='patient' is not one of pkd-skip"),
        ({"intermediate_terms": [{"loss": "hidden_l1"}]}, r"Intermediate loss 'hidden_l1' is not one of"),
        ({"intermediate_terms": [{"loss": "pkd", "layer": 2}]}, r"unknown keys \['layer'\]"),
        ({"intermediate_terms": [{"loss": "pkd", "student_layer": 2}]}, r"sets only one of student_layer"),
        ({"intermediate_terms": [{"loss": "pkd", "weight": -1}]}, r"weight=-1; weights must be >= 0"),
        ({"intermediate_terms": [{"loss": "attention_kl", "projection": True}]}, r"cannot use a projection"),
        ({"intermediate_terms": [{"loss": "hidden_mse", "relation_heads": 4}]}, r"relation_heads=4 is only for"),
        ({"intermediate_terms": "[{loss"}, r"intermediate_terms='\[\{loss' is not valid JSON"),
        ({"layer_mapping": "diagonal"}, r"layer_mapping='diagonal' is not one of uniform, skip, last"),
        ({"distill_phases": "intermediate"}, r"trains on intermediate terms, but none are set"),
        ({"distill_preset": "tinybert", "intermediate_phase_ratio": 1.0}, r"intermediate_phase_ratio=1.0 must be in"),
        ({"distill_preset": "pkd-skip", "intermediate_weight": -0.5}, r"intermediate_weight=-0.5 must be >= 0"),
        ({"intermediate_weight": 0.1}, r"intermediate_weight=0.1 scales intermediate terms, but none are set"),
    ],
)
def test_bad_intermediate_settings_are_refused(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        DistillationTrainingArguments(output_dir=str(tmp_path), **overrides)


def test_none_is_a_choice_on_the_command_line_as_help_says(tmp_path):
    parser = HfArgumentParser(DistillationTrainingArguments)
    flags = ["--teacher_dtype", "None", "--distill_preset", "None", "--distill_phases", "None"]
    (args,) = parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), *flags])
    assert (args.teacher_dtype, args.distill_preset, args.distill_phases) == (None, None, "joint")
    (args,) = parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--teacher_dtype", "bfloat16"])
    assert args.teacher_dtype == "bfloat16"
    assert "{None,auto,float32,bfloat16,float16}" in parser.format_help()


def test_pinned_memory_only_with_an_accelerator(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    assert not DistillationTrainingArguments(output_dir=str(tmp_path), use_cpu=False).dataloader_pin_memory
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    assert DistillationTrainingArguments(output_dir=str(tmp_path), use_cpu=False).dataloader_pin_memory
    assert not DistillationTrainingArguments(
        output_dir=str(tmp_path), dataloader_pin_memory=False
    ).dataloader_pin_memory


def test_no_pin_memory_warning_when_training_on_a_machine_without_accelerator(tmp_path, tokenizer):
    if torch.accelerator.is_available():
        pytest.skip("this machine has an accelerator: memory is pinned")
    args = DistillationTrainingArguments(
        output_dir=str(tmp_path), max_steps=1, report_to="none", disable_tqdm=True, save_strategy="no"
    )
    trainer = DistillationTrainer(
        model=tiny_bert(tokenizer, seed=1),
        teacher_model=tiny_bert(tokenizer, seed=2),
        args=args,
        train_dataset=sentiment_dataset(8),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    assert not [str(w.message) for w in caught if "pin_memory" in str(w.message)]
