import copy

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification

from hf_distill import DistillationDataCollator, DistillationTrainer
from hf_distill.methods.metadistil.metadistil_config import MetaDistilTrainingArguments
from hf_distill.methods.metadistil.metadistil_trainer import MetaDistilTrainer, distillation_objective, split_quiz
from tests.tiny import quiet_args, sentiment_dataset, tiny_bert


def meta_args(tmp_path, **overrides):
    base = quiet_args(tmp_path / "out")
    return MetaDistilTrainingArguments.from_training_arguments(base, **overrides)


def make_trainer(tmp_path, tokenizer, teacher, student, quiz_rows=8, train_rows=64, **overrides):
    return MetaDistilTrainer(
        model=student,
        teacher_model=teacher,
        args=meta_args(tmp_path, **overrides),
        train_dataset=sentiment_dataset(train_rows, seed=1),
        quiz_dataset=sentiment_dataset(quiz_rows, seed=9) if quiz_rows else None,
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        processing_class=tokenizer,
    )


ROWS = [
    {"sentence": "good movie and great plot", "label": 1},
    {"sentence": "dull boring film", "label": 0},
    {"sentence": "the actor was bad but the scene was nice", "label": 1},
    {"sentence": "a lovely warm story", "label": None},
]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"teacher_learning_rate": -1e-5}, "teacher_learning_rate=-1e-05"),
        ({"teacher_optimizer": "lamb"}, "teacher_optimizer='lamb'"),
        ({"quiz_size": 1.5}, "quiz_size=1.5"),
        ({"quiz_size": 0.0}, "quiz_size=0.0"),
        ({"quiz_batch_size": 0}, "quiz_batch_size=0"),
        ({"pilot_learning_rate": -1.0}, "pilot_learning_rate=-1.0"),
        ({"gradient_accumulation_steps": 2}, "gradient_accumulation_steps=2"),
        ({"teacher_max_grad_norm": -1.0}, "teacher_max_grad_norm=-1.0"),
        ({"distill_preset": "tinybert"}, "distill_preset='tinybert'"),
    ],
)
def test_bad_settings_fail_before_training(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        meta_args(tmp_path, **overrides)


def test_quiz_is_held_out_of_the_training_data(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2), quiz_rows=0, quiz_size=0.25
    )
    assert len(trainer.train_dataset) == 48 and len(trainer.quiz_dataset) == 16
    everything = sorted(list(trainer.train_dataset["sentence"]) + list(trainer.quiz_dataset["sentence"]))
    assert everything == sorted(list(sentiment_dataset(64, seed=1)["sentence"]))
    # A row count works as well, and a plain torch dataset is split too.
    train, quiz = split_quiz(list(range(10)), quiz_size=3, seed=0)
    assert len(quiz) == 3 and sorted(list(train) + list(quiz)) == list(range(10))
    with pytest.raises(ValueError, match="quiz_size=64"):
        split_quiz(sentiment_dataset(64), quiz_size=64)


def test_objective_is_the_trainer_loss(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2), alpha=0.3)
    batch = trainer._prepare_inputs(trainer.data_collator(ROWS))
    assert batch["labels"].tolist() == [1, 0, 1, -100]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    z_s, z_t = trainer.model(**inputs).logits, trained_teacher(**inputs).logits
    value = distillation_objective(z_s, z_t, batch["labels"], alpha=0.3, temperature=2.0, kd_loss_type="kl")
    kl = F.kl_div(F.log_softmax(z_s / 2, -1), F.softmax(z_t / 2, -1), reduction="none").sum(-1) * 4.0
    ce = F.cross_entropy(z_s, batch["labels"], reduction="none", ignore_index=-100)
    expected = (0.7 * ce[:3] + 0.3 * kl[:3]).sum() / 4 + kl[3] / 4
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    assert value.item() == pytest.approx(trainer.compute_loss(trainer.model, batch).item(), rel=1e-5)
    # The teacher is reachable from the objective only when asked.
    z_t = z_t.detach().requires_grad_(True)
    kept = distillation_objective(z_s, z_t, None, alpha=0.3, temperature=2.0, kd_loss_type="kl", detach_teacher=False)
    assert kept.requires_grad and torch.autograd.grad(kept, z_t)[0].abs().sum() > 0


