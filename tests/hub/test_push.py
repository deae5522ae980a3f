"""Pushing students to a local Hub-compatible server (tests/hub_server.py) with the real huggingface_hub client."""

import json
import os
import shlex
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import HfApi, ModelCard, snapshot_download
from huggingface_hub.errors import RepositoryNotFoundError
from safetensors.torch import load
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hf_distill import DistillationDataCollator, DistillationTrainer, HubPushError, push_student
from hf_distill.hub.cli import main as cli_main
from hf_distill.hub.push import PublicRepoError, describe_model, student_files
from tests.hub_server import TOKEN, USER
from tests.real import MODELS, needs_checkpoints
from tests.tiny import quiet_args, sentiment_dataset, tiny_bert

FAKE_TOKEN = "hf_FAKEtoken1234567890abcdefghijklmnop"
STUDENT_REPO_FILES = {
    ".gitattributes",
    "README.md",
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
}


def accuracy(prediction):
    return {"accuracy": float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean())}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def make_trainer(output_dir, teacher, tokenizer, train=True, **overrides):
    values = dict(num_train_epochs=1, remove_unused_columns=False)
    values.update(overrides)
    trainer = DistillationTrainer(
        model=tiny_bert(tokenizer, seed=1, layers=1),
        teacher_model=teacher,
        args=quiet_args(output_dir, **values),
        train_dataset=sentiment_dataset(64, seed=1),
        eval_dataset=sentiment_dataset(32, seed=2),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        processing_class=tokenizer,
        compute_metrics=accuracy,
    )
    if train:
        trainer.train()
        trainer.evaluate()
    return trainer


def pushing_trainer(prefix, teacher, tokenizer, tmp_path, **overrides):
    """`make_trainer` into ``tmp_path / name`` with ``push_to_hub`` to a new repo ``name`` (``prefix`` made unique),
    which the trainer creates at init; returns ``(name, trainer)``."""
    name = unique(prefix)
    return name, make_trainer(tmp_path / name, teacher, tokenizer, push_to_hub=True, hub_model_id=name, **overrides)


def logits(model, tokenizer, texts=("good fun movie", "bad dull plot", "the film was great and sad")):
    batch = tokenizer(list(texts), padding=True, return_tensors="pt")
    with torch.no_grad():
        return model.eval()(**batch).logits


def test_push_to_hub_sends_the_student_and_loads_back(hub, trained_teacher, tokenizer, tmp_path):
    name, trainer = pushing_trainer("tiny-student", trained_teacher, tokenizer, tmp_path)
    assert trainer.hub_model_id == f"{USER}/{name}"  # created at init, in the token's namespace
    trainer.push_to_hub()

    repo_id = trainer.hub_model_id
    assert set(HfApi().list_repo_files(repo_id)) == STUDENT_REPO_FILES  # no teacher, checkpoint or training_args.bin
    weights_oid = hub.repo(repo_id).commit("main").files["model.safetensors"].lfs_oid
    assert ("PUT", f"/lfs/upload/{weights_oid}", 200) in hub.state.requests  # LFS upload, not inline in the commit

    from_hub = AutoModelForSequenceClassification.from_pretrained(repo_id)
    from_disk = AutoModelForSequenceClassification.from_pretrained(tmp_path / name)
    hub_tokenizer = AutoTokenizer.from_pretrained(repo_id)
    assert hub_tokenizer("good fun movie")["input_ids"] == tokenizer("good fun movie")["input_ids"]
    assert torch.equal(logits(from_hub, hub_tokenizer), logits(from_disk, tokenizer))
    torch.testing.assert_close(logits(from_hub, hub_tokenizer), logits(trainer.model, tokenizer), rtol=0, atol=1e-6)
    # The weights are the student's, all of them and nothing else.
    weights = load(hub.state.lfs[weights_oid])
    assert set(weights) == set(trainer.model.state_dict())
    assert sum(t.numel() for t in weights.values()) < sum(p.numel() for p in trained_teacher.parameters())

    card = ModelCard.load(repo_id)
    eval_accuracy = trainer.state.log_history[-1]["eval_accuracy"]
    assert {"distillation", "hf_distill", "logit"} <= set(card.data.tags)
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.model_name == name
    assert card.data.eval_results is None  # no dataset was named: no model-index rather than an invented one
    assert f"{eval_accuracy:.4g}" in card.text
    assert f'from_pretrained("{repo_id}")' in card.text
    info = HfApi().model_info(repo_id)
    assert info.private is False and info.card_data.tags == card.data.tags


