"""Intermediate-layer terms on the DistillationTrainer: the formula on a batch, every preset, projections, phases."""

import copy

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from hf_distill import DistillationDataCollator, DistillationTrainer
from hf_distill.intermediate import PROJECTIONS_ATTR, PROJECTIONS_FILE
from hf_distill.losses import attention_score_mse_loss, hidden_mse_loss, pkd_cls_loss
from hf_distill.terms import PRESETS
from tests.tiny import StopAfter, quiet_args, sentiment_dataset, tiny_bert, tiny_encoder

ROWS = [
    {"sentence": "good movie and great plot", "label": 1},
    {"sentence": "dull boring film", "label": 0},
    {"sentence": "the actor was bad but the scene was nice", "label": 1},
]


def make_trainer(tmp_path, tokenizer, teacher, student, collator=None, **arg_overrides):
    return DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=quiet_args(tmp_path / "out", **arg_overrides),
        train_dataset=sentiment_dataset(48, seed=1),
        eval_dataset=sentiment_dataset(16, seed=2),
        data_collator=collator or DistillationDataCollator(tokenizer, text_fields=["sentence"]),
    )


def batch_of(trainer, rows=ROWS):
    return trainer._prepare_inputs(trainer.data_collator(rows))


def inputs_of(tokenizer, rows=ROWS):
    batch = DistillationDataCollator(tokenizer, text_fields=["sentence"])(rows)
    return {k: v for k, v in batch.items() if k != "labels"}


def bert_scores(model, hidden_states, layer):
    """Q K^T / sqrt(d) of BERT layer ``layer`` computed from its input and weights (no hooks involved)."""
    attention = model.bert.encoder.layer[layer - 1].attention.self
    h = hidden_states[layer - 1]
    batch, seq, width = h.shape
    heads = model.config.num_attention_heads

    def split(x):
        return x.view(batch, seq, heads, width // heads).transpose(1, 2)

    q, k = split(attention.query(h)), split(attention.key(h))
    return q @ k.transpose(-1, -2) / (width // heads) ** 0.5


def test_loss_is_the_formula_on_a_batch(tmp_path, tokenizer, trained_teacher):
    terms = [
        {"loss": "hidden_mse"},
        {"loss": "attention_mse", "student_layer": 1, "teacher_layer": 2, "weight": 0.5},
        {"loss": "pkd", "weight": 2.0},
    ]
    student = tiny_bert(tokenizer, seed=2, layers=2)
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, student, alpha=0.3, temperature=2.0, intermediate_terms=terms
    )
    batch = batch_of(trainer)
    loss = trainer.compute_loss(trainer.model, batch)

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    mask = inputs["attention_mask"]
    s = student(**inputs, output_hidden_states=True)
    with torch.no_grad():
        t = trained_teacher(**inputs, output_hidden_states=True)
    kl = F.kl_div(F.log_softmax(s.logits / 2, -1), F.softmax(t.logits / 2, -1), reduction="batchmean") * 4
    expected = 0.7 * F.cross_entropy(s.logits, batch["labels"]) + 0.3 * kl
    for m, n in [(1, 2), (2, 4)]:  # uniform mapping 2 -> 4 layers
        expected = expected + hidden_mse_loss(s.hidden_states[m], t.hidden_states[n], mask)
        expected = expected + 2.0 * pkd_cls_loss(s.hidden_states[m][:, 0], t.hidden_states[n][:, 0])
    scores_s = bert_scores(student, s.hidden_states, 1)
    scores_t = bert_scores(trained_teacher, t.hidden_states, 2)
    expected = expected + 0.5 * attention_score_mse_loss(scores_s, scores_t, mask)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert student.bert.encoder.layer[0].attention.self.key.weight.grad.abs().sum() > 0


def test_logs_carry_each_term_and_predictions_stay_plain(tmp_path, tokenizer, trained_teacher):
    terms = [{"loss": "hidden_mse", "weight": 0.5}, {"loss": "cosine", "student_layer": -1, "teacher_layer": -1}]
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2), max_steps=4, logging_steps=2, alpha=0.25,
        intermediate_terms=terms,
    )  # fmt: skip
    trainer.train()
    logs = [log for log in trainer.state.log_history if "loss" in log]
    assert len(logs) == 2
    for log in logs:
        parts = 0.75 * log["task_loss"] + 0.25 * log["kd_loss"] + log["hidden_mse_loss"] + log["cosine_loss"]
        assert log["loss"] == pytest.approx(parts, rel=1e-4)
    metrics = trainer.evaluate()
    assert {"eval_hidden_mse_loss", "eval_cosine_loss", "eval_kd_loss"} <= set(metrics)
    predictions = trainer.predict(sentiment_dataset(8, seed=4))
    assert predictions.predictions.shape == (8, 2)  # no hidden states / attentions among the "logits"


