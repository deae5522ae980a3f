"""FastBERT: the entropy rule by hand, real skipping (layers counted with hooks), stage freezing, save/load."""

import json
import math
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertForSequenceClassification,
    DataCollatorWithPadding,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    MPNetConfig,
    MPNetForSequenceClassification,
    Trainer,
    TrainingArguments,
)

from hf_distill.losses import self_distillation_loss
from hf_distill.methods.fastbert.fastbert_callback import FastBertStageCallback
from hf_distill.modeling_fastbert import FastBertConfig, FastBertForSequenceClassification, normalized_entropy
from tests.tiny import quiet_args, sentiment_dataset, tiny_bert, tokenized

TEXTS = [
    "good great fun movie and the plot was very nice",
    "bad",
    "the film was dull",
    "superb lovely warm story and a fine actor",
    "awful boring sad weak cold poor scene",
    "nice",
]


def tiny_mpnet(layers: int = 3) -> MPNetForSequenceClassification:
    torch.manual_seed(1)
    config = MPNetConfig(
        vocab_size=40, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=70, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=1,
    )  # fmt: skip
    return MPNetForSequenceClassification(config)


def sharpen_branches(model: FastBertForSequenceClassification, scale: float = 300.0) -> None:
    """Random branches are near-uniform (U ~ 1); scaled up they are confident on some inputs and not others."""
    with torch.no_grad():
        for branch in model.branches:
            branch.out_proj.weight.mul_(scale)


def expected_exits(layer_logits: torch.Tensor, speed: float) -> torch.Tensor:
    """Reference rule on every layer's logits [L, b, C]: first layer (1-based) with U < speed among 1..L-1, else L."""
    uncertainty = normalized_entropy(layer_logits[:-1])  # [L-1, b]
    exits = torch.full((layer_logits.shape[1],), layer_logits.shape[0], dtype=torch.long)
    for layer in reversed(range(layer_logits.shape[0] - 1)):
        exits[uncertainty[layer] < speed] = layer + 1
    return exits


class LayerCounter:
    """Forward hooks on the encoder layers: the shape of the hidden states each layer received."""

    def __init__(self, layers):
        self.shapes = {index: [] for index in range(len(layers))}
        self.handles = [
            layer.register_forward_pre_hook(lambda module, args, i=i: self.shapes[i].append(tuple(args[0].shape)))
            for i, layer in enumerate(layers)
        ]

    def rows(self) -> list[int]:
        return [sum(shape[0] for shape in self.shapes[i]) for i in range(len(self.shapes))]

    def remove(self):
        for handle in self.handles:
            handle.remove()


# ---- The entropy rule ----


def test_normalized_entropy_by_hand():
    # U = sum p log p / log(1/C). p = [.5, .5]: U = 1. logits [ln 3, 0] -> p = [.75, .25]:
    # sum p log p = .75 ln .75 + .25 ln .25 = -.215762 - .346574 = -.562335; / ln(1/2) = -.693147 -> .811278.
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    # C = 3, p = [.7, .2, .1]: sum p log p = -.249672 - .321888 - .230259 = -.801819; / ln(1/3) = -1.098612 -> .729847
    three = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))
    assert normalized_entropy(logits).tolist() == pytest.approx([1.0, 0.811278], abs=1e-6)
    assert normalized_entropy(three).item() == pytest.approx(0.729847, abs=1e-6)
    assert normalized_entropy(torch.tensor([[30.0, -30.0]])).item() == pytest.approx(0.0, abs=1e-6)


def test_exit_rule_picks_first_confident_layer_by_hand(tokenizer):
    """Branch outputs forced by their biases: exits follow U < speed, first layer first."""
    model = FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=4)).eval()
    with torch.no_grad():
        for branch in model.branches:
            branch.out_proj.weight.zero_()
        # U at layers 1, 2, 3 for every example: p = [.75, .25] -> .811278; [.9, .1] -> .468996; [.99, .01] -> .080793
        for branch, p in zip(model.branches, (0.75, 0.9, 0.99)):
            branch.out_proj.bias.copy_(torch.tensor([math.log(p), math.log(1 - p)]))
    batch = tokenizer(TEXTS[:3], padding=True, return_tensors="pt")
    for speed, layer in [(0.9, 1), (0.8, 2), (0.5, 2), (0.46, 3), (0.08, 4), (0.0, 4)]:
        output = model(**batch, speed=speed)
        assert output.exit_layers.tolist() == [layer] * 3, speed
    with torch.no_grad():
        full = model.backbone(**batch).logits
    torch.testing.assert_close(model(**batch, speed=0.08).logits, full)  # reached the final classifier
    torch.testing.assert_close(model(**batch, speed=0.5).logits[0], torch.log(torch.tensor([0.9, 0.1])))


