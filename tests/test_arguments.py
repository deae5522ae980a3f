import json

import pytest
import yaml
from transformers import HfArgumentParser, TrainingArguments

from hf_distill import DistillationTrainingArguments


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
