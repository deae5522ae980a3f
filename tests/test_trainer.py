import copy

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import BertModel, TrainerCallback, TrainingArguments

from hf_distill import DistillationDataCollator, DistillationTrainer, DistillationTrainingArguments
from tests.tiny import StopAfter, one_optimizer_step, quiet_args, sentiment_dataset, tiny_bert


def make_trainer(tmp_path, tokenizer, teacher, student=None, collator=None, train_rows=64, **arg_overrides):
    student = student if student is not None else tiny_bert(tokenizer, seed=2)
    return DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=quiet_args(tmp_path / "out", **arg_overrides),
        train_dataset=sentiment_dataset(train_rows, seed=1),
        eval_dataset=sentiment_dataset(32, seed=2),
        data_collator=collator or DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        processing_class=tokenizer,
    )


def batch_of(trainer, rows):
    return trainer._prepare_inputs(trainer.data_collator(rows))


ROWS = [
    {"sentence": "good movie and great plot", "label": 1},
    {"sentence": "dull boring film", "label": 0},
    {"sentence": "the actor was bad but the scene was nice", "label": 1},
]


def test_loss_is_the_formula_on_a_batch(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, temperature=3.0, alpha=0.3)
    batch = batch_of(trainer, ROWS)
    loss = trainer.compute_loss(trainer.model, batch)
    model_inputs = {k: v for k, v in batch.items() if k != "labels"}
    z_s, z_t = trainer.model(**model_inputs).logits, trained_teacher(**model_inputs).logits
    kl = F.kl_div(F.log_softmax(z_s / 3.0, -1), F.softmax(z_t / 3.0, -1), reduction="batchmean") * 9.0
    expected = 0.7 * F.cross_entropy(z_s, batch["labels"]) + 0.3 * kl
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_unlabeled_examples_train_on_the_distillation_term_alone(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, temperature=2.0, alpha=0.3)
    unlabeled = batch_of(trainer, [{"sentence": row["sentence"]} for row in ROWS])
    assert "labels" not in unlabeled
    z_s, z_t = trainer.model(**unlabeled).logits, trained_teacher(**unlabeled).logits
    kl = F.kl_div(F.log_softmax(z_s / 2, -1), F.softmax(z_t / 2, -1), reduction="none").sum(-1) * 4.0
    assert trainer.compute_loss(trainer.model, unlabeled).item() == pytest.approx(kl.mean().item(), rel=1e-5)

    # Mixed: example 1 has no label (-100), so it contributes its KD term at full weight.
    mixed = batch_of(trainer, [ROWS[0], {"sentence": ROWS[1]["sentence"], "label": None}, ROWS[2]])
    assert mixed["labels"].tolist() == [1, -100, 1]
    ce = F.cross_entropy(z_s, torch.tensor([1, 0, 1]), reduction="none")
    expected = (0.7 * ce[0] + 0.3 * kl[0] + kl[1] + 0.7 * ce[2] + 0.3 * kl[2]) / 3
    assert trainer.compute_loss(trainer.model, mixed).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("loss_type", ["ce", "mse"])
def test_other_kd_loss_types(tmp_path, tokenizer, trained_teacher, loss_type):
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, alpha=1.0, temperature=2.0, kd_loss_type=loss_type)
    batch = batch_of(trainer, ROWS)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    z_s, z_t = trainer.model(**inputs).logits, trained_teacher(**inputs).logits
    if loss_type == "ce":
        expected = -(F.softmax(z_t / 2, -1) * F.log_softmax(z_s / 2, -1)).sum(-1).mean() * 4.0
    else:
        expected = (z_s - z_t).pow(2).sum(-1).mean()
    assert trainer.compute_loss(trainer.model, batch).item() == pytest.approx(expected.item(), rel=1e-5)


