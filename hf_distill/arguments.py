"""`DistillationTrainingArguments`: `TrainingArguments` plus every distillation setting."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from .losses import KD_LOSS_TYPES

TEACHER_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class DistillationTrainingArguments(TrainingArguments):
    """Arguments of [`DistillationTrainer`]: everything `TrainingArguments` takes, plus the distillation settings.

    The training objective (METHODS.md section 1) is, per example,

        loss = (1 - alpha) * task_loss + alpha * kd_loss,   kd_loss = T^2 * KL(softmax(z_t/T) || softmax(z_s/T))

    and ``kd_loss`` alone for examples without a label. Parsable with `HfArgumentParser` from the command line,
    JSON or YAML like any `TrainingArguments`.
    """

    temperature: float = field(
        default=2.0,
        metadata={"help": "Softmax temperature T for the teacher and student distributions (> 0)."},
    )
    alpha: float = field(
        default=0.5,
        metadata={
            "help": "Weight of the distillation term, in [0, 1]; the hard-label task loss gets 1 - alpha. Examples "
            "without a label train on the distillation term alone."
        },
    )
    kd_loss_type: str = field(
        default="kl",
        metadata={
            "help": "Logit distillation loss: 'kl' (T^2 * KL(p_t || p_s)), 'ce' (T^2 * soft cross-entropy) or "
            "'mse' (squared error on raw logits; the choice for regression, num_labels == 1).",
            "choices": list(KD_LOSS_TYPES),
        },
    )
    teacher_dtype: str | None = field(
        default=None,
        metadata={
            "help": "Dtype to run the teacher in: 'float32', 'bfloat16', 'float16' or 'auto' (the checkpoint's). "
            "None keeps the teacher as given (or float32 when loaded from a path).",
            "choices": [None, *TEACHER_DTYPES],
        },
    )
    teacher_model_init_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Keyword arguments (a dict or a JSON string) for `from_pretrained` when the teacher is given as "
            'a path or Hub id, e.g. \'{"revision": "main"}\'.'
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.teacher_model_init_kwargs, str):
            try:
                self.teacher_model_init_kwargs = json.loads(self.teacher_model_init_kwargs)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"teacher_model_init_kwargs={self.teacher_model_init_kwargs!r} is not valid JSON ({error}); "
                    'pass a dict or a JSON object such as \'{"revision": "main"}\'.'
                ) from None
        if not self.temperature > 0:
            raise ValueError(
                f"temperature={self.temperature} must be > 0: it divides the logits. Typical values are 1 to 20 "
                "(DistilBERT uses 2.0)."
            )
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(
                f"alpha={self.alpha} must be in [0, 1]: it weighs the distillation term and 1 - alpha the task "
                "loss (0 = plain fine-tuning, 1 = distillation only)."
            )
        if self.kd_loss_type not in KD_LOSS_TYPES:
            raise ValueError(f"kd_loss_type={self.kd_loss_type!r} is not one of {', '.join(KD_LOSS_TYPES)}.")
        if self.teacher_dtype is not None and self.teacher_dtype not in TEACHER_DTYPES:
            raise ValueError(
                f"teacher_dtype={self.teacher_dtype!r} is not one of {', '.join(TEACHER_DTYPES)} (or None to keep "
                "the teacher's dtype)."
            )
        super().__post_init__()

    @classmethod
    def from_training_arguments(cls, args: TrainingArguments, **overrides: Any) -> DistillationTrainingArguments:
        """Upgrade a plain `TrainingArguments` (distillation settings at their defaults unless overridden)."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}
        return cls(**{**values, **overrides})
