"""The ``hf_distill push OUTPUT_DIR REPO_ID`` command, against the local Hub server."""

import configparser
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from transformers import AutoModelForSequenceClassification

from hf_distill.cli import main

from hub_server import USER
from tiny import tiny_bert

ROOT = Path(__file__).resolve().parents[1]


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
    assert scripts == "hf_distill = hf_distill.cli:main"


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