# ---- Skipping: exited rows are not computed ----


@pytest.mark.parametrize("make_backbone", ["bert", "mpnet"])
def test_adaptive_inference_skips_exited_rows_and_matches_full_computation(tokenizer, make_backbone):
    backbone = tiny_bert(tokenizer, layers=4) if make_backbone == "bert" else tiny_mpnet(layers=4)
    model = FastBertForSequenceClassification.from_backbone(backbone).eval()
    sharpen_branches(model)
    if make_backbone == "bert":
        batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    else:
        ids = torch.randint(5, 40, (6, 11), generator=torch.Generator().manual_seed(0))
        mask = (torch.arange(11)[None] < torch.tensor([11, 3, 7, 9, 2, 11])[:, None]).long()
        batch = {"input_ids": ids.masked_fill(mask == 0, 1), "attention_mask": mask}
    with torch.no_grad():
        everything = model(**batch, output_layer_logits=True).layer_logits  # [L, b, C], no exits
        torch.testing.assert_close(everything[-1], backbone.eval()(**batch).logits)
    uncertainty = normalized_entropy(everything[:-1])
    speed = float(uncertainty[0].median()) + 1e-4  # about half the rows leave after layer 1
    exits = expected_exits(everything, speed)
    assert 1 in exits.tolist() and exits.max() > 1, exits  # a mixed batch, or the test proves nothing

    counter = LayerCounter(model._encoder.encoder.layer)
    output = model(**batch, speed=speed)
    counter.remove()
    assert output.exit_layers.tolist() == exits.tolist()
    # Layer i (0-based) ran exactly on the rows still inside: those whose exit layer is > i.
    assert counter.rows() == [int((exits > i).sum()) for i in range(4)]
    assert sum(counter.rows()) == int(exits.sum())
    expected_logits = everything[exits - 1, torch.arange(len(exits))]
    torch.testing.assert_close(output.logits, expected_logits, atol=1e-4, rtol=1e-4)


def test_padding_columns_no_remaining_row_needs_are_dropped(tokenizer):
    model = FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=3)).eval()
    with torch.no_grad():  # branch 1 is sure of row 0 (the long one) only: bias by its mean-pooled features
        model.branches[0].out_proj.weight.zero_()
        model.branches[0].out_proj.bias.copy_(torch.tensor([0.0, 0.0]))
    batch = tokenizer([TEXTS[0], TEXTS[1], TEXTS[2]], padding=True, return_tensors="pt")
    lengths = batch["attention_mask"].sum(1).tolist()
    # Make branch 1 confident only for the longest row through a hook on its input.
    original = model.branches[0].forward

    def forward(hidden, attention_mask):
        logits = original(hidden, attention_mask)
        confident = attention_mask.sum(1) == max(lengths)
        return logits + confident[:, None] * torch.tensor([20.0, 0.0])

    model.branches[0].forward = forward
    counter = LayerCounter(model._encoder.encoder.layer)
    output = model(**batch, speed=0.5)
    counter.remove()
    assert output.exit_layers.tolist() == [1, 3, 3]
    assert counter.shapes[0] == [(3, max(lengths), 32)]
    sorted_rest = sorted(lengths[1:])
    assert counter.shapes[1] == [(2, sorted_rest[-1], 32)]  # 2 rows, trailing padding columns dropped
    with torch.no_grad():
        alone = model.backbone(**tokenizer(TEXTS[1:3], padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(output.logits[1:], alone, atol=1e-5, rtol=1e-5)


def test_speed_zero_is_the_backbone_and_runs_no_branch(tokenizer):
    backbone = tiny_bert(tokenizer, layers=3).eval()
    model = FastBertForSequenceClassification.from_backbone(backbone).eval()
    calls = []
    for branch in model.branches:
        branch.register_forward_pre_hook(lambda module, args: calls.append(1))
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    output = model(**batch)  # config.speed = 0
    assert calls == [] and output.exit_layers.tolist() == [3] * len(TEXTS)
    with torch.no_grad():
        torch.testing.assert_close(output.logits, backbone(**batch).logits)


# ---- Bad input ----


def test_bad_speed_and_unsupported_backbone_raise(tokenizer):
    model = FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=2)).eval()
    batch = tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
    for speed in (-0.1, 1.5, "fast", True):
        with pytest.raises(ValueError, match="speed=.* must be a number in \\[0, 1\\]"):
            model(**batch, speed=speed)
    with pytest.raises(ValueError, match="speed=2"):
        FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=2), speed=2)
    distilbert = DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=40, dim=32, n_layers=2, n_heads=4, hidden_dim=64)
    )
    with pytest.raises(ValueError, match="cannot run a 'distilbert' encoder layer by layer"):
        FastBertForSequenceClassification.from_backbone(distilbert)
    with pytest.raises(ValueError, match="num_labels >= 2"):
        FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, num_labels=1, layers=2))
    with pytest.raises(ValueError, match="branch_pooling='max'"):
        FastBertConfig(encoder_config=tiny_bert(tokenizer).config.to_dict(), branch_pooling="max")
    with pytest.raises(ValueError, match="backbone_epochs=-1"):
        FastBertStageCallback(backbone_epochs=-1)
    with pytest.raises(ValueError, match="branches_lr_scale=0"):
        FastBertStageCallback(branches_lr_scale=0)


