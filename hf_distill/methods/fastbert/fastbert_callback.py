"""FastBERT's two training stages in one `Trainer` run, as a callback.

Liu et al., "FastBERT: a Self-distilling BERT with Adaptive Inference Time", ACL 2020,
https://arxiv.org/abs/2004.02178: stage 1 fine-tunes the backbone and its final classifier on the task; stage 2
freezes them and trains the branch classifiers on ``sum_i KL(p_i || p_final)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from transformers import TrainerCallback

from ...modeling_fastbert import FastBertForSequenceClassification
from ...papers import cites
from ...schedules import restarted_schedule
from .fastbert_config import FASTBERT

__all__ = ["FastBertStageCallback"]


@cites(FASTBERT)
class FastBertStageCallback(TrainerCallback):
    """Runs FastBERT's two stages in one `Trainer` run: stage 1 (backbone) for ``backbone_epochs``, then stage 2.

    At the boundary step it freezes the backbone and final classifier (``set_training_stage("branches")``); on a
    resume past the boundary it freezes at once. With a `LambdaLR` schedule (every ``lr_scheduler_type`` but
    plateau), each stage gets the whole schedule compressed into its own steps (warm-up, decay to 0), so stage 2
    does not start at the tail of stage 1's decay, and stage 2's rates are multiplied by ``branches_lr_scale`` (fresh
    branch classifiers usually want a larger rate than fine-tuning, e.g. 1e-3 against 5e-5: scale 20).
    ``backbone_epochs=0`` runs stage 2 alone (a model whose backbone is already fine-tuned).
    """

    def __init__(self, backbone_epochs: float = 0.0, branches_lr_scale: float = 1.0):
        if isinstance(backbone_epochs, bool) or not isinstance(backbone_epochs, (int, float)) or backbone_epochs < 0:
            raise ValueError(f"backbone_epochs={backbone_epochs!r} must be a number >= 0 (0 = stage 2 only).")
        if isinstance(branches_lr_scale, bool) or not isinstance(branches_lr_scale, (int, float)):
            raise ValueError(f"branches_lr_scale={branches_lr_scale!r} must be a number > 0.")
        if not branches_lr_scale > 0:
            raise ValueError(f"branches_lr_scale={branches_lr_scale!r} must be a number > 0.")
        self.backbone_epochs = float(backbone_epochs)
        self.branches_lr_scale = float(branches_lr_scale)
        self.boundary: int | None = None

    def on_train_begin(self, args, state, control, model=None, lr_scheduler=None, train_dataloader=None, **kwargs):
        fastbert = _fastbert(model)
        batches = len(train_dataloader) if train_dataloader is not None else state.max_steps
        steps_per_epoch = max(math.ceil(batches / args.gradient_accumulation_steps), 1)
        self.boundary = math.ceil(self.backbone_epochs * steps_per_epoch)
        if self.boundary >= state.max_steps:
            raise ValueError(
                f"backbone_epochs={self.backbone_epochs} ({self.boundary} steps) leaves no step for stage 2 out of "
                f"{state.max_steps}: set num_train_epochs (or max_steps) above it."
            )
        if isinstance(lr_scheduler, torch.optim.lr_scheduler.LambdaLR):
            lr_scheduler.lr_lambdas = [
                restarted_schedule(getattr(fn, "schedule", fn), self.boundary, state.max_steps, self.branches_lr_scale)
                for fn in lr_scheduler.lr_lambdas
            ]
        fastbert.set_training_stage("branches" if state.global_step >= self.boundary else "backbone")

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        fastbert = _fastbert(model)
        if state.global_step >= self.boundary and fastbert.training_stage != "branches":
            fastbert.set_training_stage("branches")


def _fastbert(model: Any) -> FastBertForSequenceClassification:
    while not isinstance(model, FastBertForSequenceClassification) and hasattr(model, "module"):
        model = model.module
    if not hasattr(model, "set_training_stage"):
        raise ValueError(
            f"FastBertStageCallback trains a FastBertForSequenceClassification, got {type(model).__name__}; wrap the "
            "classifier with FastBertForSequenceClassification.from_backbone(...)."
        )
    return model
