"""MetaDistil's settings: [`DistillationTrainingArguments`] plus the teacher's meta-update and the quiz.

Zhou et al., "BERT Learns to Teach: Knowledge Distillation with Meta Learning", ACL 2022,
https://arxiv.org/abs/2106.04570.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...arguments import DistillationTrainingArguments
from ...papers import Paper, cites

__all__ = ["MetaDistilTrainingArguments"]

TEACHER_OPTIMIZERS = ("adamw", "sgd")
METADISTIL = Paper(
    "Zhou et al.",
    2022,
    "BERT Learns to Teach: Knowledge Distillation with Meta Learning",
    "ACL",
    "https://arxiv.org/abs/2106.04570",
    "MetaDistil",
    "the teacher learns from the student's feedback",
)


@cites(METADISTIL, "metadistil")
@dataclass
class MetaDistilTrainingArguments(DistillationTrainingArguments):
    """[`DistillationTrainingArguments`] plus MetaDistil's teacher-update and quiz settings."""

    teacher_learning_rate: float = field(
        default=1e-5,
        metadata={"help": "Learning rate of the teacher's meta-update (>= 0; 0 freezes the teacher = plain KD)."},
    )
    teacher_optimizer: str = field(
        default="adamw",
        metadata={"help": "Optimizer of the teacher: 'adamw' or 'sgd'.", "choices": list(TEACHER_OPTIMIZERS)},
    )
    teacher_weight_decay: float = field(
        default=0.0, metadata={"help": "Weight decay of the teacher's optimizer (>= 0)."}
    )
    teacher_max_grad_norm: float | None = field(
        default=1.0,
        metadata={"help": "Clip the teacher's meta-gradient to this global norm (None or 0: no clipping)."},
    )
    pilot_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Step size of the pilot SGD update S' = S - lr * grad (>= 0). None uses the student's current "
            "learning rate from the scheduler."
        },
    )
    quiz_size: float = field(
        default=0.1,
        metadata={
            "help": "Size of the quiz set held out from the training data: a fraction in (0, 1) or a row count "
            ">= 1. Ignored when the trainer is given quiz_dataset."
        },
    )
    quiz_batch_size: int | None = field(
        default=None,
        metadata={"help": "Quiz batch size per device (None: per_device_train_batch_size)."},
    )
    save_teacher: bool = field(
        default=True,
        metadata={
            "help": "Save the meta-updated teacher under <output_dir>/teacher with the student (and in every "
            "checkpoint, with its optimizer state, so that training can resume)."
        },
    )

    def __post_init__(self) -> None:
        if not (self.teacher_learning_rate >= 0 and math.isfinite(self.teacher_learning_rate)):
            raise ValueError(
                f"teacher_learning_rate={self.teacher_learning_rate} must be a finite number >= 0 (0 keeps the "
                "teacher fixed; the paper uses about 1e-5 with AdamW)."
            )
        if self.teacher_optimizer not in TEACHER_OPTIMIZERS:
            raise ValueError(
                f"teacher_optimizer={self.teacher_optimizer!r} is not one of {', '.join(TEACHER_OPTIMIZERS)}."
            )
        if self.teacher_weight_decay < 0:
            raise ValueError(f"teacher_weight_decay={self.teacher_weight_decay} must be >= 0.")
        if self.teacher_max_grad_norm is not None and self.teacher_max_grad_norm < 0:
            raise ValueError(
                f"teacher_max_grad_norm={self.teacher_max_grad_norm} must be >= 0 (or None/0 for no clipping)."
            )
        if self.pilot_learning_rate is not None and self.pilot_learning_rate < 0:
            raise ValueError(
                f"pilot_learning_rate={self.pilot_learning_rate} must be >= 0, or None to use the student's "
                "current learning rate."
            )
        if not (self.quiz_size > 0 and (self.quiz_size < 1 or float(self.quiz_size).is_integer())):
            raise ValueError(
                f"quiz_size={self.quiz_size} must be a fraction in (0, 1) of the training rows or a whole row count "
                ">= 1, e.g. quiz_size=0.1 or quiz_size=200."
            )
        if self.quiz_batch_size is not None and self.quiz_batch_size < 1:
            raise ValueError(f"quiz_batch_size={self.quiz_batch_size} must be >= 1 (or None for the train batch).")
        if self.distill_preset or self.intermediate_terms:
            raise ValueError(
                f"distill_preset={self.distill_preset!r} / intermediate_terms={self.intermediate_terms!r}: "
                "MetaDistil's pilot step differentiates the logit objective only. Drop the intermediate terms, or "
                "use DistillationTrainer for them."
            )
        if self.gradient_accumulation_steps != 1:
            raise ValueError(
                f"gradient_accumulation_steps={self.gradient_accumulation_steps}: MetaDistil updates the teacher at "
                "every batch, so an accumulated step would mix several teachers. Use gradient_accumulation_steps=1 "
                "and raise per_device_train_batch_size instead."
            )
        super().__post_init__()
