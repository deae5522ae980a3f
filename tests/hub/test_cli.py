"""The ``hf_distill push OUTPUT_DIR REPO_ID`` command, against the local Hub server."""

import configparser
import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from transformers import AutoModelForSequenceClassification

from hf_distill.hub.cli import main
from hf_distill.modeling_fastbert import FastBertForSequenceClassification
from tests.hub_server import TOKEN, USER
from tests.tiny import tiny_bert

ROOT = Path(__file__).resolve().parents[2]
FAKE_TOKEN = "hf_FAKEtoken1234567890abcdefghijklmnop"


@pytest.fixture
def finished_run(tokenizer, tmp_path):
    """A run folder as a recipe leaves it: the student, its tokenizer, results.json, and things not to push."""
    output_dir = tmp_path / "run"
    student = tiny_bert(tokenizer, seed=3, layers=1)
    student.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    results = {
        "distill_method": "logit",
        "task": "sst2",
        "eval_split": "validation",
        "teacher": {"parameters": 38530, "metrics": {"accuracy": 0.9}},
        "student": {"parameters": student.num_parameters(), "metrics": {"accuracy": 0.85}},
        "command": "python recipes/run_glue_distill.py --task_name sst2",
    }
    (output_dir / "results.json").write_text(json.dumps(results))
    (output_dir / "training_args.bin").write_bytes(b"not for the hub")
    (output_dir / "checkpoint-8").mkdir()
    (output_dir / "checkpoint-8" / "model.safetensors").write_bytes(b"an intermediate state")
    (output_dir / "teacher").mkdir()
    (output_dir / "teacher" / "model.safetensors").write_bytes(b"the teacher")
    return output_dir, student


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "hf_distill", *map(str, args)], capture_output=True, text=True, env=env
    )


def test_console_script_entry_point_is_declared():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"].strip()
    assert scripts == "hf_distill = hf_distill.hub.cli:main"


def test_push_command_pushes_the_student_and_its_card(hub, finished_run, tokenizer):
    output_dir, student = finished_run
    repo_id = f"{USER}/cli-{uuid.uuid4().hex[:8]}"
    completed = run_cli("push", output_dir, repo_id)
    assert completed.returncode == 0, completed.stderr
    assert f"Pushed {output_dir} to {repo_id}" in completed.stdout
    files = set(HfApi().list_repo_files(repo_id))
    assert files == {".gitattributes", "README.md", "config.json", "model.safetensors"} | {
        "tokenizer.json",
        "tokenizer_config.json",
    }
    pushed = AutoModelForSequenceClassification.from_pretrained(repo_id)
    batch = tokenizer(["good fun movie"], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(pushed(**batch).logits, student.eval()(**batch).logits, rtol=0, atol=1e-6)
    card = ModelCard.load(repo_id)
    assert card.data.eval_results[0].metric_value == 0.85
    assert "python recipes/run_glue_distill.py --task_name sst2" in card.text
    assert f"keeps {0.85 / 0.9:.1%} of the teacher's accuracy" in card.text
    # What results.json lacks is read from the saved student, not made up: architecture, layers, size on disk.
    size = (output_dir / "model.safetensors").stat().st_size
    assert "| Student architecture | `BertForSequenceClassification` |" in card.text
    assert f"| Size on disk | — | {size / 1e6:.1f} MB |" in card.text and "| Layers | — | 1 |" in card.text


def test_push_command_private_flag(hub, finished_run):
    output_dir, _ = finished_run
    repo_id = f"{USER}/cli-private-{uuid.uuid4().hex[:8]}"
    assert main(["push", str(output_dir), repo_id.split("/")[1], "--private"]) == 0  # the token's namespace
    assert HfApi().model_info(repo_id).private is True
    assert f'from_pretrained("{repo_id}")' in ModelCard.load(repo_id).text


def test_push_command_with_refused_token_explains(hub, finished_run, capsys):
    output_dir, _ = finished_run
    repo_id = f"{USER}/cli-refused-{uuid.uuid4().hex[:8]}"
    assert main(["push", str(output_dir), repo_id, "--token", "hf_wrong"]) == 1
    error = capsys.readouterr().err
    assert "Invalid credentials" in error and "saved locally" in error and f"hf_distill push {output_dir}" in error
    assert hub.repo(repo_id) is None


def test_push_command_refuses_a_folder_without_student(hub, tmp_path, capsys):
    assert main(["push", str(tmp_path), f"{USER}/nothing"]) == 1
    assert "holds no saved student" in capsys.readouterr().err
    assert hub.repo(f"{USER}/nothing") is None


def new_repo(prefix: str) -> str:
    return f"{USER}/{prefix}-{uuid.uuid4().hex[:8]}"


def test_push_sends_only_the_students_files(hub, finished_run):
    output_dir, _ = finished_run
    (output_dir / "notes.py").write_text(f'HF_TOKEN = "{FAKE_TOKEN}"  # kept next to the run\n')
    (output_dir / "teacher.model").write_bytes(b"not a tokenizer")
    repo_id = new_repo("cli-allow-list")
    assert main(["push", str(output_dir), repo_id]) == 0
    files = set(HfApi().list_repo_files(repo_id))
    assert files == {".gitattributes", "README.md", "config.json", "model.safetensors"} | {
        "tokenizer.json",
        "tokenizer_config.json",
    }


def test_push_sends_the_modelling_code_that_auto_map_names(hub, tokenizer, tmp_path):
    output_dir = tmp_path / "fastbert"
    FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=2)).save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "notes.py").write_text(f'HF_TOKEN = "{FAKE_TOKEN}"\n')
    config = json.loads((output_dir / "config.json").read_text())
    assert set(config["auto_map"].values()) == {
        "modeling_fastbert.FastBertConfig",
        "modeling_fastbert.FastBertForSequenceClassification",
    }
    repo_id = new_repo("cli-code")
    assert main(["push", str(output_dir), repo_id]) == 0
    files = set(HfApi().list_repo_files(repo_id))
    assert {"modeling_fastbert.py", "losses.py"} <= files  # the module auto_map names and the module it imports
    assert "notes.py" not in files


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1].strip()