def test_backbone_without_accessible_layers_raises(tokenizer, monkeypatch):
    """A supported model type whose classifier does not hold its layers where they should be."""
    config = FastBertConfig(encoder_config=tiny_bert(tokenizer).config.to_dict())
    original = AutoModelForSequenceClassification.from_config

    def without_layers(encoder_config):
        model = original(encoder_config)
        del model.bert.encoder.layer
        return model

    monkeypatch.setattr(AutoModelForSequenceClassification, "from_config", staticmethod(without_layers))
    with pytest.raises(ValueError, match="has no encoder layers at .bert.encoder.layer"):
        FastBertForSequenceClassification(config)


# ---- Self-distillation loss (hand-computed) ----


def test_self_distillation_loss_by_hand():
    # Teacher p_t = softmax([0, ln 3]) = [.25, .75]. Branch 1 p = [.5, .5]: KL(p||p_t) = .5 ln(.5/.25) + .5 ln(.5/.75)
    # = .346574 - .202733 = .143841. Branch 2 p = [.75, .25]: .75 ln 3 + .25 ln(1/3) = .5 ln 3 = .549306.
    # Example 2: teacher [.5,.5], branches [.5,.5] (0) and [.9,.1]: .9 ln 1.8 + .1 ln .2 = .529009 - .160944 = .368064
    branch = torch.tensor(
        [[[0.0, 0.0], [0.0, 0.0]], [[math.log(3.0), 0.0], [math.log(0.9), math.log(0.1)]]], requires_grad=True
    )
    teacher = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]], requires_grad=True)
    per_example = self_distillation_loss(branch, teacher, reduction="none")
    assert per_example.tolist() == pytest.approx([0.143841 + 0.549306, 0.368064], abs=1e-5)
    mean = self_distillation_loss(branch, teacher)
    assert mean.item() == pytest.approx((0.693147 + 0.368064) / 2, abs=1e-5)
    masked = self_distillation_loss(branch, teacher, mask=torch.tensor([0, 1]), reduction="mean")
    assert masked.item() == pytest.approx(0.368064, abs=1e-5)
    mean.backward()
    assert teacher.grad is None and branch.grad.abs().sum() > 0  # the teacher is a fixed target
    assert branch.grad[0, 1].abs().sum() == 0  # a branch that already matches its teacher gets no gradient
    with pytest.raises(ValueError, match="branch_logits must be"):
        self_distillation_loss(torch.zeros(2, 3), torch.zeros(2, 3))


# ---- Stages ----


def _training_args(tmp_path, **overrides):
    values = dict(per_device_train_batch_size=16, learning_rate=3e-3, logging_steps=1)
    return quiet_args(tmp_path, TrainingArguments, **{**values, **overrides})


