import pytest
import torch
from transformers import BertForMaskedLM, BertForSequenceClassification, BertModel

from hf_distill.teacher import check_teacher_student, load_teacher, tokenizer_mismatch
from tests.tiny import tiny_bert


def test_loaded_from_a_path_with_the_students_head_and_dtype(tokenizer, tmp_path):
    tiny_bert(tokenizer, seed=3).save_pretrained(tmp_path / "teacher")
    student = tiny_bert(tokenizer, seed=4)
    teacher = load_teacher(str(tmp_path / "teacher"), student, dtype="bfloat16")
    assert isinstance(teacher, BertForSequenceClassification)
    assert not teacher.training
    assert all(p.dtype == torch.bfloat16 and not p.requires_grad for p in teacher.parameters())


def test_a_checkpoint_without_a_trained_head_is_refused(tokenizer, tmp_path):
    config = tiny_bert(tokenizer).config
    BertModel(config).save_pretrained(tmp_path / "base")
    with pytest.raises(ValueError, match=r"no trained ForSequenceClassification head.*classifier\.weight"):
        load_teacher(str(tmp_path / "base"), tiny_bert(tokenizer))


def test_missing_teacher_says_how_to_pass_one(tokenizer):
    with pytest.raises(ValueError, match="needs a teacher: pass teacher_model="):
        load_teacher(None, tiny_bert(tokenizer))


def test_label_sets_must_agree(tokenizer):
    with pytest.raises(ValueError, match="teacher predicts 3 labels .* student 2"):
        check_teacher_student(tiny_bert(tokenizer, num_labels=3), tiny_bert(tokenizer), "kl")
    teacher = tiny_bert(tokenizer, id2label={0: "negative", 1: "positive"})
    student = tiny_bert(tokenizer, id2label={0: "positive", 1: "negative"})
    with pytest.raises(ValueError, match="different order"):
        check_teacher_student(teacher, student, "kl")
    check_teacher_student(teacher, tiny_bert(tokenizer), "kl")  # default names: nothing to compare


@pytest.mark.parametrize("loss_type", ["kl", "ce"])
def test_regression_needs_mse(tokenizer, loss_type):
    teacher, student = tiny_bert(tokenizer, num_labels=1), tiny_bert(tokenizer, num_labels=1)
    with pytest.raises(ValueError, match=f"kd_loss_type='{loss_type}'.*num_labels=1.*Use kd_loss_type='mse'"):
        check_teacher_student(teacher, student, loss_type)
    check_teacher_student(teacher, student, "mse")


def test_masked_lm_heads_are_not_label_checked(tokenizer):
    config = tiny_bert(tokenizer).config
    check_teacher_student(BertForMaskedLM(config), BertForMaskedLM(config), "kl")


def test_tokenizer_mismatch(tokenizer, shifted_tokenizer):
    assert tokenizer_mismatch(tiny_bert(tokenizer), tiny_bert(tokenizer, seed=1)) is None
    reason = tokenizer_mismatch(tiny_bert(shifted_tokenizer), tiny_bert(tokenizer))
    assert reason == "the teacher has vocabulary 37 (pad id 4), the student 33 (pad id 0)"
