import random

import datasets
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, Trainer, TrainerCallback

from hf_distill.methods.general.corpus import pack_blocks
from hf_distill.methods.general.masking import DynamicMaskingCollator, MaskingEpochCallback
from hf_distill.methods.general.progressive import ProgressiveTransferCallback
from tests.tiny import WORDS, StopAfter, quiet_args


def blocks(tokenizer, n=120):
    rng = random.Random(0)
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(3, 9))) for _ in range(n)]
    return pack_blocks(datasets.Dataset.from_dict({"text": lines}), tokenizer, block_size=16)


def mlm_model(tokenizer, layers=2):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    return BertForMaskedLM(config)


class Snapshots(TrainerCallback):
    """The model's parameters after every optimizer step (index = global_step; 0 = before training)."""

    def __init__(self):
        self.params = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.params.setdefault(state.global_step, _copy(model))

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.params[state.global_step] = _copy(model)


def _copy(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def make_trainer(tmp_path, tokenizer, callbacks, **settings):
    data = blocks(tokenizer)
    collator = DynamicMaskingCollator(tokenizer, seed=0)
    args = quiet_args(tmp_path, per_device_train_batch_size=4, remove_unused_columns=False, **settings)
    trainer = Trainer(model=mlm_model(tokenizer), args=args, train_dataset=data, data_collator=collator)
    for callback in [MaskingEpochCallback(collator), *callbacks]:
        trainer.add_callback(callback)
    return trainer


def lower(name):
    return ".embeddings." in name or ".layer.0." in name


def test_schedule():
    callback = ProgressiveTransferCallback(stage_steps=3, num_stages=2)
    assert [callback.stage_at(step) for step in range(8)] == [0, 0, 0, 1, 1, 1, 2, 2]
    assert [callback.active_layer(step) for step in (0, 3, 6, 100)] == [1, 2, None, None]
    assert callback.progressive_steps == 6


def test_lower_layers_frozen_during_a_layer_stage_then_released(tmp_path, tokenizer):
    snapshots = Snapshots()
    callback = ProgressiveTransferCallback(stage_steps=2)
    trainer = make_trainer(tmp_path, tokenizer, [callback, snapshots], max_steps=5, logging_steps=1)
    trainer.train()
    assert callback.num_stages == 2  # one stage per encoder layer by default
    params = snapshots.params
    for step in (3, 4):  # the steps of stage 1 (layer 1): embeddings and layer 0 frozen
        for name, value in params[step].items():
            changed = not torch.equal(value, params[step - 1][name])
            if lower(name):
                assert not changed, (step, name)
            elif ".layer.1." in name and "weight" in name:
                assert changed, (step, name)
    for name in params[5]:  # final stage: everything trains again
        if lower(name) and "weight" in name and "word_embeddings" not in name:
            assert not torch.equal(params[5][name], params[4][name]), name
    assert all(p.requires_grad for p in trainer.model.parameters())
    stages = [
        (log["progressive_stage"], log["step"]) for log in trainer.state.log_history if "progressive_stage" in log
    ]
    assert stages == [(0, 0), (1, 2), (2, 4)]


def test_reduced_learning_rate_scales_the_lower_layers_update(tmp_path, tokenizer):
    settings = dict(max_steps=2, lr_scheduler_type="constant", weight_decay=0.01)
    plain, scaled = Snapshots(), Snapshots()
    make_trainer(tmp_path / "a", tokenizer, [plain], **settings).train()
    callback = ProgressiveTransferCallback(stage_steps=1, lower_lr_scale=0.25)
    make_trainer(tmp_path / "b", tokenizer, [callback, scaled], **settings).train()
    for name, value in plain.params[1].items():  # stage 0 (step 1) is an ordinary step
        torch.testing.assert_close(scaled.params[1][name], value)
    for name, start in plain.params[1].items():  # stage 1 (step 2): lower layers move by 1/4 of the AdamW update
        plain_update = plain.params[2][name] - start
        scaled_update = scaled.params[2][name] - start
        expected = 0.25 * plain_update if lower(name) else plain_update
        torch.testing.assert_close(scaled_update, expected, atol=1e-7, rtol=1e-4, msg=name)


def test_resume_lands_in_the_right_stage(tmp_path, tokenizer):
    settings = dict(max_steps=8, save_strategy="steps", save_steps=3, logging_steps=1)
    full = make_trainer(tmp_path / "a", tokenizer, [ProgressiveTransferCallback(stage_steps=2)], **settings)
    full.train()
    interrupted = make_trainer(tmp_path / "b", tokenizer, [ProgressiveTransferCallback(2), StopAfter(3)], **settings)
    interrupted.train()
    resumed_callback = ProgressiveTransferCallback(stage_steps=2)
    entered = []
    original = resumed_callback._enter_stage
    resumed_callback._enter_stage = lambda stage, model, state: (entered.append(stage), original(stage, model, state))
    resumed = make_trainer(tmp_path / "b", tokenizer, [resumed_callback], **settings)
    resumed.train(resume_from_checkpoint=str(tmp_path / "b" / "checkpoint-3"))
    assert entered == [1, 2]  # step 3 is in stage 1 (layer 1, steps 2-3): resumed there; then the final stage 2
    for name, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, msg=name)

    changed = make_trainer(tmp_path / "b", tokenizer, [ProgressiveTransferCallback(stage_steps=3)], **settings)
    with pytest.raises(ValueError, match="different stage"):
        changed.train(resume_from_checkpoint=str(tmp_path / "b" / "checkpoint-3"))


def test_bad_settings(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="stage_steps"):
        ProgressiveTransferCallback(stage_steps=0)
    with pytest.raises(ValueError, match="lower_lr_scale"):
        ProgressiveTransferCallback(stage_steps=1, lower_lr_scale=1.0)
    with pytest.raises(ValueError, match="shorter than the 2 layer stages"):
        make_trainer(tmp_path, tokenizer, [ProgressiveTransferCallback(stage_steps=3)], max_steps=5).train()
    with pytest.raises(ValueError, match="at most one stage per layer"):
        make_trainer(tmp_path, tokenizer, [ProgressiveTransferCallback(1, num_stages=3)], max_steps=5).train()