def test_card_metadata_round_trips_through_the_hub(hub, trained_teacher, tokenizer, tmp_path):
    name = unique("glue-student")
    trainer = make_trainer(tmp_path / name, trained_teacher, tokenizer, hub_model_id=f"{USER}/{name}")
    teacher_accuracy = 0.9
    trainer.push_to_hub(
        results={"task": "sst2", "eval_split": "validation", "license": "apache-2.0", "main_metric": "accuracy"},
        tags=["sst2"],
    )
    trainer_results = trainer.distillation_results()
    card = ModelCard.load(f"{USER}/{name}")
    assert card.data.license == "apache-2.0"
    assert card.data.datasets == ["nyu-mll/glue"]
    assert card.data.metrics == ["accuracy"]
    assert {"distillation", "hf_distill", "logit", "sst2"} <= set(card.data.tags)
    [result] = card.data.eval_results
    assert (result.task_type, result.dataset_type, result.dataset_config, result.dataset_split) == (
        "text-classification",
        "nyu-mll/glue",
        "sst2",
        "validation",
    )
    assert result.metric_type == "accuracy"
    assert result.metric_value == trainer_results["student"]["metrics"]["accuracy"]
    info = HfApi().model_info(f"{USER}/{name}")
    assert info.model_index[0]["results"][0]["metrics"][0]["value"] == result.metric_value
    assert teacher_accuracy  # the teacher's metrics were not passed: the card must not show any
    assert "Retention" not in card.text and "Speedup" not in card.text


def test_private_repo(hub, trained_teacher, tokenizer, tmp_path):
    _, trainer = pushing_trainer("private", trained_teacher, tokenizer, tmp_path, train=False, hub_private_repo=True)
    trainer.push_to_hub()
    repo_id = trainer.hub_model_id
    assert HfApi().model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info(repo_id, token=False)
    assert AutoModelForSequenceClassification.from_pretrained(repo_id).config.num_hidden_layers == 1


def test_hub_strategy_checkpoint_pushes_student_and_last_checkpoint(hub, trained_teacher, tokenizer, tmp_path):
    _, trainer = pushing_trainer(
        "ckpt-student", trained_teacher, tokenizer, tmp_path, hub_strategy="checkpoint", save_strategy="steps",
        save_steps=4, eval_strategy="no",
    )  # fmt: skip
    trainer._finish_current_push()
    repo = hub.repo(trainer.hub_model_id)
    titles = [commit.title for commit in repo.commits.values()]
    assert any(title.startswith("Training in progress, step") for title in titles)
    files = repo.commit("main").files
    assert "model.safetensors" in files and "README.md" in files
    assert any(path.startswith("last-checkpoint/") for path in files)  # the resumable state, as Trainer pushes it
    assert not any(path.startswith("checkpoint-") for path in files)


def test_hub_strategy_end_pushes_nothing_during_training(hub, trained_teacher, tokenizer, tmp_path):
    _, trainer = pushing_trainer(
        "end-student", trained_teacher, tokenizer, tmp_path, hub_strategy="end", save_strategy="steps", save_steps=4
    )
    assert [c.title for c in hub.repo(trainer.hub_model_id).commits.values()] == ["initial commit"]


def test_export_student_decides_what_is_pushed(hub, trained_teacher, tokenizer, tmp_path):
    """A method whose training model is not the bare student (Theseus) overrides export_student."""
    successor = tiny_bert(tokenizer, seed=5, layers=1, hidden=16, heads=2)

    class SuccessorTrainer(DistillationTrainer):
        def export_student(self):
            return successor

    name = unique("theseus-like")
    trainer = SuccessorTrainer(
        model=tiny_bert(tokenizer, seed=1, layers=2),
        teacher_model=trained_teacher,
        args=quiet_args(tmp_path / name, hub_model_id=name),
        processing_class=tokenizer,
    )
    trainer.push_to_hub()
    pushed = AutoModelForSequenceClassification.from_pretrained(trainer.hub_model_id)
    assert pushed.config.hidden_size == 16
    torch.testing.assert_close(logits(pushed, tokenizer), logits(successor, tokenizer), rtol=0, atol=1e-6)