@pytest.mark.parametrize("width", [32, 16])
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_trains_same_width_and_narrower(tmp_path, tokenizer, trained_teacher, preset, width):
    student = tiny_bert(tokenizer, seed=2, layers=2, hidden=width, heads=4)
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, student, distill_preset=preset, max_steps=4, logging_steps=1
    )
    names = {f"{term['loss']}_loss" for term in trainer.args.intermediate_terms}
    assert set(trainer.intermediate.loss_names) == names
    before = {k: v.clone() for k, v in student.state_dict().items()}
    trainer.train()
    logged = set().union(*(log for log in trainer.state.log_history if "loss" in log))
    assert names <= logged
    assert all(torch.isfinite(torch.tensor(log["loss"])) for log in trainer.state.log_history if "loss" in log)
    assert any(not torch.equal(before[k], v) for k, v in student.state_dict().items() if "layer.0." in k)
    projected = {term.loss for term in trainer.intermediate.terms if term.project}
    if width == 16:  # every width-sized term needs W: 16 -> 32
        assert projected == {
            t["loss"]
            for t in trainer.args.intermediate_terms
            if t["loss"] in {"hidden_mse", "embedding_mse", "cosine", "pkd"}
        }
    assert set(getattr(student, PROJECTIONS_ATTR, {}) or {}) == projected


def test_projections_train_resume_exactly_and_stay_out_of_the_export(tmp_path, tokenizer, trained_teacher):
    settings = dict(distill_preset="tinybert", distill_phases="joint", max_steps=6, save_strategy="steps",
                    save_steps=3, logging_steps=1)  # fmt: skip
    full = make_trainer(
        tmp_path / "a", tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2, hidden=16), **settings
    )
    initial = {k: v.clone() for k, v in getattr(full.model, PROJECTIONS_ATTR).state_dict().items()}
    assert set(initial) == {"embedding_mse.weight", "embedding_mse.bias", "hidden_mse.weight", "hidden_mse.bias"}
    assert initial["hidden_mse.weight"].shape == (32, 16)
    full.train()
    trained = getattr(full.model, PROJECTIONS_ATTR).state_dict()
    assert not torch.equal(trained["hidden_mse.weight"], initial["hidden_mse.weight"])

    checkpoint = tmp_path / "a" / "out" / "checkpoint-3"
    assert set(load_file(checkpoint / PROJECTIONS_FILE)) == set(initial)
    assert not any(PROJECTIONS_ATTR in key for key in load_file(checkpoint / "model.safetensors"))
    full.save_model(str(tmp_path / "export"))
    exported = load_file(tmp_path / "export" / "model.safetensors")
    assert not any(PROJECTIONS_ATTR in key for key in exported) and PROJECTIONS_ATTR in dict(
        full.model.named_children()
    )
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "export").eval()
    batch = batch_of(full)
    full.model.eval()
    with torch.no_grad():
        expected = full.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        torch.testing.assert_close(
            loaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, expected
        )

    interrupted = make_trainer(
        tmp_path / "b", tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2, hidden=16), **settings
    )
    interrupted.add_callback(StopAfter(3))
    interrupted.train()
    resumed = make_trainer(
        tmp_path / "b", tokenizer, trained_teacher, tiny_bert(tokenizer, seed=7, hidden=16), **settings
    )
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "out" / "checkpoint-3"))
    for name, value in full.model.state_dict().items():  # projections included
        torch.testing.assert_close(resumed.model.state_dict()[name], value, msg=name)


def test_tinybert_phases_intermediate_then_prediction(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2, layers=2), distill_preset="tinybert",
        max_steps=4, logging_steps=1, intermediate_phase_ratio=0.5,
    )  # fmt: skip
    assert trainer.args.distill_phases == "intermediate_then_prediction"
    trainer.train()
    logs = [log for log in trainer.state.log_history if "loss" in log]
    intermediate_names = {"embedding_mse_loss", "hidden_mse_loss", "attention_mse_loss"}
    for log in logs[:2]:
        assert intermediate_names <= set(log) and "kd_loss" not in log and "task_loss" not in log
        assert log["loss"] == pytest.approx(sum(log[name] for name in intermediate_names), rel=1e-4)
    for log in logs[2:]:
        assert not intermediate_names & set(log)
        assert log["loss"] == pytest.approx(0.5 * log["task_loss"] + 0.5 * log["kd_loss"], rel=1e-4)