def test_regression_students_distil_with_mse(tmp_path, tokenizer):
    teacher, student = tiny_bert(tokenizer, num_labels=1, seed=5), tiny_bert(tokenizer, num_labels=1, seed=6)
    with pytest.raises(ValueError, match="Use kd_loss_type='mse'"):
        make_trainer(tmp_path, tokenizer, teacher, student=student)
    trainer = make_trainer(tmp_path, tokenizer, teacher, student=student, kd_loss_type="mse", alpha=0.5)
    batch = batch_of(trainer, [{"sentence": "good", "label": 4.0}, {"sentence": "bad", "label": 1.0}])
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    z_s, z_t = trainer.model(**inputs).logits, teacher(**inputs).logits
    expected = 0.5 * F.mse_loss(z_s.squeeze(-1), batch["labels"]) + 0.5 * (z_s - z_t).pow(2).sum(-1).mean()
    assert trainer.compute_loss(trainer.model, batch).item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_accumulation_equals_one_big_batch(tmp_path, tokenizer, trained_teacher):
    # 10 rows, a third of them unlabeled: one step of 10 vs micro-batches 4 + 4 + 2 accumulated. Per-micro-batch
    # means would weigh the last 2 rows double; the trainer normalises by the step's 10 examples instead.
    rows = sentiment_dataset(10, seed=3).to_list()
    for index in (1, 4, 5):
        rows[index]["label"] = None
    big, big_log = one_optimizer_step(tmp_path, tokenizer, trained_teacher, "big", 10, 1, rows)
    accumulated, accumulated_log = one_optimizer_step(tmp_path, tokenizer, trained_teacher, "acc", 4, 3, rows)
    initial = tiny_bert(tokenizer, seed=2).state_dict()
    assert not torch.allclose(big["classifier.weight"], initial["classifier.weight"])
    for name in big:
        torch.testing.assert_close(accumulated[name], big[name], rtol=1e-5, atol=1e-6, msg=name)
    for key in ("loss", "task_loss", "kd_loss"):
        assert accumulated_log[key] == pytest.approx(big_log[key], rel=1e-5), key


def test_teacher_is_frozen_on_the_students_device_and_never_saved(tmp_path, tokenizer, trained_teacher):
    before = copy.deepcopy(trained_teacher.state_dict())
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, max_steps=4, save_strategy="steps", save_steps=2)
    trainer.train()
    trainer.save_model(str(tmp_path / "final"))
    assert trainer.teacher is trained_teacher and not trained_teacher.training
    assert all(not p.requires_grad for p in trained_teacher.parameters())
    assert next(trained_teacher.parameters()).device == next(trainer.model.parameters()).device
    for name, value in trained_teacher.state_dict().items():
        torch.testing.assert_close(value, before[name])
    student_keys = set(trainer.model.state_dict())
    for folder in (tmp_path / "out" / "checkpoint-2", tmp_path / "out" / "checkpoint-4", tmp_path / "final"):
        saved = load_file(folder / "model.safetensors")
        assert set(saved) == student_keys, folder
        assert saved["bert.encoder.layer.0.attention.self.query.weight"].shape == (32, 32)
        assert "bert.encoder.layer.3.output.dense.weight" not in saved  # the 4-layer teacher's deepest layer


class FlipTeacherToTraining(TrainerCallback):
    def __init__(self):
        self.trainer = None

    def on_step_begin(self, args, state, control, **kwargs):
        self.trainer.teacher.train()


def test_teacher_never_runs_in_training_mode(tmp_path, tokenizer):
    teacher = tiny_bert(tokenizer, seed=9, dropout=0.5)  # dropout would make its targets random
    trainer = make_trainer(tmp_path, tokenizer, teacher, max_steps=3)
    flipper = FlipTeacherToTraining()
    flipper.trainer = trainer
    trainer.add_callback(flipper)
    trainer.train()
    assert not teacher.training
    batch = batch_of(trainer, ROWS)
    trainer.model.eval()
    first = trainer.compute_loss(trainer.model, batch)
    teacher.train()
    assert trainer.compute_loss(trainer.model, batch).item() == first.item()