def _quiz_loss_after_pilot(student, teacher, batch, quiz, pilot_lr, alpha, temperature):
    """Reference, written independently of hf_distill: one SGD step on a copy of the student, then the quiz CE."""
    pilot = copy.deepcopy(student).train()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    z_s, z_t = pilot(**inputs).logits, teacher(**inputs).logits
    kl = F.kl_div(F.log_softmax(z_s / temperature, -1), F.softmax(z_t / temperature, -1), reduction="none").sum(-1)
    ce = F.cross_entropy(z_s, batch["labels"], reduction="none")
    ((1 - alpha) * ce + alpha * temperature**2 * kl).mean().backward()
    with torch.no_grad():
        for p in pilot.parameters():
            if p.grad is not None:
                p -= pilot_lr * p.grad
    pilot.eval()
    quiz_inputs = {k: v for k, v in quiz.items() if k != "labels"}
    with torch.no_grad():
        return F.cross_entropy(pilot(**quiz_inputs).logits, quiz["labels"]).item()


def test_teacher_update_is_the_finite_difference_meta_gradient(tmp_path, tokenizer):
    torch.manual_seed(0)
    teacher = tiny_bert(tokenizer, seed=11, layers=1, hidden=16, heads=2).double()
    student = tiny_bert(tokenizer, seed=12, layers=1, hidden=16, heads=2).double()
    teacher_lr, pilot_lr = 0.1, 2.0
    trainer = make_trainer(
        tmp_path,
        tokenizer,
        teacher,
        student,
        quiz_rows=6,
        quiz_batch_size=6,
        teacher_optimizer="sgd",
        teacher_learning_rate=teacher_lr,
        teacher_max_grad_norm=None,
        pilot_learning_rate=pilot_lr,
        alpha=0.5,
        temperature=2.0,
    )
    batch = trainer._prepare_inputs(trainer.data_collator(ROWS[:3]))
    quiz = trainer._prepare_inputs(trainer.data_collator(list(trainer.quiz_dataset)))
    before = {name: p.detach().clone() for name, p in teacher.named_parameters()}
    student_before = copy.deepcopy(student.state_dict())

    quiz_value = trainer.meta_step(trainer.model, batch)

    assert all(torch.equal(v, student.state_dict()[k]) for k, v in student_before.items()), "student must not move"
    update = {name: p.detach() - before[name] for name, p in teacher.named_parameters()}
    meta_grad = {name: -u / teacher_lr for name, u in update.items()}
    norm = torch.sqrt(sum(g.pow(2).sum() for g in meta_grad.values()))
    assert norm > 1e-4, "the quiz loss must depend on the teacher through the pilot step"

    frozen = copy.deepcopy(teacher)
    frozen.load_state_dict(before, strict=False)

    def f(direction, eps):
        shifted = copy.deepcopy(frozen)
        with torch.no_grad():
            for name, p in shifted.named_parameters():
                p += eps * direction[name]
        return _quiz_loss_after_pilot(student, shifted, batch, quiz, pilot_lr, 0.5, 2.0)

    assert quiz_value.item() == pytest.approx(f({n: torch.zeros_like(p) for n, p in before.items()}, 0.0), rel=1e-5)
    generator = torch.Generator().manual_seed(0)
    directions = [{name: g / norm for name, g in meta_grad.items()}]
    for _ in range(2):
        random = {n: torch.randn(p.shape, generator=generator, dtype=p.dtype) for n, p in before.items()}
        scale = torch.sqrt(sum(r.pow(2).sum() for r in random.values()))
        directions.append({n: r / scale for n, r in random.items()})
    # The classifier's weight matrix, entry by entry.
    weight = "classifier.weight"
    for index in range(before[weight].numel()):
        one_hot = {n: torch.zeros_like(p) for n, p in before.items()}
        one_hot[weight].view(-1)[index] = 1.0
        directions.append(one_hot)
    eps = 1e-4
    for direction in directions:
        finite_difference = (f(direction, eps) - f(direction, -eps)) / (2 * eps)
        analytic = sum((meta_grad[n] * direction[n]).sum() for n in before).item()
        assert analytic == pytest.approx(finite_difference, abs=1e-3 * norm.item() + 1e-7)


