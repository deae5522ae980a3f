"""Gradient transfer (the input_gradient term, preset "ebbt") on the DistillationTrainer: the formula on a batch
computed by hand, the noise, gradient accumulation, resume, every architecture, and the refusals."""

import copy

import pytest
import torch
import torch.nn.functional as F
from transformers import BertForSequenceClassification

from hf_distill import DistillationDataCollator, DistillationTrainer, DistillationTrainingArguments
from hf_distill.intermediate import embedding_noise
from hf_distill.terms import EBBT_NOISE, EBBT_WEIGHT, IntermediateTerm
from tests.tiny import (
    ARCHITECTURES,
    StopAfter,
    make_tokenizer,
    one_optimizer_step,
    quiet_args,
    sentiment_dataset,
    tiny_bert,
    tiny_encoder,
)

ROWS = [
    {"sentence": "good movie and great plot", "label": 1},
    {"sentence": "dull boring film", "label": 0},
    {"sentence": "the actor was bad but the scene was nice", "label": 1},
]


def confident_teacher(tokenizer, num_labels=2, seed=11):
    teacher = tiny_bert(tokenizer, num_labels=num_labels, seed=seed, layers=3)
    with torch.no_grad():
        teacher.classifier.weight.mul_(30)  # peaked predictions, so the teacher's class is not a coin toss
    return teacher


def make_trainer(tmp_path, tokenizer, teacher, student, collator=None, train_rows=48, train_dataset=None, **overrides):
    return DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=quiet_args(tmp_path / "out", **overrides),
        train_dataset=train_dataset if train_dataset is not None else sentiment_dataset(train_rows, seed=1),
        eval_dataset=sentiment_dataset(16, seed=2),
        data_collator=collator or DistillationDataCollator(tokenizer, text_fields=["sentence"]),
    )


def batch_of(trainer, rows=ROWS):
    return trainer._prepare_inputs(trainer.data_collator(rows))


def gradient_by_hand(model, inputs, eps, sigma, classes, temperature, create_graph=False):
    """``d f / d E~``: ``E~ = E + sigma * rms(E) * eps`` fed to the model as ``inputs_embeds`` (BERT adds position
    and token-type embeddings to them, as it does to its own lookup)."""
    mask = inputs["attention_mask"]
    embeddings = model.get_input_embeddings()(inputs["input_ids"])
    real = mask[..., None].float()
    rms = ((embeddings.detach() ** 2 * real).sum((1, 2)) / (real.sum((1, 2)) * embeddings.shape[-1])).sqrt()
    perturbed = embeddings + sigma * rms[:, None, None] * eps
    if not perturbed.requires_grad:
        perturbed.requires_grad_(True)
    logits = model(inputs_embeds=perturbed, attention_mask=mask, token_type_ids=inputs["token_type_ids"]).logits
    if logits.shape[-1] == 1:
        target = logits[:, 0]
    else:
        target = F.log_softmax(logits / temperature, -1)[torch.arange(len(classes)), classes]
    return torch.autograd.grad(target.sum(), perturbed, create_graph=create_graph)[0]


def matching_by_hand(g_s, g_t, mask):
    """Per example: unit-norm gradient matrices over the real tokens (or per-token norms when widths differ),
    then the squared distance."""
    values = []
    for b in range(mask.shape[0]):
        real = mask[b].bool()
        s, t = g_s[b][real], g_t[b][real]
        if s.shape[-1] != t.shape[-1]:
            s, t = s.norm(dim=-1), t.norm(dim=-1)
        values.append(((s / s.norm()) - (t / t.norm())).pow(2).sum())
    return torch.stack(values)


