"""Learning-rate schedules in stages: each stage of a run gets the whole configured schedule (warm-up, decay) over
its own steps, instead of starting where the previous stage's decay left off.

Used by [`DistillationTrainer`] for ``distill_phases="intermediate_then_prediction"`` (TinyBERT's two trainings,
Jiao et al., Findings of EMNLP 2020, arXiv:1909.10351, in one run) and by FastBERT's stage callback (Liu et al., ACL
2020, arXiv:2004.02178). The factors are plain functions: `LambdaLR.state_dict` stores nothing of them, so
checkpoints stay loadable with ``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import TrainingArguments, get_scheduler

Schedule = Callable[[float], float]


def two_stage_schedule(first: Schedule, second: Schedule, boundary: int, scale: float = 1.0) -> Schedule:
    """The learning-rate factor ``first(step)`` before ``boundary`` and ``scale * second(step - boundary)`` from it
    on: each stage's schedule counts its own steps from 0."""

    def staged(step: float) -> float:
        return first(step) if step < boundary else scale * second(step - boundary)

    return staged


def schedule_factor(args: TrainingArguments, num_steps: int) -> Schedule:
    """The learning-rate factor per step of ``args``' schedule over ``num_steps`` steps (its warm-up included)."""
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer=probe,
        num_warmup_steps=args.get_warmup_steps(num_steps),
        num_training_steps=num_steps,
        scheduler_specific_kwargs=args.lr_scheduler_kwargs,
    )
    if not isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        raise ValueError(
            f"distill_phases='intermediate_then_prediction' restarts the learning-rate schedule for each phase, "
            f"which needs a step-wise schedule; lr_scheduler_type={args.lr_scheduler_type!r} is not one. Use "
            "'linear', 'cosine', 'constant_with_warmup', ... or run the two phases as two trainings "
            "(distill_phases='intermediate', then 'prediction')."
        )
    return scheduler.lr_lambdas[0]


def restarted_schedule(schedule: Schedule, boundary: int, total: int, scale: float = 1.0) -> Schedule:
    """``schedule`` (a factor over ``total`` steps) replayed over [0, boundary) and again, times ``scale``, over
    [boundary, total): the step is rescaled so each stage sees the whole schedule. The result keeps ``schedule`` as
    its ``.schedule``, so a resume can wrap the fresh schedule again."""
    staged = two_stage_schedule(
        lambda step: schedule(step * total / boundary),
        lambda step: schedule(step * total / max(total - boundary, 1)),
        boundary,
        scale,
    )
    staged.schedule = schedule
    return staged