def test_stage_callback_trains_backbone_then_only_branches(tokenizer, tmp_path):
    torch.manual_seed(0)
    model = FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=3, dropout=0.1))
    data = tokenized(sentiment_dataset(64, seed=3), tokenizer).rename_column("label", "labels")
    data = data.remove_columns(["sentence"])
    snapshots = {}

    class Watch(FastBertStageCallback):
        def on_step_begin(self, args, state, control, model=None, **kwargs):
            super().on_step_begin(args, state, control, model=model, **kwargs)
            snapshots[state.global_step] = (
                model.training_stage,
                {k: v.detach().clone() for k, v in model.state_dict().items()},
                [g["lr"] for g in kwargs["optimizer"].param_groups],
            )

    args = _training_args(tmp_path, num_train_epochs=2)  # 4 steps per epoch
    trainer = Trainer(
        model=model, args=args, train_dataset=data, data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=[Watch(backbone_epochs=1, branches_lr_scale=2)],
    )  # fmt: skip
    trainer.train()
    assert [snapshots[s][0] for s in range(8)] == ["backbone"] * 4 + ["branches"] * 4

    def changed(before, after, prefix):
        return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))

    stage1_start, boundary = snapshots[0][1], snapshots[4][1]
    final = {k: v.detach() for k, v in model.state_dict().items()}
    assert changed(stage1_start, boundary, "backbone.") and not changed(stage1_start, boundary, "branches.")
    assert changed(boundary, final, "branches.") and not changed(boundary, final, "backbone.")
    assert not any(p.requires_grad for p in model.backbone.parameters())
    model.train()
    assert not model.backbone.training and model.branches.training  # frozen teacher: no dropout in stage 2
    # Each stage gets the whole (linear) schedule: full lr at its first step, decaying inside it.
    lrs = [snapshots[s][2][0] for s in range(8)]
    assert lrs[0] == pytest.approx(3e-3) and lrs[4] == pytest.approx(2 * 3e-3)  # stage 2: branches_lr_scale=2
    assert lrs[3] < lrs[2] < lrs[1] < lrs[0] and lrs[7] < lrs[6] < lrs[5] < lrs[4]
    # Logged losses: cross-entropy then the self-distillation sum.
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 8


def test_resume_past_the_boundary_restarts_in_stage_two_with_the_same_schedule(tokenizer, tmp_path):
    data = tokenized(sentiment_dataset(64, seed=3), tokenizer).rename_column("label", "labels")
    data = data.remove_columns(["sentence"])

    def run(output_dir, resume=None, **overrides):
        model = FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=3))
        lrs = {}

        class Record(FastBertStageCallback):
            def on_step_begin(self, args, state, control, model=None, **kwargs):
                super().on_step_begin(args, state, control, model=model, **kwargs)
                lrs[state.global_step] = (model.training_stage, kwargs["optimizer"].param_groups[0]["lr"])

        args = _training_args(output_dir, num_train_epochs=2, **overrides)
        trainer = Trainer(
            model=model, args=args, train_dataset=data, data_collator=DataCollatorWithPadding(tokenizer),
            callbacks=[Record(backbone_epochs=1)],
        )  # fmt: skip
        trainer.train(resume_from_checkpoint=resume)
        return model, lrs

    straight, straight_lrs = run(tmp_path / "a", save_strategy="steps", save_steps=5)
    resumed, resumed_lrs = run(tmp_path / "b", resume=str(tmp_path / "a" / "checkpoint-5"))
    assert sorted(resumed_lrs) == [5, 6, 7]
    for step in (5, 6, 7):
        assert resumed_lrs[step][0] == "branches"
        assert resumed_lrs[step][1] == pytest.approx(straight_lrs[step][1])
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value)


