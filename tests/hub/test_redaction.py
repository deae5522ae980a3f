"""hf_distill.hub.redaction: no token in what a run records, no machine path in what it publishes."""

import os

import pytest

from hf_distill.hub.redaction import REDACTED, display_path, is_secret_name, redact, redact_command

FAKE = "hf_FAKEtoken1234567890abcdefghijklmnop"


@pytest.mark.parametrize(
    "name", ["token", "hub_token", "--hub-token", "use_auth_token", "HF_TOKEN", "api_key", "password", "client_secret"]
)
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["tokenizer_name", "teacher_tokenizer_name", "max_tokens", "author", "hub_model_id"])
def test_names_that_are_not_secret(name):
    assert not is_secret_name(name)


def test_command_line_forms_are_redacted():
    argv = ["python", "run.py", "--hub_token", "abc123", "--hub-token=def456", "--teacher_model_init_kwargs"]
    argv += ['{"token": "ghi789", "revision": "main"}', "--teacher_tokenizer_name", "bert-base-uncased"]
    command = redact_command(argv)
    assert command == (
        "python run.py --hub_token '<redacted>' '--hub-token=<redacted>' --teacher_model_init_kwargs "
        """'{"token": "<redacted>", "revision": "main"}' --teacher_tokenizer_name bert-base-uncased"""
    )
    assert redact(command) == command  # a recorded command can go through again unchanged


def test_recorded_command_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    monkeypatch.chdir(tmp_path)
    argv = ["--output_dir", tmp_path / "runs" / "a b", "--teacher", tmp_path / "me" / "models" / "t"]
    command = redact_command([*argv, "--glue_dir=/data/u1/glue"])
    assert command == "--output_dir './runs/a b' --teacher ~/models/t --glue_dir=.../glue"
    assert redact(command, paths=True) == command


def test_nested_settings_and_free_text_are_redacted(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "my-own-env-token")
    recorded = redact(
        {
            "training": {"hub_token": "<HUB_TOKEN>", "teacher_model_init_kwargs": {"token": "x", "revision": "v1"}},
            "method": [{"settings": {"Authorization": "Bearer y", "use_auth_token": True, "password": None}}],
            "note": f"pushed with {FAKE}, then my-own-env-token",
            "repr": "{'token': 'abc', 'seed': 1}",
            "tags": ["sst2"],
            "layers": [0, 2, 4],
        }
    )
    assert recorded == {
        "training": {"hub_token": REDACTED, "teacher_model_init_kwargs": {"token": REDACTED, "revision": "v1"}},
        "method": [{"settings": {"Authorization": REDACTED, "use_auth_token": True, "password": None}}],
        "note": f"pushed with {REDACTED}, then {REDACTED}",
        "repr": "{'token': '<redacted>', 'seed': 1}",
        "tags": ["sst2"],
        "layers": [0, 2, 4],
    }


def test_display_path(tmp_path, monkeypatch):
    home, work = tmp_path / "home" / "me", tmp_path / "home" / "me" / "project"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert display_path(str(work / "runs" / "sst2")) == "./runs/sst2"  # the nearer anchor wins
    assert display_path(str(work)) == "."
    assert display_path(str(home / "models" / "teacher")) == "~/models/teacher"
    assert display_path("/scratch/someone/tmpab12/teacher") == ".../teacher"
    assert display_path("relative/path") == "relative/path" and display_path("org/model") == "org/model"
    text = f"--output_dir {work}/out --teacher {home}/t --data=/var/tmp/x/glue https://huggingface.co/a/b nyu-mll/glue"
    assert redact(text, paths=True) == (
        "--output_dir ./out --teacher ~/t --data=.../glue https://huggingface.co/a/b nyu-mll/glue"
    )
    assert redact(text) == text  # results.json keeps its paths: hf_distill push reads the checkpoints they name
    assert os.getcwd() == str(work)
