"""``run_glue_distill.py --push_to_hub`` against the local Hub server: the student and a card from results.json."""

import json
import uuid
from pathlib import Path

import torch
from huggingface_hub import HfApi, ModelCard, snapshot_download
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.hub.test_push import files_holding
from tests.hub_server import TOKEN, USER
from tests.recipes.test_recipe import common_flags, models, pytestmark, recipe_main  # noqa: F401 - the recipe's fixture and skip


def test_recipe_pushes_the_student_with_a_card_from_its_results(hub, models, tmp_path):  # noqa: F811
    out, name = tmp_path / "out", f"recipe-{uuid.uuid4().hex[:8]}"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"]]
    flags += ["--student_model_name_or_path", models["pretrained_student"], "--push_to_hub", "true"]
    assert recipe_main([*flags, "--hub_model_id", name, "--hub_private_repo", "true"]) == 0
    results = json.loads((out / "results.json").read_text())
    repo_id = f"{USER}/{name}"

    assert HfApi().model_info(repo_id).private is True
    files = set(HfApi().list_repo_files(repo_id))
    assert files == {".gitattributes", "README.md", "config.json", "model.safetensors"} | {
        "tokenizer.json",
        "tokenizer_config.json",
    }  # no results.json, training_args.bin or teacher cache
    titles = [commit.title for commit in hub.repo(repo_id).commits.values()]
    assert titles == ["initial commit", "End of training"]  # one push, at the end, with the results

    tokenizer = AutoTokenizer.from_pretrained(out)
    batch = tokenizer(["a gripping film", "dull"], padding=True, return_tensors="pt")
    local = AutoModelForSequenceClassification.from_pretrained(out).eval()
    pushed = AutoModelForSequenceClassification.from_pretrained(repo_id).eval()
    with torch.no_grad():
        assert torch.equal(pushed(**batch).logits, local(**batch).logits)

    card = ModelCard.load(repo_id)
    student, teacher = results["student"], results["teacher"]
    [result] = card.data.eval_results
    assert (result.dataset_type, result.dataset_config, result.dataset_split) == ("nyu-mll/glue", "sst2", "validation")
    assert result.metric_value == student["metrics"]["accuracy"]
    assert f"keeps {results['retention']['accuracy']:.1%} of the teacher's accuracy" in card.text
    assert f"{results['inference_speedup']:.2f}x faster inference than the teacher" in card.text
    assert f"| accuracy (GLUE SST-2, validation) | {teacher['metrics']['accuracy']:.4g} |" in card.text
    assert f"{results['compression_ratio']:.2f}x fewer parameters" in card.text
    assert results["command"] in card.text and "--push_to_hub true" in results["command"]
    assert results["hardware"] in card.text


def test_recipe_with_a_refused_token_stops_before_training(hub, models, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"]]
    flags += ["--student_model_name_or_path", models["pretrained_student"], "--push_to_hub", "true"]
    assert recipe_main([*flags, "--hub_token", "hf_wrong"]) == 1
    assert "Nothing has been trained yet" in capsys.readouterr().err
    assert not (out / "results.json").exists()


FAKE_TOKEN = "hf_FAKEtoken1234567890abcdefghijklmnop"


def test_recipe_records_and_pushes_no_token_and_no_machine_path(hub, models, tmp_path):  # noqa: F811
    out, name = tmp_path / "out", f"recipe-secret-{uuid.uuid4().hex[:8]}"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--push_to_hub", "true"]
    flags += ["--student_model_name_or_path", models["pretrained_student"], "--hub_model_id", name]
    flags += ["--hub_token", TOKEN, f"--teacher_model_init_kwargs={json.dumps({'token': FAKE_TOKEN})}"]
    flags += ["--student_base_model", "someone/tiny-bert", "--teacher_hub_id", "someone/tiny-bert-sst2"]
    assert recipe_main(flags) == 0
    repo_id = f"{USER}/{name}"
    assert files_holding(out, TOKEN, FAKE_TOKEN) == []  # results.json, the card, training_args.bin...
    assert files_holding(Path(snapshot_download(repo_id, cache_dir=tmp_path / "download")), TOKEN, FAKE_TOKEN) == []
    results = json.loads((out / "results.json").read_text())
    assert "--hub_token '<redacted>'" in results["command"]
    assert results["config"]["training"]["teacher_model_init_kwargs"] == {"token": "<redacted>"}
    card = ModelCard.load(repo_id)
    assert (card.data.base_model, card.data.get("teacher")) == ("someone/tiny-bert", "someone/tiny-bert-sst2")
    assert str(tmp_path) not in card.text and f"--output_dir .../{out.name} " in card.text


def test_recipe_failed_private_push_says_how_to_push_it_privately(hub, models, tmp_path, capsys):  # noqa: F811
    out, name = tmp_path / "out", f"recipe-private-{uuid.uuid4().hex[:8]}"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--push_to_hub", "true"]
    flags += ["--student_model_name_or_path", models["pretrained_student"], "--hub_model_id", name]
    flags += ["--hub_private_repo", "true", "--hub_revision", "no-such-branch"]
    assert recipe_main(flags) == 1  # the branch does not exist: the upload is refused
    error = capsys.readouterr().err
    retry = (
        f"hf_distill push {out} {USER}/{name} --private --revision no-such-branch --commit_message 'End of training'"
    )
    assert retry in error
    assert HfApi().model_info(f"{USER}/{name}").private is True


def test_teacher_stage_pickles_no_token_and_pushes_nothing(hub, models, tmp_path):  # noqa: F811
    out = tmp_path / "teacher"
    flags = [*common_flags(out), "--stage", "teacher", "--teacher_model_name_or_path", models["pretrained_teacher"]]
    name = f"teacher-{uuid.uuid4().hex[:8]}"
    flags += ["--hub_token", FAKE_TOKEN, "--push_to_hub", "true", "--hub_model_id", name]
    flags += ["--save_strategy", "epoch"]
    assert recipe_main(flags) == 0
    assert list(out.glob("checkpoint-*/training_args.bin")) and (out / "training_args.bin").exists()
    assert files_holding(out, FAKE_TOKEN) == []
    assert not HfApi().repo_exists(f"{USER}/{name}", token=TOKEN)


def test_recipe_pushes_a_card_from_the_given_template(hub, models, tmp_path):  # noqa: F811
    out, name = tmp_path / "out", f"recipe-template-{uuid.uuid4().hex[:8]}"
    template = tmp_path / "card.md"
    template.write_text("---\n{{ card_data }}\n---\n\n# {{ model_name }}, our card\n\n{{ summary }}\n")
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--push_to_hub", "true"]
    flags += ["--student_model_name_or_path", models["pretrained_student"], "--model_card_template", template]
    assert recipe_main([*flags, "--hub_model_id", name]) == 0
    card = ModelCard.load(f"{USER}/{name}")
    assert card.text.startswith(f"\n# {name}, our card\n\nA student model distilled from")
    assert (
        card.data.eval_results[0].metric_value
        == json.loads((out / "results.json").read_text())["student"]["metrics"]["accuracy"]
    )


def test_recipe_with_a_missing_card_template_stops_before_training(models, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"]]
    flags += ["--student_layers", "0", "--model_card_template", tmp_path / "missing.md"]
    assert recipe_main(flags) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "model_card_template=" in error and "is not a file" in error
    assert not out.exists() or not (out / "results.json").exists()