def test_stage_callback_refuses_a_run_without_stage_two(tokenizer, tmp_path):
    model = FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=2))
    data = tokenized(sentiment_dataset(32), tokenizer).remove_columns(["sentence"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(
        model=model, args=_training_args(tmp_path, num_train_epochs=2), train_dataset=data,
        data_collator=DataCollatorWithPadding(tokenizer), callbacks=[FastBertStageCallback(backbone_epochs=2)],
    )  # fmt: skip
    with pytest.raises(ValueError, match="backbone_epochs=2.0 \\(4 steps\\) leaves no step for stage 2 out of 4"):
        trainer.train()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # no step was taken


def test_stage_two_loss_is_the_library_self_distillation_loss_without_labels(tokenizer):
    model = FastBertForSequenceClassification.from_backbone(tiny_bert(tokenizer, layers=3))
    sharpen_branches(model, 30.0)
    model.set_training_stage("branches")
    model.train()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    output = model(**batch)  # no labels needed
    expected = self_distillation_loss(output.layer_logits[:-1], output.layer_logits[-1])
    torch.testing.assert_close(output.loss, expected)
    output.loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.branches.parameters())
    model.set_training_stage("backbone")  # unfreezing restores ordinary fine-tuning
    labels = torch.tensor([1, 0, 0, 1, 0, 1])
    output = model(**batch, labels=labels)
    torch.testing.assert_close(output.loss, torch.nn.functional.cross_entropy(output.logits, labels))
    assert all(p.requires_grad for p in model.backbone.parameters())


def test_stage_two_only_run_on_unlabeled_text(tokenizer, trained_teacher, tmp_path):
    """backbone_epochs=0: the branches of a fine-tuned (confident) classifier learn from it on unlabeled text."""
    model = FastBertForSequenceClassification.from_backbone(trained_teacher)
    data = tokenized(sentiment_dataset(96, seed=5), tokenizer).remove_columns(["sentence", "label"])
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    model.eval()
    before = model(**batch, output_layer_logits=True).layer_logits
    trainer = Trainer(
        model=model, args=_training_args(tmp_path, num_train_epochs=4, learning_rate=1e-2),
        train_dataset=data, data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=[FastBertStageCallback(backbone_epochs=0)],
    )  # fmt: skip
    trainer.train()
    model.eval()
    after = model(**batch, output_layer_logits=True).layer_logits
    torch.testing.assert_close(after[-1], before[-1])  # the teacher did not move
    loss_before = self_distillation_loss(before[:-1], before[-1])
    loss_after = self_distillation_loss(after[:-1], after[-1])
    assert loss_after < 0.5 * loss_before


# ---- Save / load ----


def test_save_load_with_library_class_and_auto_remote_code(tokenizer, tmp_path):
    model = FastBertForSequenceClassification.from_backbone(tiny_mpnet(layers=3), speed=0.35).eval()
    sharpen_branches(model)
    model.save_pretrained(tmp_path / "fastbert")
    assert {"config.json", "modeling_fastbert.py", "losses.py", "model.safetensors"} <= set(
        os.listdir(tmp_path / "fastbert")
    )
    batch = {"input_ids": torch.tensor([[0, 7, 9, 12, 2], [0, 30, 2, 1, 1]]), "attention_mask": None}
    batch["attention_mask"] = (batch["input_ids"] != 1).long()
    expected = model(**batch)

    loaded = FastBertForSequenceClassification.from_pretrained(tmp_path / "fastbert").eval()
    assert loaded.config.speed == 0.35 and loaded.config.encoder_config.model_type == "mpnet"
    again = loaded(**batch)
    torch.testing.assert_close(again.logits, expected.logits)
    assert again.exit_layers.tolist() == expected.exit_layers.tolist()
    via_auto = AutoModelForSequenceClassification.from_pretrained(tmp_path / "fastbert").eval()
    assert type(via_auto) is FastBertForSequenceClassification  # registered: no remote code needed here

    # A fresh interpreter that never imports hf_distill: only the files saved next to the weights.
    script = textwrap.dedent(
        f"""
        import json, sys, torch
        from transformers import AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained({str(tmp_path / "fastbert")!r},
                                                                   trust_remote_code=True).eval()
        assert not any(name.startswith("hf_distill") for name in sys.modules), "hf_distill was imported"
        ids = torch.tensor({batch["input_ids"].tolist()})
        out = model(input_ids=ids, attention_mask=(ids != 1).long())
        print(json.dumps([type(model).__module__, model.config.speed, out.logits.tolist(), out.exit_layers.tolist()]))
        """
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    module, speed, logits, exits = json.loads(result.stdout.strip().splitlines()[-1])
    assert module.startswith("transformers_modules") and speed == 0.35
    torch.testing.assert_close(torch.tensor(logits), expected.logits)
    assert exits == expected.exit_layers.tolist()


def test_export_backbone_is_a_standard_model(tokenizer, tmp_path):
    backbone = tiny_bert(tokenizer, layers=3).eval()
    model = FastBertForSequenceClassification.from_backbone(backbone)
    model.export_backbone(tmp_path / "plain")
    files = set(os.listdir(tmp_path / "plain"))
    assert "modeling_fastbert.py" not in files
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "plain").eval()
    assert type(loaded) is BertForSequenceClassification
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, backbone(**batch).logits)


def test_docs_fastbert_example_runs(tokenizer, trained_teacher, tmp_path, monkeypatch):
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "methods" / "fastbert.md").read_text()
    example = next(b for b in re.findall(r"```python\n(.*?)```", page, flags=re.S) if "FastBertStageCallback(" in b)
    trained_teacher.save_pretrained(tmp_path / "classifier")
    tokenizer.save_pretrained(tmp_path / "classifier")
    example = example.replace('"fine-tuned-teacher-checkpoint"', repr(str(tmp_path / "classifier")))
    monkeypatch.chdir(tmp_path)
    text_only = tokenized(sentiment_dataset(32, seed=1), tokenizer).remove_columns(["sentence", "label"])
    namespace = {"train": text_only}
    exec(compile(example, "fastbert.md", "exec"), namespace)
    assert namespace["trainer"].state.global_step == 8  # 32 rows, batch 8, 2 epochs
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "fastbert")
    assert isinstance(loaded, FastBertForSequenceClassification) and loaded.config.speed == 0.5
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "plain")
    assert type(plain) is BertForSequenceClassification