def test_each_tinybert_phase_has_its_own_learning_rate_schedule(tmp_path, tokenizer, trained_teacher):
    """10 steps, ratio 0.4: linear decay with 1 warmup step over steps 0-3, then again over steps 4-9."""
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2, layers=2), distill_preset="tinybert",
        max_steps=10, logging_steps=1, intermediate_phase_ratio=0.4, learning_rate=1e-3, warmup_steps=1,
        lr_scheduler_type="linear",
    )  # fmt: skip
    trainer.train()
    logged = [log["learning_rate"] for log in trainer.state.log_history if "loss" in log]
    # The rate each step used: phase 1 f(s) = s < 1 ? s : (4 - s) / 3, then phase 2 g(s) = s < 1 ? s : (6 - s) / 5
    # from its own step 0 (one decay over all 10 steps would give 0.6 at step 4, not 0).
    expected = [0, 1, 2 / 3, 1 / 3, 0, 1, 4 / 5, 3 / 5, 2 / 5, 1 / 5]
    assert logged == pytest.approx([1e-3 * factor for factor in expected], abs=1e-9)
    phases = ["attention_mse_loss" in log for log in trainer.state.log_history if "loss" in log]
    assert phases == [True] * 4 + [False] * 6


def attention_kl_by_hand(student, teacher, inputs, student_layer, teacher_layer):
    """METHODS sections 6/7 on the models' own eager attention maps (eval mode: no dropout), in plain loops."""
    maps = []
    for model, layer in ((student, student_layer), (teacher, teacher_layer)):
        model.set_attn_implementation("eager")
        model.eval()
        with torch.no_grad():
            maps.append(model(**inputs, output_attentions=True).attentions[layer - 1])
    a_s, a_t = maps
    mask = inputs["attention_mask"]
    per_example = []
    for b in range(mask.shape[0]):
        real = mask[b].nonzero().flatten().tolist()
        total = 0.0
        for h in range(a_s.shape[1]):
            for i in real:
                total += sum(
                    a_t[b, h, i, j].item() * (a_t[b, h, i, j].log() - a_s[b, h, i, j].log()).item() for j in real
                )
        per_example.append(total / (a_s.shape[1] * len(real)))
    return sum(per_example) / len(per_example)


def test_attention_kl_reads_distributions_before_attention_dropout(tmp_path, tokenizer, trained_teacher):
    """Under sdpa (no maps in the outputs) and with attention dropout 0.5 in training mode, the attention_kl term is
    the KL of the undropped distributions: the value computed by hand from eager maps in eval mode. (Layer 1, whose
    queries and keys come from the embeddings, so the dropout can only reach the term through the maps.)"""
    student = tiny_bert(tokenizer, seed=2, layers=2)
    for layer in student.bert.encoder.layer:
        layer.attention.self.dropout.p = 0.5
    expected = attention_kl_by_hand(copy.deepcopy(student), copy.deepcopy(trained_teacher), inputs_of(tokenizer), 1, 2)
    terms = [{"loss": "attention_kl", "student_layer": 1, "teacher_layer": 2}]
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, student, intermediate_terms=terms, distill_phases="intermediate"
    )
    assert student.config._attn_implementation == "sdpa"
    trainer.model.train()
    values = [trainer.compute_loss(trainer.model, batch_of(trainer)).item() for _ in range(3)]
    assert values == pytest.approx([expected] * 3, rel=1e-5)
    assert expected > 1e-3  # the two models do attend differently