def test_zero_teacher_learning_rate_is_plain_kd(tmp_path, tokenizer, trained_teacher):
    # Student dropout on: the pilot must not shift the random masks the real step sees.
    def student():
        return tiny_bert(tokenizer, seed=2, dropout=0.1)

    common = dict(max_steps=2, alpha=0.5, temperature=2.0, logging_steps=1)
    teacher_state = copy.deepcopy(trained_teacher.state_dict())
    plain = DistillationTrainer(
        model=student(),
        teacher_model=copy.deepcopy(trained_teacher),
        args=quiet_args(tmp_path / "plain", **common),
        train_dataset=sentiment_dataset(64, seed=1),
        data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
    )
    plain.train()
    meta = make_trainer(tmp_path, tokenizer, trained_teacher, student(), teacher_learning_rate=0.0, **common)
    meta.train()
    for (name, p), q in zip(plain.model.named_parameters(), meta.model.parameters()):
        torch.testing.assert_close(q, p, rtol=0, atol=1e-7, msg=name)
    assert all(torch.equal(v, trained_teacher.state_dict()[k]) for k, v in teacher_state.items())
    assert meta.state.log_history[-2]["quiz_loss"] > 0

    # With a learning rate the teacher moves and so does the student's trajectory: the comparison above can fail.
    moving = make_trainer(tmp_path, tokenizer, copy.deepcopy(trained_teacher), student(), teacher_learning_rate=1e-3)
    moving.args.max_steps = 2
    moving.train()
    assert any(not torch.equal(v, moving.teacher.state_dict()[k]) for k, v in teacher_state.items())
    differences = [(p - q).abs().max().item() for p, q in zip(plain.model.parameters(), moving.model.parameters())]
    assert max(differences) > 1e-6


def test_updated_teacher_is_saved_and_restored_on_resume(tmp_path, tokenizer, trained_teacher):
    def run(output, resume=None, max_steps=4):
        trainer = MetaDistilTrainer(
            model=tiny_bert(tokenizer, seed=2),
            teacher_model=copy.deepcopy(trained_teacher),
            args=MetaDistilTrainingArguments.from_training_arguments(
                quiet_args(tmp_path / output),
                max_steps=max_steps,
                save_strategy="steps",
                save_steps=2,
                teacher_learning_rate=1e-3,
                quiz_batch_size=8,
            ),
            train_dataset=sentiment_dataset(64, seed=1),
            quiz_dataset=sentiment_dataset(8, seed=9),
            data_collator=DistillationDataCollator(tokenizer, text_fields=["sentence"]),
        )
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    full = run("full")
    trainer_dir = tmp_path / "full"
    trainer_dir_teacher = trainer_dir / "checkpoint-4" / "teacher"
    saved = AutoModelForSequenceClassification.from_pretrained(trainer_dir_teacher)
    for name, p in saved.named_parameters():
        torch.testing.assert_close(p, full.teacher.get_parameter(name), msg=name)
    assert any(not torch.equal(p, trained_teacher.get_parameter(n)) for n, p in saved.named_parameters())
    assert (trainer_dir / "checkpoint-2" / "teacher_optimizer.pt").is_file()
    full.save_model()
    assert (trainer_dir / "teacher" / "config.json").is_file()

    resumed = run("full", resume=str(trainer_dir / "checkpoint-2"))
    for name, p in full.teacher.named_parameters():
        torch.testing.assert_close(resumed.teacher.get_parameter(name), p, rtol=1e-5, atol=1e-6, msg=name)
    for name, p in full.model.named_parameters():
        torch.testing.assert_close(resumed.model.get_parameter(name), p, rtol=1e-5, atol=1e-6, msg=name)


def test_quiz_and_teacher_inputs_are_checked(tmp_path, tokenizer, trained_teacher):
    unlabeled_quiz = sentiment_dataset(8, seed=9).remove_columns("label")
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2), max_steps=1)
    trainer.quiz_dataset = unlabeled_quiz
    with pytest.raises(ValueError, match="quiz batch has no labels"):
        trainer.train()
    trainer = make_trainer(tmp_path, tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2))
    batch = trainer._prepare_inputs(trainer.data_collator(ROWS))
    batch["teacher_logits"] = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="teacher_logits column"):
        trainer.meta_step(trainer.model, batch)
    with pytest.raises(ValueError, match="needs a live teacher_model"):
        MetaDistilTrainer(model=tiny_bert(tokenizer, seed=2), args=meta_args(tmp_path), train_dataset=ROWS)