@pytest.mark.parametrize(("num_labels", "student_width"), [(2, 32), (2, 16), (1, 32)])
def test_loss_and_its_gradient_are_the_formula_on_a_batch(tmp_path, tokenizer, num_labels, student_width):
    """(1 - alpha) CE + alpha KD + beta L_grad, L_grad from gradients computed by hand at the perturbed embeddings;
    the student's weight gradients equal those of the by-hand objective (the double backward)."""
    teacher = confident_teacher(tokenizer, num_labels)
    with torch.no_grad():  # at random init [CLS] takes nearly all the gradient; a 100x larger [CLS] embedding
        teacher.bert.embeddings.word_embeddings.weight[tokenizer.cls_token_id].mul_(100)  # (LayerNorm) gets less
    student = tiny_bert(tokenizer, num_labels=num_labels, seed=2, hidden=student_width)
    beta, sigma, temperature, alpha = 0.7, 0.3, 2.0, 0.4
    terms = [{"loss": "input_gradient", "weight": beta, "noise": sigma}]
    kd = "mse" if num_labels == 1 else "kl"
    trainer = make_trainer(
        tmp_path, tokenizer, teacher, student, intermediate_terms=terms, alpha=alpha, temperature=temperature,
        kd_loss_type=kd,
    )  # fmt: skip
    rows = [dict(row, label=float(row["label"]) * 3) for row in ROWS] if num_labels == 1 else ROWS
    batch = batch_of(trainer, rows)
    student.train()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    trainer_grads = {name: p.grad.clone() for name, p in student.named_parameters() if p.grad is not None}
    assert all(p.grad is None for p in teacher.parameters())

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    mask = inputs["attention_mask"]
    by_hand = copy.deepcopy(student)
    by_hand.set_attn_implementation("eager")  # twice differentiable, independently of the trainer's kernel choice
    z_s = by_hand(**inputs).logits
    with torch.no_grad():
        z_t = teacher(**inputs).logits
    classes = z_t.argmax(-1)
    noise = embedding_noise(inputs["input_ids"], mask, (student_width, 32), seed=0, step=0)
    g_t = gradient_by_hand(teacher, inputs, noise[32], sigma, classes, temperature)
    g_s = gradient_by_hand(by_hand, inputs, noise[student_width], sigma, classes, temperature, create_graph=True)
    if num_labels == 1:
        task = F.mse_loss(z_s[:, 0], batch["labels"])
        distill = (z_s - z_t).pow(2).sum(-1).mean()
    else:
        task = F.cross_entropy(z_s, batch["labels"])
        distill = F.kl_div(F.log_softmax(z_s / 2, -1), F.softmax(z_t / 2, -1), reduction="batchmean") * 4
    matching = matching_by_hand(g_s, g_t, mask)
    expected = (1 - alpha) * task + alpha * distill + beta * matching.mean()
    assert matching.min() > 1e-3  # the two models' gradients do differ
    logged = trainer._loss_meter.pop("train", trainer.accelerator)["input_gradient_loss"]
    assert logged == pytest.approx(beta * matching.mean().item(), rel=1e-4)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    expected.backward()
    for name, p in by_hand.named_parameters():
        torch.testing.assert_close(trainer_grads[name], p.grad, rtol=1e-4, atol=1e-7, msg=name)


def test_the_noise_depends_on_the_example_and_the_step_only():
    ids = torch.tensor([[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]])
    other = torch.tensor([[2, 7, 3, 0], [2, 9, 9, 3]])  # example 2 of `ids`, first and with less padding
    mask, other_mask = ids.ne(0).long(), other.ne(0).long()
    noise = embedding_noise(ids, mask, (4,), seed=0, step=3)[4]
    assert noise.shape == (2, 6, 4)
    assert torch.equal(embedding_noise(other, other_mask, (4,), seed=0, step=3)[4][0, :3], noise[1, :3])
    assert noise[0, 4:].abs().sum() == 0 and noise[1, 3:].abs().sum() == 0  # none on padding
    for changed in (dict(seed=0, step=4), dict(seed=1, step=3)):
        assert not torch.allclose(embedding_noise(ids, mask, (4,), **changed)[4][:, :3], noise[:, :3])
    both = embedding_noise(ids, mask, (4, 6), seed=0, step=3)
    assert torch.equal(both[4], noise) and both[6].shape == (2, 6, 6)
    many = embedding_noise(torch.arange(1, 201).reshape(2, 100), torch.ones(2, 100), (64,), 0, 0)[64]
    assert abs(many.mean().item()) < 0.03 and abs(many.std().item() - 1) < 0.03


