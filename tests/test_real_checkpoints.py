"""Distil the real all-mpnet-base-v2 teacher into the real all-MiniLM-L6-v2 student (different tokenizers).

Needs the checkpoints from ``../shared/tools/get-models`` (directory in ``HF_DISTILL_MODELS``, default
``~/.cache/hf-distill-models``) and the GLUE TSVs in ``../shared/data/glue``; skipped when either is missing.
"""

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
from transformers.models.mpnet.modeling_mpnet import MPNetForSequenceClassification

from hf_distill import DistillationDataCollator, DistillationTrainer
from tests.real import MODELS, needs_checkpoints, needs_sst2, sst2_rows
from tests.tiny import quiet_args

pytestmark = [pytest.mark.slow, needs_checkpoints("mpnet-base", "minilm-l6"), needs_sst2("train")]


class RecordKdLoss(TrainerCallback):
    def __init__(self):
        self.kd_losses = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "kd_loss" in logs:
            self.kd_losses.append(logs["kd_loss"])


def test_mpnet_teacher_distils_into_minilm_student_through_two_tokenizers(tmp_path):
    teacher_tokenizer = AutoTokenizer.from_pretrained(MODELS / "mpnet-base")
    student_tokenizer = AutoTokenizer.from_pretrained(MODELS / "minilm-l6")
    torch.manual_seed(0)
    # The pre-trained teacher has no task head; a random one, sharpened, gives a fixed target distribution to match.
    teacher = AutoModelForSequenceClassification.from_pretrained(MODELS / "mpnet-base", num_labels=2)
    with torch.no_grad():
        teacher.classifier.out_proj.weight.mul_(100)
    student = AutoModelForSequenceClassification.from_pretrained(MODELS / "minilm-l6", num_labels=2)
    assert isinstance(teacher, MPNetForSequenceClassification)

    rows = sst2_rows(8, "train")
    collator = DistillationDataCollator(
        student_tokenizer, teacher_tokenizer=teacher_tokenizer, text_fields=["sentence"], max_length=64
    )
    batch = collator(rows)
    # The real tokenizers: same word pieces, teacher ids shifted by 4, their own pad ids.
    words = batch["input_ids"][0][1 : batch["attention_mask"][0].sum() - 1]
    teacher_words = batch["teacher_input_ids"][0][1 : batch["teacher_attention_mask"][0].sum() - 1]
    assert torch.equal(teacher_words, words + 4)

    record = RecordKdLoss()
    trainer = DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=quiet_args(
            tmp_path,
            per_device_train_batch_size=8,
            max_steps=6,
            logging_steps=1,
            learning_rate=2e-4,
            lr_scheduler_type="constant",
            alpha=1.0,
            temperature=2.0,
        ),
        train_dataset=rows,
        data_collator=collator,
        callbacks=[record],
    )
    trainer.train()
    assert not trainer.teacher.training
    assert all(p.grad is None for p in trainer.teacher.parameters())
    assert len(record.kd_losses) == 6
    assert record.kd_losses[-1] < 0.5 * record.kd_losses[0], record.kd_losses