def test_push_fails_when_server_is_down_and_hf_distill_push_recovers(hub, trained_teacher, tokenizer, tmp_path):
    name = unique("offline-student")
    output_dir = tmp_path / name
    trainer = make_trainer(output_dir, trained_teacher, tokenizer, hub_model_id=f"{USER}/{name}")
    hub.stop()
    try:
        with pytest.raises(HubPushError) as error:
            trainer.push_to_hub()
    finally:
        hub.start()
    message = str(error.value)
    assert "saved locally" in message and str(output_dir) in message
    assert f"hf_distill push {output_dir} {USER}/{name}" in message
    assert {"config.json", "model.safetensors", "README.md"} <= set(student_files(output_dir))
    assert (output_dir / "results.json").is_file()  # the trainer's results, for hf_distill push to render again
    saved = AutoModelForSequenceClassification.from_pretrained(output_dir)
    torch.testing.assert_close(logits(saved, tokenizer), logits(trainer.model, tokenizer), rtol=0, atol=1e-6)
    assert hub.repo(f"{USER}/{name}") is None

    # The command from the message pushes the saved run, card included; pushing again updates the repo.
    commit = push_student(output_dir, f"{USER}/{name}")
    assert commit.oid == hub.repo(f"{USER}/{name}").commit("main").oid
    (output_dir / "results.json").write_text(json.dumps({**trainer.distillation_results(), "license": "mit"}))
    again = push_student(output_dir, f"{USER}/{name}")  # the repo exists now (create_repo answers 409)
    assert again.oid == hub.repo(f"{USER}/{name}").commit("main").oid != commit.oid
    assert ("POST", "/api/repos/create", 409) in hub.state.requests
    assert ModelCard.load(f"{USER}/{name}").data.license == "mit"
    from_hub = AutoModelForSequenceClassification.from_pretrained(f"{USER}/{name}")
    assert torch.equal(logits(from_hub, tokenizer), logits(saved, tokenizer))
    assert "hf_distill" in ModelCard.load(f"{USER}/{name}").data.tags


def test_push_with_a_refused_token_keeps_the_local_save(hub, trained_teacher, tokenizer, tmp_path):
    name = unique("refused-student")
    output_dir = tmp_path / name
    trainer = make_trainer(output_dir, trained_teacher, tokenizer, train=False, hub_model_id=name)
    with pytest.raises(HubPushError, match="Invalid credentials") as error:
        trainer.push_to_hub(token="hf_not_a_valid_token")
    assert "saved locally" in str(error.value) and "hf_distill push" in str(error.value)
    assert (output_dir / "model.safetensors").is_file()
    assert hub.repo(f"{USER}/{name}") is None
    assert ("POST", "/api/repos/create", 401) in hub.state.requests


def test_refused_token_at_trainer_init_stops_before_training(hub, trained_teacher, tokenizer, tmp_path):
    with pytest.raises(HubPushError, match="Nothing has been trained yet"):
        make_trainer(tmp_path / "run", trained_teacher, tokenizer, train=False, push_to_hub=True, hub_token="bad")


def test_upload_failure_after_repo_creation_is_reported(hub, trained_teacher, tokenizer, tmp_path, monkeypatch):
    """The repo exists but the token loses write access before the upload: the commit is refused."""
    name = unique("forbidden-upload")
    output_dir = tmp_path / name
    trainer = make_trainer(output_dir, trained_teacher, tokenizer, train=False, push_to_hub=True, hub_model_id=name)
    monkeypatch.setitem(hub.state.repos[("model", trainer.hub_model_id)].__dict__, "owner", "someone-else")
    with pytest.raises(HubPushError, match="saved locally"):
        trainer.push_to_hub()
    assert (output_dir / "model.safetensors").is_file()


def test_results_json_of_the_run_feeds_the_card(hub, trained_teacher, tokenizer, tmp_path):
    name = unique("recipe-student")
    trainer = make_trainer(tmp_path / name, trained_teacher, tokenizer, hub_model_id=f"{USER}/{name}")
    trainer.save_student()
    results = trainer.distillation_results()
    results["teacher"]["metrics"] = {"accuracy": 0.875}
    results.update(inference_speedup=1.75, hardware="test CPU", inference={"batch_size": 8, "repeats": 2})
    (tmp_path / name / "results.json").write_text(json.dumps(results))
    push_student(tmp_path / name, f"{USER}/{name}", token=TOKEN)
    text = ModelCard.load(f"{USER}/{name}").text
    assert "1.75x faster inference than the teacher, measured on test CPU; batch size 8, best of 2." in text
    retention = results["student"]["metrics"]["accuracy"] / 0.875
    assert f"{retention:.1%} of the teacher's accuracy" in text
    size = (tmp_path / name / "model.safetensors").stat().st_size
    assert f"| Size on disk | — | {size / 1e6:.1f} MB |" in text