def test_distillation_makes_the_student_agree_with_the_teacher(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, train_rows=320, num_train_epochs=3, alpha=1.0, learning_rate=3e-3
    )
    before = trainer.evaluate()["eval_kd_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_kd_loss"]
    assert before > 0.05
    assert after < 0.3 * before, (before, after)


def test_logs_and_metrics_carry_each_component(tmp_path, tokenizer, trained_teacher):
    def accuracy(prediction):
        return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}

    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, max_steps=4, logging_steps=2, alpha=0.25)
    trainer.compute_metrics = accuracy
    trainer.train()
    train_logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(train_logs) == 2
    for log in train_logs:
        assert log["loss"] == pytest.approx(0.75 * log["task_loss"] + 0.25 * log["kd_loss"], rel=1e-4)
    metrics = trainer.evaluate()
    assert {"eval_loss", "eval_task_loss", "eval_kd_loss", "eval_accuracy"} <= set(metrics)
    assert metrics["eval_loss"] == pytest.approx(0.75 * metrics["eval_task_loss"] + 0.25 * metrics["eval_kd_loss"])
    predictions = trainer.predict(sentiment_dataset(8, seed=4))
    assert predictions.predictions.shape == (8, 2)
    assert "test_kd_loss" in predictions.metrics


def test_plain_training_arguments_are_accepted(tmp_path, tokenizer, trained_teacher):
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True, learning_rate=2e-4, max_steps=2)
    trainer = DistillationTrainer(
        model=tiny_bert(tokenizer),
        args=args,
        teacher_model=trained_teacher,
        train_dataset=sentiment_dataset(16),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
    )
    assert isinstance(trainer.args, DistillationTrainingArguments)
    assert (trainer.args.learning_rate, trainer.args.max_steps, trainer.args.alpha) == (2e-4, 2, 0.5)
    trainer.train()


def test_different_tokenizers_need_teacher_inputs(tmp_path, tokenizer, shifted_tokenizer):
    teacher = tiny_bert(shifted_tokenizer, seed=8)
    trainer = make_trainer(tmp_path, tokenizer, teacher, max_steps=2)
    with pytest.raises(ValueError, match="different tokenizers .*vocabulary 37 .*no teacher_input_ids"):
        trainer.train()
    assert trainer.state.global_step == 0

    collator = DistillationDataCollator(tokenizer, shifted_tokenizer, text_fields=["sentence"])
    trainer = make_trainer(tmp_path, tokenizer, teacher, collator=collator, max_steps=2)
    batch = batch_of(trainer, ROWS)
    expected_teacher_logits = teacher(
        input_ids=batch["teacher_input_ids"], attention_mask=batch["teacher_attention_mask"]
    ).logits
    z_s = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    kl = F.kl_div(F.log_softmax(z_s / 2, -1), F.softmax(expected_teacher_logits / 2, -1), reduction="batchmean") * 4
    expected = 0.5 * F.cross_entropy(z_s, batch["labels"]) + 0.5 * kl
    assert trainer.compute_loss(trainer.model, batch).item() == pytest.approx(expected.item(), rel=1e-5)
    trainer.train()
    assert trainer.state.global_step == 2


def test_pretokenized_teacher_columns_survive_column_removal(tmp_path, tokenizer, shifted_tokenizer):
    from tests.tiny import tokenized

    train = tokenized(tokenized(sentiment_dataset(16), tokenizer), shifted_tokenizer, prefix="teacher_")
    trainer = DistillationTrainer(
        model=tiny_bert(tokenizer),
        teacher_model=tiny_bert(shifted_tokenizer, seed=8),
        args=quiet_args(tmp_path, max_steps=2),
        train_dataset=train,
        data_collator=DistillationDataCollator(tokenizer, shifted_tokenizer),
    )
    batch = next(iter(trainer.get_train_dataloader()))
    assert {"input_ids", "teacher_input_ids", "teacher_attention_mask", "labels"} <= set(batch)
    assert "sentence" not in batch
    trainer.train()