def test_failed_private_push_is_retried_private(hub, finished_run, capsys):
    output_dir, _ = finished_run
    repo_id = new_repo("cli-retry")
    hub.stop()
    try:
        assert main(["push", str(output_dir), repo_id, "--private", "--token", TOKEN]) == 1
    finally:
        hub.start()
    error = capsys.readouterr().err
    assert TOKEN not in error
    command = last_line(error)
    assert command == f'hf_distill push {output_dir} {repo_id} --private --token "$HF_TOKEN"'
    assert main(shlex.split(os.path.expandvars(command))[1:]) == 0  # the command of the message, as a user runs it
    assert HfApi().model_info(repo_id).private is True


def test_retry_command_carries_every_flag(hub, finished_run, capsys):
    output_dir, _ = finished_run
    flags = ["--revision", "dev", "--commit_message", "my run", "--student_base_model", "org/base"]
    flags += ["--teacher_hub_id", "org/teacher"]
    hub.stop()
    try:
        assert main(["push", str(output_dir), f"{USER}/x", *flags]) == 1
    finally:
        hub.start()
    assert last_line(capsys.readouterr().err) == (
        f"hf_distill push {output_dir} {USER}/x --revision dev --student_base_model org/base --teacher_hub_id "
        "org/teacher --commit_message 'my run'"
    )


def test_private_push_to_an_existing_public_repo_is_refused(hub, finished_run, capsys):
    output_dir, _ = finished_run
    repo_id = HfApi().create_repo(new_repo("cli-public")).repo_id
    assert main(["push", str(output_dir), repo_id, "--private"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"The Hub repo {repo_id!r} exists and is public" in error
    assert [commit.title for commit in hub.repo(repo_id).commits.values()] == ["initial commit"]
    assert HfApi().model_info(repo_id).private is False


def test_push_command_sets_the_hub_ids_of_local_models(hub, finished_run):
    output_dir, _ = finished_run
    repo_id = new_repo("cli-base-model")
    flags = ["--student_base_model", "org/tiny-base", "--teacher_hub_id", "org/tiny-teacher"]
    assert main(["push", str(output_dir), repo_id, *flags]) == 0
    data = ModelCard.load(repo_id).data
    assert (data.base_model, data.get("teacher")) == ("org/tiny-base", "org/tiny-teacher")


def test_push_command_renders_the_given_card_template(hub, finished_run, tmp_path):
    output_dir, _ = finished_run
    template = tmp_path / "card.md"
    template.write_text("---\n{{ card_data }}\n---\n\n# Our {{ model_name }}\n\n{{ summary }}\n")
    repo_id = new_repo("cli-template")
    assert main(["push", str(output_dir), repo_id, "--model_card_template", str(template)]) == 0
    card = ModelCard.load(repo_id)
    assert card.text.startswith(f"\n# Our {repo_id.split('/')[1]}\n\nA student model distilled from")
    assert "## How to use" not in card.text  # the packaged template's section: not rendered
    assert card.data.eval_results[0].metric_value == 0.85


def test_push_command_refuses_a_missing_card_template(hub, finished_run, tmp_path, capsys):
    output_dir, _ = finished_run
    repo_id = new_repo("cli-no-template")
    assert main(["push", str(output_dir), repo_id, "--model_card_template", str(tmp_path / "missing.md")]) == 1
    error = capsys.readouterr().err.strip()
    assert (
        len(error.splitlines()) == 1 and f"model_card_template={str(tmp_path / 'missing.md')!r} is not a file" in error
    )
    assert hub.repo(repo_id) is None


def test_retry_command_carries_the_card_template(hub, finished_run, tmp_path, capsys):
    output_dir, _ = finished_run
    template = tmp_path / "card.md"
    template.write_text("# {{ model_name }}\n")
    hub.stop()
    try:
        assert main(["push", str(output_dir), f"{USER}/x", "--model_card_template", str(template)]) == 1
    finally:
        hub.start()
    assert (
        last_line(capsys.readouterr().err) == f"hf_distill push {output_dir} {USER}/x --model_card_template {template}"
    )
