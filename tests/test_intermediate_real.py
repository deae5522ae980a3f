"""Intermediate terms and students on the real checkpoints: all-mpnet-base-v2 (12 x 768), all-MiniLM-L6-v2 (6 x 384).

Needs ``../shared/tools/get-models`` (directory in ``HF_DISTILL_MODELS``) and ``../shared/data/glue``; skipped
otherwise.
"""

import datasets
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from hf_distill import DistillationDataCollator, DistillationTrainer, shallow_student
from hf_distill.layers import AttentionCapture
from tests.real import MODELS, needs_checkpoints, needs_sst2, sst2_rows
from tests.tiny import quiet_args

pytestmark = [pytest.mark.slow, needs_checkpoints("mpnet-base", "minilm-l6"), needs_sst2("dev")]


def test_shallow_mpnet_student_round_trips_and_scores_match_attention(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(MODELS / "mpnet-base")
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_pretrained(MODELS / "mpnet-base", num_labels=2).eval()
    student = shallow_student(teacher, "every_other").eval()
    assert student.config.num_hidden_layers == 6
    batch = tokenizer([row["sentence"] for row in sst2_rows(4, "dev")], padding=True, return_tensors="pt")
    with torch.no_grad(), AttentionCapture(student, {"query": [6], "key": [6]}) as capture:
        outputs = student(**batch, output_attentions=True)
    probabilities = capture.scores(6).masked_fill(batch["attention_mask"][:, None, None, :] == 0, -1e9).softmax(-1)
    torch.testing.assert_close(probabilities, outputs.attentions[5], atol=1e-5, rtol=1e-4)
    student.save_pretrained(tmp_path / "student")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student").eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, outputs.logits)


def test_tinybert_terms_from_mpnet_teacher_into_minilm_student_with_projections(tmp_path):
    teacher_tokenizer = AutoTokenizer.from_pretrained(MODELS / "mpnet-base")
    student_tokenizer = AutoTokenizer.from_pretrained(MODELS / "minilm-l6")
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_pretrained(MODELS / "mpnet-base", num_labels=2)
    student = AutoModelForSequenceClassification.from_pretrained(MODELS / "minilm-l6", num_labels=2)
    collator = DistillationDataCollator(student_tokenizer, teacher_tokenizer, text_fields=["sentence"], max_length=64)
    trainer = DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=quiet_args(tmp_path, distill_preset="tinybert", distill_phases="joint", max_steps=3, logging_steps=1),
        train_dataset=datasets.Dataset.from_list(sst2_rows(24, "dev")),
        data_collator=collator,
    )
    assert [(t.student_layer, t.teacher_layer) for t in trainer.intermediate.terms if t.loss == "hidden_mse"] == [
        (1, 2), (2, 4), (3, 6), (4, 8), (5, 10), (6, 12)
    ]  # fmt: skip
    assert student.distill_projections["hidden_mse"].weight.shape == (768, 384)
    batch = trainer._prepare_inputs(collator(sst2_rows(8, "dev")))
    assert torch.equal(batch["teacher_attention_mask"], batch["attention_mask"])  # same word pieces, ids + 4
    before = student.distill_projections["hidden_mse"].weight.clone()
    trainer.train()
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(logs) == 3 and all(log["hidden_mse_loss"] > 0 and log["attention_mse_loss"] > 0 for log in logs)
    assert not torch.equal(student.distill_projections["hidden_mse"].weight, before)