def test_missing_teacher_and_bad_teacher_fail_at_construction(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="needs a teacher"):
        DistillationTrainer(model=tiny_bert(tokenizer), args=quiet_args(tmp_path))
    with pytest.raises(ValueError, match="teacher predicts 3 labels"):
        DistillationTrainer(
            model=tiny_bert(tokenizer), teacher_model=tiny_bert(tokenizer, num_labels=3), args=quiet_args(tmp_path)
        )
    BertModel(tiny_bert(tokenizer).config).save_pretrained(tmp_path / "headless")
    with pytest.raises(ValueError, match="no trained ForSequenceClassification head"):
        DistillationTrainer(
            model=tiny_bert(tokenizer), teacher_model=str(tmp_path / "headless"), args=quiet_args(tmp_path)
        )


def test_teacher_from_a_path_in_bfloat16(tmp_path, tokenizer, trained_teacher):
    trained_teacher.save_pretrained(tmp_path / "teacher")
    trainer = make_trainer(tmp_path, tokenizer, str(tmp_path / "teacher"), max_steps=2, teacher_dtype="bfloat16")
    assert next(trainer.teacher.parameters()).dtype == torch.bfloat16
    assert type(trainer.teacher).__name__ == "BertForSequenceClassification"
    trainer.train()
    assert torch.isfinite(torch.tensor(trainer.state.log_history[-1]["train_loss"]))


def test_bf16_mixed_precision_trains(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, max_steps=3, bf16=True, logging_steps=1)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 3 and all(0 < loss < 10 for loss in losses)


def test_resume_from_checkpoint_continues_exactly(tmp_path, tokenizer, trained_teacher):
    settings = dict(max_steps=6, save_strategy="steps", save_steps=3, logging_steps=1)
    full = make_trainer(tmp_path / "a", tokenizer, trained_teacher, **settings)
    full.train()
    interrupted = make_trainer(tmp_path / "b", tokenizer, trained_teacher, **settings)
    interrupted.add_callback(StopAfter(3))  # the same run, killed after its step-3 checkpoint
    interrupted.train()
    assert interrupted.state.global_step == 3
    resumed = make_trainer(tmp_path / "b", tokenizer, trained_teacher, **settings)
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "out" / "checkpoint-3"))
    for name, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, msg=name)
    full_kd = [log["kd_loss"] for log in full.state.log_history if "kd_loss" in log]
    resumed_kd = [log["kd_loss"] for log in resumed.state.log_history if "kd_loss" in log]
    assert resumed_kd[-3:] == pytest.approx(full_kd[-3:], rel=1e-5)


def test_a_tokenizer_that_does_not_fit_a_model_is_refused_at_construction(tmp_path, tokenizer, shifted_tokenizer):
    wrong = DistillationDataCollator(shifted_tokenizer, teacher_tokenizer=shifted_tokenizer, text_fields=["sentence"])
    with pytest.raises(ValueError, match="The teacher.s tokenizer has token ids up to 36, but the teacher embeds "):
        make_trainer(
            tmp_path, shifted_tokenizer, tiny_bert(tokenizer), student=tiny_bert(shifted_tokenizer), collator=wrong
        )
    with pytest.raises(
        ValueError, match="The student.s tokenizer has token ids up to 36, but the student embeds only 33 ids"
    ):
        DistillationTrainer(
            model=tiny_bert(tokenizer),
            teacher_model=tiny_bert(shifted_tokenizer),
            args=quiet_args(tmp_path),
            processing_class=shifted_tokenizer,
            data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        )


def test_a_teacher_path_that_does_not_exist_is_named(tmp_path, tokenizer):
    missing = str(tmp_path / "no-such-teacher")
    with pytest.raises(ValueError, match=f"teacher_model='{missing}': the path does not exist"):
        DistillationTrainer(model=tiny_bert(tokenizer), teacher_model=missing, args=quiet_args(tmp_path))