def test_gradient_accumulation_equals_one_big_batch(tmp_path, tokenizer):
    """2 x 5 rows accumulated against one batch of 10 (padded to other lengths): same noise per example, same step."""
    teacher = confident_teacher(tokenizer)
    rows = sentiment_dataset(10, seed=3).to_list()
    big, big_log = one_optimizer_step(tmp_path, tokenizer, teacher, "big", 10, 1, rows, distill_preset="ebbt")
    accumulated, accumulated_log = one_optimizer_step(
        tmp_path, tokenizer, teacher, "acc", 5, 2, rows, distill_preset="ebbt"
    )
    initial = tiny_bert(tokenizer, seed=2).state_dict()
    assert not torch.allclose(
        big["bert.embeddings.word_embeddings.weight"], initial["bert.embeddings.word_embeddings.weight"]
    )
    for name in big:
        torch.testing.assert_close(accumulated[name], big[name], rtol=1e-5, atol=1e-6, msg=name)
    for key in ("loss", "task_loss", "kd_loss", "input_gradient_loss"):
        assert accumulated_log[key] == pytest.approx(big_log[key], rel=1e-5), key


def test_resume_from_checkpoint_continues_exactly(tmp_path, tokenizer):
    teacher = confident_teacher(tokenizer)
    settings = dict(max_steps=6, save_strategy="steps", save_steps=3, logging_steps=1, distill_preset="ebbt")
    full = make_trainer(tmp_path / "a", tokenizer, teacher, tiny_bert(tokenizer, seed=2), **settings)
    full.train()
    interrupted = make_trainer(tmp_path / "b", tokenizer, teacher, tiny_bert(tokenizer, seed=2), **settings)
    interrupted.add_callback(StopAfter(3))
    interrupted.train()
    resumed = make_trainer(tmp_path / "b", tokenizer, teacher, tiny_bert(tokenizer, seed=7), **settings)
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "out" / "checkpoint-3"))
    for name, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, msg=name)
    full_term = [log["input_gradient_loss"] for log in full.state.log_history if "loss" in log]
    resumed_term = [log["input_gradient_loss"] for log in resumed.state.log_history if "loss" in log]
    assert resumed_term[-3:] == pytest.approx(full_term[-3:], rel=1e-5)


def encoder_tokenizer(arch):
    tokenizer = make_tokenizer()
    if arch != "bert":  # their forward takes no token_type_ids
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
    return tokenizer


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_the_term_trains_every_architecture_and_leaves_the_teacher_alone(tmp_path, arch):
    tokenizer = encoder_tokenizer(arch)
    teacher = tiny_encoder(arch, vocab_size=len(tokenizer), layers=3, seed=5)
    student = tiny_encoder(arch, vocab_size=len(tokenizer), layers=2, seed=6)
    before = copy.deepcopy(teacher.state_dict())
    trainer = make_trainer(
        tmp_path, tokenizer, teacher, student, train_rows=96, distill_preset="ebbt", max_steps=24, logging_steps=1,
        learning_rate=2e-3, per_device_train_batch_size=8,
    )  # fmt: skip
    trainer.train()
    term = [log["input_gradient_loss"] for log in trainer.state.log_history if "input_gradient_loss" in log]
    assert len(term) == 24 and all(torch.isfinite(torch.tensor(term)))
    assert sum(term[-6:]) / 6 < 0.5 * sum(term[:6]) / 6, term
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(p.grad is None for p in teacher.parameters()) and not teacher.training
    metrics = trainer.evaluate()
    assert metrics["eval_input_gradient_loss"] == pytest.approx(trainer.evaluate()["eval_input_gradient_loss"])


def test_evaluation_reports_the_term_and_predictions_stay_plain(tmp_path, tokenizer):
    trainer = make_trainer(
        tmp_path, tokenizer, confident_teacher(tokenizer), tiny_bert(tokenizer, seed=2), distill_preset="ebbt"
    )
    metrics = trainer.evaluate()
    assert 0 < metrics["eval_input_gradient_loss"] <= 4 * EBBT_WEIGHT  # logged with its weight beta, as every term
    assert metrics["eval_loss"] == pytest.approx(
        0.5 * metrics["eval_task_loss"] + 0.5 * metrics["eval_kd_loss"] + metrics["eval_input_gradient_loss"], rel=1e-5
    )
    assert trainer.predict(sentiment_dataset(8, seed=4)).predictions.shape == (8, 2)


