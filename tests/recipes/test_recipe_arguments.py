"""The recipe's parser takes the arguments classes of the method ``--distill_method`` names, chosen before parsing."""

import contextlib
import io
from pathlib import Path

import pytest

from hf_distill import DistillationTrainingArguments, MetaDistilTrainingArguments, TheseusArguments
from hf_distill.methods.fastbert import FastBertArguments
from hf_distill.recipes.arguments import parse_arguments
from hf_distill.recipes.methods import get_method

ROOT = Path(__file__).resolve().parents[2]
BASE = [
    "--task_name",
    "sst2",
    "--teacher_model_name_or_path",
    "teacher",
    "--output_dir",
    "out",
    "--student_layers",
    "0",
]


@pytest.mark.parametrize("config", sorted((ROOT / "recipes" / "configs").glob("sst2_*.yaml")) + sorted(
    (ROOT / "recipes" / "configs").glob("hub_*.yaml")), ids=lambda path: path.name)  # fmt: skip
def test_every_glue_config_parses_with_its_methods_classes(config):
    model_args, _, training_args, method_args, config_path = parse_arguments(["--config", str(config)])
    method = get_method(model_args.distill_method)
    assert type(training_args) is method.training_arguments and config_path == str(config)
    assert [type(args) for args in method_args] == ([method.arguments] if method.arguments else [])


def test_metadistil_settings_are_the_training_arguments_own_fields():
    flags = ["--distill_method", "metadistil", "--quiz_size", "8", "--teacher_weight_decay", "0.01"]
    _, _, training_args, method_args, _ = parse_arguments([*BASE, *flags, "--quiz_batch_size", "4"])
    assert type(training_args) is MetaDistilTrainingArguments and method_args == []
    assert (training_args.quiz_size, training_args.teacher_weight_decay, training_args.quiz_batch_size) == (8, 0.01, 4)
    with pytest.raises(ValueError, match="teacher-optimizer: invalid choice: 'adam'"):
        parse_arguments([*BASE, "--distill_method", "metadistil", "--teacher_optimizer", "adam"])


def test_the_config_files_method_picks_the_classes(tmp_path):
    (tmp_path / "run.yaml").write_text("distill_method: theseus\ntheseus_successor_layers: 3\n")
    _, _, training_args, method_args, _ = parse_arguments([*BASE, "--config", str(tmp_path / "run.yaml")])
    assert type(training_args) is DistillationTrainingArguments
    assert [type(args) for args in method_args] == [TheseusArguments]
    assert method_args[0].theseus_successor_layers == 3
    _, _, _, method_args, _ = parse_arguments([*BASE, "--distill_method", "fastbert", "--fastbert_speed", "0.3"])
    assert [type(args) for args in method_args] == [FastBertArguments] and method_args[0].fastbert_speed == 0.3


def test_another_methods_setting_is_refused():
    with pytest.raises(ValueError, match=r"unknown argument\(s\) --fastbert_speed 0.3"):
        parse_arguments([*BASE, "--fastbert_speed", "0.3"])
    with pytest.raises(ValueError, match="invalid choice: 'nope'"):
        parse_arguments([*BASE, "--distill_method", "nope"])


def test_help_lists_the_chosen_methods_settings():
    def help_text(*flags: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            parse_arguments([*flags, "--help"])
        return out.getvalue()

    metadistil = help_text("--distill_method", "metadistil")
    assert "--teacher_max_grad_norm" in metadistil and "--fastbert_speed" not in metadistil
    assert "--fastbert_speed" in help_text("--distill_method", "fastbert")
    assert "--quiz_size" not in help_text()
