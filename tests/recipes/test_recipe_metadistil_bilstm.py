"""The recipe's `metadistil` and `bilstm` entries end to end: tiny models, real SST-2 rows."""

import math

import datasets
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from hf_distill import BiLSTMForSequenceClassification
from tests.recipes.test_recipe import (  # noqa: F401 (models is a fixture)
    TRAIN_ROWS,
    common_flags,
    dev_accuracy,
    models,
    pytestmark,
    read_results,
    recipe_main,
)


def test_metadistil_method_trains_the_teacher_too(tmp_path, models):  # noqa: F811
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--distill_method", "metadistil"]
    flags += ["--student_model_name_or_path", models["pretrained_student"], "--quiz_size", 8]
    flags += ["--teacher_learning_rate", 1e-3]
    assert recipe_main(flags) == 0
    results = read_results(out)
    assert results["distill_method"] == "metadistil" and results["train"]["train_rows"] == TRAIN_ROWS
    assert results["train"]["global_step"] == 2 * (TRAIN_ROWS - 8) // 8  # the quiz rows are held out
    assert results["config"]["method"]["MetaDistilTrainingArguments"]["quiz_size"] == 8
    assert results["student"]["metrics"]["accuracy"] == dev_accuracy(out)
    updated = AutoModelForSequenceClassification.from_pretrained(out / "teacher")
    original = AutoModelForSequenceClassification.from_pretrained(models["teacher"])
    moved = [not torch.equal(p, original.get_parameter(n)) for n, p in updated.named_parameters()]
    assert any(moved)


def test_metadistil_with_augmentation_quizzes_on_gold_rows_only(tmp_path, models):  # noqa: F811
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--distill_method", "metadistil"]
    flags += ["--student_model_name_or_path", models["pretrained_student"], "--quiz_size", 8]
    flags += ["--augment_copies", 1, "--augment_replace_prob", 0.5, "--augment_mask_prob", 0]
    assert recipe_main(flags) == 0
    results = read_results(out)
    assert results["train"]["augmented_rows"] == TRAIN_ROWS
    # 80 rows, less 8 gold quiz rows and their 8 copies: 64 rows x 2 epochs / batch 8.
    assert results["train"]["global_step"] == 2 * (2 * TRAIN_ROWS - 16) // 8
    assert math.isfinite(results["train"]["train_loss"])


def test_gold_row_quiz_holds_out_gold_rows_and_their_copies():
    from hf_distill.recipes.methods import _gold_row_quiz

    rows = datasets.Dataset.from_dict({"augmented_from": [-1] * 4 + [0, 0, 1, 1, 2, 2, 3, 3], "row": list(range(12))})
    train, quiz = _gold_row_quiz(rows, quiz_size=2, seed=0)
    quiz_rows = set(quiz["row"])
    assert len(quiz_rows) == 2 and quiz_rows <= {0, 1, 2, 3} and set(quiz["augmented_from"]) == {-1}
    assert len(train) == 12 - 2 - 4
    assert not quiz_rows & (set(train["row"]) | set(train["augmented_from"]))
    shuffled = rows.select([4, 0, 1, 2, 3, *range(5, 12)])
    with pytest.raises(ValueError, match="gold rows first"):
        _gold_row_quiz(shuffled, quiz_size=2, seed=0)


def test_bilstm_method_builds_and_exports_a_bilstm(tmp_path, models):  # noqa: F811
    out = tmp_path / "out"
    flags = [*common_flags(out), "--teacher_model_name_or_path", models["teacher"], "--distill_method", "bilstm"]
    flags += ["--kd_loss_type", "mse", "--augment_copies", 1, "--augment_hard_labels", "true"]
    flags += ["--bilstm_embedding_size", 16, "--bilstm_hidden_size", 8, "--bilstm_classifier_hidden_size", 16]
    assert recipe_main(flags) == 0
    results = read_results(out)
    assert results["distill_method"] == "bilstm" and results["train"]["augmented_rows"] == TRAIN_ROWS
    student = AutoModelForSequenceClassification.from_pretrained(out)
    assert isinstance(student, BiLSTMForSequenceClassification) and not student.config.sentence_pairs
    assert student.config.embedding_size == 16 and (out / "modeling_bilstm.py").is_file()  # ships its code
    assert results["student"]["parameters"] == sum(p.numel() for p in student.parameters())
    assert results["student"]["metrics"]["accuracy"] == dev_accuracy(out)