@pytest.mark.slow
@needs_checkpoints("minilm-l6")
def test_real_size_student_round_trips_through_lfs(hub, tmp_path):
    """A 22M-parameter student (all-MiniLM-L6-v2 with a classifier): an 87 MB LFS upload and download."""
    torch.manual_seed(0)
    student = AutoModelForSequenceClassification.from_pretrained(MODELS / "minilm-l6", num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(MODELS / "minilm-l6")
    output_dir = tmp_path / "run"
    student.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    results = {"distill_method": "logit", "task": "sst2", "student": describe_model(student, output_dir)}
    repo_id = f"{USER}/{unique('minilm-student')}"
    push_student(output_dir, repo_id, results=results)

    pushed = AutoModelForSequenceClassification.from_pretrained(repo_id)
    texts = ["a gripping, beautifully acted film", "dull and far too long"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(pushed.eval()(**batch).logits, student.eval()(**batch).logits)
    card = ModelCard.load(repo_id)
    assert card.data.license == "apache-2.0"  # from the base checkpoint's own card
    size = (output_dir / "model.safetensors").stat().st_size
    assert size > 10 * 1024 * 1024 and f"{size / 1e6:.1f} MB" in card.text


def files_holding(folder: Path, *secrets: str) -> list[str]:
    """The files under ``folder`` whose bytes contain one of ``secrets``."""
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and any(secret.encode() in path.read_bytes() for secret in secrets):
            found.append(str(path.relative_to(folder)))
    return found


def test_no_pushed_or_saved_file_holds_the_token(hub, trained_teacher, tokenizer, tmp_path):
    """hub_strategy="checkpoint" pushes last-checkpoint/training_args.bin: the pickled arguments hold no token."""
    name, trainer = pushing_trainer(
        "secret-ckpt", trained_teacher, tokenizer, tmp_path, hub_strategy="checkpoint", save_strategy="steps",
        save_steps=4, eval_strategy="no", hub_token=TOKEN, teacher_model_init_kwargs={"token": FAKE_TOKEN},
    )  # fmt: skip
    trainer._finish_current_push()
    trainer.push_to_hub()
    repo_id = trainer.hub_model_id
    assert "last-checkpoint/training_args.bin" in HfApi().list_repo_files(repo_id)
    downloaded = Path(snapshot_download(repo_id, cache_dir=tmp_path / "download"))
    assert files_holding(downloaded, TOKEN, FAKE_TOKEN) == []
    assert files_holding(tmp_path / name, TOKEN, FAKE_TOKEN) == []  # the local run folder, checkpoints included
    pushed_args = torch.load(downloaded / "last-checkpoint" / "training_args.bin", weights_only=False)
    assert pushed_args.hub_token is None and pushed_args.teacher_model_init_kwargs == {}
    assert pushed_args.temperature == trainer.args.temperature
    assert trainer.args.hub_token == TOKEN  # the trainer's own arguments keep it
    card = ModelCard.load(repo_id).text
    assert '| `teacher_model_init_kwargs` | `{"token": "<redacted>"}` |' in card


def test_private_trainer_never_pushes_to_a_public_repo(hub, trained_teacher, tokenizer, tmp_path):
    name = unique("already-public")
    repo_id = HfApi().create_repo(name).repo_id
    with pytest.raises(PublicRepoError, match="exists and is public"):
        make_trainer(tmp_path / "a", trained_teacher, tokenizer, train=False, push_to_hub=True, hub_model_id=name,
                     hub_private_repo=True)  # fmt: skip
    trainer = make_trainer(tmp_path / "b", trained_teacher, tokenizer, train=False, hub_model_id=name)
    with pytest.raises(PublicRepoError):
        trainer.push_to_hub(private=True)
    assert [commit.title for commit in hub.repo(repo_id).commits.values()] == ["initial commit"]
    assert HfApi().model_info(repo_id).private is False


def test_failed_private_push_gives_a_private_retry_command(hub, trained_teacher, tokenizer, tmp_path):
    name = unique("private-retry")
    output_dir = tmp_path / name
    trainer = make_trainer(output_dir, trained_teacher, tokenizer, train=False, hub_model_id=name,
                           hub_private_repo=True, hub_token=TOKEN)  # fmt: skip
    hub.stop()
    try:
        with pytest.raises(HubPushError) as error:
            trainer.push_to_hub()
    finally:
        hub.start()
    assert TOKEN not in str(error.value)
    command = str(error.value).splitlines()[-1].strip()
    assert command == f'hf_distill push {output_dir} {name} --private --token "$HF_TOKEN"'
    assert os.environ["HF_TOKEN"] == TOKEN
    assert cli_main(shlex.split(os.path.expandvars(command))[1:]) == 0  # run as the message says
    assert HfApi().model_info(f"{USER}/{name}").private is True
