"""The teacher's eval logits are computed once and reused: later evaluations run no teacher forward and report the
same eval_kd_loss; other data, a changed teacher or a zero budget run it again."""

import pytest
import torch

from hf_distill import DistillationDataCollator, DistillationTrainer, DistillationTrainingArguments
from hf_distill.eval_teacher import TeacherEvalLogits, batch_key
from tests.tiny import quiet_args, sentiment_dataset, tiny_bert

EVAL_ROWS, EVAL_BATCH = 40, 16  # 3 eval batches


class ForwardCounter:
    def __init__(self, module):
        self.calls = 0
        module.register_forward_hook(self.hook)

    def hook(self, *_):
        self.calls += 1


def make_trainer(tmp_path, tokenizer, teacher, **overrides):
    return DistillationTrainer(
        model=tiny_bert(tokenizer, seed=2),
        teacher_model=teacher,
        args=quiet_args(tmp_path / "out", per_device_eval_batch_size=EVAL_BATCH, **overrides),
        train_dataset=sentiment_dataset(16, seed=1),
        eval_dataset=sentiment_dataset(EVAL_ROWS, seed=2),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        processing_class=tokenizer,
    )


def test_second_evaluation_runs_no_teacher_and_reports_the_same_kd_loss(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher)
    teacher = ForwardCounter(trainer.teacher)
    first = trainer.evaluate()
    assert teacher.calls == 3
    second = trainer.evaluate()
    assert teacher.calls == 3  # every batch's logits reused
    assert second["eval_kd_loss"] == first["eval_kd_loss"] and second["eval_loss"] == first["eval_loss"]

    running = make_trainer(tmp_path, tokenizer, trained_teacher, eval_teacher_cache_mb=0)
    counted = ForwardCounter(running.teacher)
    for _ in range(2):
        assert running.evaluate()["eval_kd_loss"] == pytest.approx(first["eval_kd_loss"], rel=1e-6)
    assert counted.calls == 6  # a zero budget runs the teacher at every evaluation


def test_other_eval_data_or_a_changed_teacher_run_it_again(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher)
    teacher = ForwardCounter(trainer.teacher)
    first = trainer.evaluate()["eval_kd_loss"]
    other = sentiment_dataset(EVAL_ROWS, seed=5)
    trainer.evaluate(eval_dataset=other)
    assert teacher.calls == 6
    trainer.evaluate(eval_dataset=other)
    trainer.evaluate()
    assert teacher.calls == 6  # both datasets' logits kept
    with torch.no_grad():
        trainer.teacher.classifier.bias.add_(torch.tensor([1.0, 0.0]))  # new weights written in place
    changed = trainer.evaluate()["eval_kd_loss"]
    assert teacher.calls == 9 and changed != pytest.approx(first)


def test_training_always_runs_the_teacher(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, num_train_epochs=2)
    teacher = ForwardCounter(trainer.teacher)
    trainer.train()
    assert teacher.calls == 4 and len(trainer._eval_teacher_logits) == 0  # 16 rows, batch 8, 2 epochs


def test_budget_stores_what_fits_and_keys_by_content():
    memo = TeacherEvalLogits(budget_mb=2 * 4 * 3 / 2**20)  # room for two [1, 3] float32 logits
    teacher = torch.nn.Linear(2, 3)
    calls = []

    def compute(x):
        calls.append(x)
        return teacher(x)

    batches = [torch.tensor([[float(i), 1.0]]) for i in range(3)]
    for _ in range(2):
        for x in batches:
            torch.testing.assert_close(memo.get(teacher, {"x": x}, lambda x=x: compute(x)), teacher(x))
    assert len(calls) == 4 and len(memo) == 2 and memo.used_bytes == 24  # the third batch ran both times
    assert batch_key({"x": batches[0]}) == batch_key({"x": batches[0].clone()})
    assert batch_key({"x": batches[0]}) != batch_key({"x": batches[0].double()})
    with pytest.raises(ValueError, match="eval_teacher_cache_mb=-1 must be >= 0"):
        DistillationTrainingArguments(output_dir="out", eval_teacher_cache_mb=-1)
