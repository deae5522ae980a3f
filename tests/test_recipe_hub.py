"""``run_glue_distill.py --push_to_hub`` against the local Hub server: the student and a card from results.json."""

import json
import uuid

import torch
from huggingface_hub import HfApi, ModelCard
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hub_server import USER
from test_recipe import common_flags, models, pytestmark, recipe_main  # noqa: F401 - the recipe's fixture and skip


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