def test_ebbt_preset_and_term_settings(tmp_path):
    args = quiet_args(tmp_path, distill_preset="ebbt")
    assert args.intermediate_term_list() == [IntermediateTerm("input_gradient", weight=EBBT_WEIGHT, noise=EBBT_NOISE)]
    assert args.distill_phases == "joint"
    custom = quiet_args(tmp_path, distill_preset="ebbt", intermediate_terms='[{"loss": "input_gradient", "noise": 0}]')
    assert custom.intermediate_term_list() == [IntermediateTerm("input_gradient")]
    assert IntermediateTerm.from_dict({"loss": "input_gradient", "weight": 2, "noise": 0.5}).noise == 0.5


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ({"loss": "input_gradient", "noise": -0.1}, r"noise=-0.1.*must be a number >= 0"),
        ({"loss": "input_gradient", "noise": "a lot"}, r"noise='a lot'.*must be a number >= 0"),
        ({"loss": "hidden_mse", "noise": 0.1}, r"noise=0.1 is only for the input_gradient term"),
        ({"loss": "input_gradient", "student_layer": 1, "teacher_layer": 2}, r"remove student_layer/teacher_layer"),
        ({"loss": "input_gradient", "projection": True}, r"cannot use a projection"),
    ],
)
def test_bad_term_settings_are_refused(tmp_path, term, message):
    with pytest.raises(ValueError, match=message):
        DistillationTrainingArguments(output_dir=str(tmp_path), intermediate_terms=[term])


class NoEmbeddingsBert(BertForSequenceClassification):
    def get_input_embeddings(self):
        raise NotImplementedError


def test_students_and_data_the_term_cannot_use_fail_at_construction(tmp_path, tokenizer, shifted_tokenizer):
    teacher = confident_teacher(tokenizer)
    with pytest.raises(ValueError, match=r"NoEmbeddingsBert has no word-embedding lookup.*get_input_embeddings"):
        make_trainer(
            tmp_path, tokenizer, teacher, NoEmbeddingsBert(tiny_bert(tokenizer).config), distill_preset="ebbt"
        )
    shifted_teacher = confident_teacher(shifted_tokenizer)
    dual = DistillationDataCollator(tokenizer, shifted_tokenizer, text_fields=["sentence"])
    with pytest.raises(ValueError, match=r"same tokens \(one tokenizer\), but the teacher has vocabulary 37"):
        make_trainer(tmp_path, tokenizer, shifted_teacher, tiny_bert(tokenizer), dual, distill_preset="ebbt")
    same_vocabulary = DistillationDataCollator(tokenizer, tokenizer, text_fields=["sentence"])
    with pytest.raises(ValueError, match=r"the data collator tokenizes the teacher's inputs with its own teacher_"):
        make_trainer(tmp_path, tokenizer, teacher, tiny_bert(tokenizer), same_vocabulary, distill_preset="ebbt")
    from tests.tiny import tokenized

    pretokenized = tokenized(tokenized(sentiment_dataset(16), tokenizer), tokenizer, prefix="teacher_")
    with pytest.raises(ValueError, match=r"the training data has its own teacher_input_ids"):
        make_trainer(tmp_path, tokenizer, teacher, tiny_bert(tokenizer), DistillationDataCollator(tokenizer),
                     train_dataset=pretokenized, distill_preset="ebbt")  # fmt: skip
    trainer = make_trainer(tmp_path, tokenizer, teacher, tiny_bert(tokenizer), distill_preset="ebbt")
    batch = batch_of(trainer)
    batch["teacher_input_ids"] = batch["input_ids"].flip(-1)
    with pytest.raises(ValueError, match=r"the batch gives the teacher other input_ids than the student"):
        trainer.compute_loss(trainer.model, batch)