def test_attention_kl_of_a_peaked_student_head_matches_float64(tmp_path, tokenizer, trained_teacher):
    """A student head with score gaps above 87 (its float32 softmax rounds keys to 0): the term and its gradient are
    those of the float64 computation from the same scores."""
    student = tiny_bert(tokenizer, seed=2, layers=2)
    attention = student.bert.encoder.layer[0].attention.self
    with torch.no_grad():
        attention.query.weight.mul_(50)
        attention.key.weight.mul_(50)
    terms = [{"loss": "attention_kl", "student_layer": 1, "teacher_layer": 2}]
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, student, intermediate_terms=terms, distill_phases="intermediate"
    )
    loss = trainer.compute_loss(trainer.model, batch_of(trainer))
    loss.backward()

    inputs = inputs_of(tokenizer)
    mask = inputs["attention_mask"]
    student64, teacher64 = copy.deepcopy(student).double(), copy.deepcopy(trained_teacher).double()
    student64.zero_grad()
    scores_s = bert_scores(student64, student64(**inputs, output_hidden_states=True).hidden_states, 1)
    with torch.no_grad():
        scores_t = bert_scores(teacher64, teacher64(**inputs, output_hidden_states=True).hidden_states, 2)
    real = mask.bool()[:, None, None, :]
    gaps = scores_s.detach().masked_fill(~real, -1e9).amax(-1) - scores_s.detach().masked_fill(~real, 1e9).amin(-1)
    assert gaps.max() > 100
    per_example = []
    for b in range(mask.shape[0]):
        keep = mask[b].bool()
        log_s = scores_s[b][:, keep][:, :, keep].log_softmax(-1)
        log_t = scores_t[b][:, keep][:, :, keep].log_softmax(-1)
        per_example.append((log_t.exp() * (log_t - log_s)).sum(-1).mean())
    expected = torch.stack(per_example).mean()
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    for name in ("query", "key"):
        torch.testing.assert_close(
            getattr(attention, name).weight.grad.double(),
            getattr(student64.bert.encoder.layer[0].attention.self, name).weight.grad,
            rtol=1e-3, atol=1e-6,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "student_kwargs", "message"),
    [
        ({"intermediate_terms": [{"loss": "hidden_mse", "student_layer": 1, "teacher_layer": 5}]}, {},
         r"teacher layer 5 is out of range: the teacher has 4 layers"),
        ({"layer_mapping": "3:4", "intermediate_terms": [{"loss": "hidden_mse"}]}, {},
         r"student layer 3 is out of range: the student has 2 layers"),
        ({"intermediate_terms": [{"loss": "attention_mse", "student_layer": 0, "teacher_layer": 0}]}, {},
         r"student layer 0 is out of range.*numbered 1 to 2"),
        ({"distill_preset": "tinybert"}, {"heads": 2}, r"student has 2 heads and the teacher 4"),
        ({"intermediate_terms": [{"loss": "hidden_mse", "projection": False}]}, {"hidden": 16},
         r"16-wide student vectors with 32-wide teacher vectors.*projection=False"),
        ({"intermediate_terms": [{"loss": "kk_relation", "relation_heads": 3}]}, {},
         r"3 relation heads, which does not divide the student's width 32"),
    ],
)  # fmt: skip
def test_bad_terms_fail_at_construction(tmp_path, tokenizer, trained_teacher, overrides, student_kwargs, message):
    student = tiny_bert(tokenizer, seed=2, layers=2, **student_kwargs)
    with pytest.raises(ValueError, match=message):
        make_trainer(tmp_path, tokenizer, trained_teacher, student, **overrides)


def test_misaligned_teacher_tokens_are_refused(tmp_path, tokenizer, trained_teacher):
    trainer = make_trainer(
        tmp_path, tokenizer, trained_teacher, tiny_bert(tokenizer, seed=2), distill_preset="minilmv2"
    )
    batch = batch_of(trainer)
    batch["teacher_input_ids"] = batch["input_ids"][:, :-1]
    batch["teacher_attention_mask"] = batch["attention_mask"][:, :-1]
    with pytest.raises(ValueError, match="not aligned with the student's"):
        trainer.compute_loss(trainer.model, batch)


def test_mpnet_teacher_bert_student_with_their_own_tokenizers(tmp_path, tokenizer, shifted_tokenizer):
    """The real setting in miniature: MPNet teacher (ids + 4), narrower BERT student, hidden + score + relations."""
    teacher = tiny_encoder("mpnet", vocab_size=len(shifted_tokenizer), layers=4, hidden=32, seed=5)
    student = tiny_bert(tokenizer, seed=2, layers=2, hidden=16)
    collator = DistillationDataCollator(tokenizer, shifted_tokenizer, text_fields=["sentence"])
    terms = [{"loss": "hidden_mse"}, {"loss": "attention_mse"}, {"loss": "vv_relation", "student_layer": -1,
             "teacher_layer": -1, "relation_heads": 2}]  # fmt: skip
    trainer = make_trainer(tmp_path, tokenizer, teacher, student, collator, intermediate_terms=terms, max_steps=3)
    batch = batch_of(trainer)
    assert batch["teacher_input_ids"].shape == batch["input_ids"].shape
    assert trainer.compute_loss(trainer.model, batch).isfinite()
    trainer.train()
    assert trainer.state.global_step == 3
