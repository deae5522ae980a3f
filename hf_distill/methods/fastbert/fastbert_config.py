"""FastBERT's recipe settings, parsable by `HfArgumentParser` next to the `TrainingArguments` (prefixed
``fastbert_`` so they share a parser with them).

Liu et al., "FastBERT: a Self-distilling BERT with Adaptive Inference Time", ACL 2020,
https://arxiv.org/abs/2004.02178.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...modeling_fastbert import BRANCH_POOLINGS, check_speed
from ...papers import Paper, cites

__all__ = ["FastBertArguments"]

FASTBERT = Paper(
    "Liu et al.",
    2020,
    "FastBERT: a Self-distilling BERT with Adaptive Inference Time",
    "ACL",
    "https://arxiv.org/abs/2004.02178",
    "FastBERT self-distillation into early-exit classifiers",
)


@cites(FASTBERT, "fastbert", "early_exit")
@dataclass
class FastBertArguments:
    """``--distill_method fastbert``: early exits trained by self-distillation, then the speed table."""

    fastbert_backbone: str = field(
        default="student",
        metadata={
            "help": "What gets the branch classifiers: 'student' (the recipe's student, usually a pre-trained "
            "checkpoint: stage 1 fine-tunes it for fastbert_backbone_epochs, then stage 2) or 'teacher' (a copy of "
            "the fine-tuned teacher: stage 2 only, fastbert_backbone_epochs must be 0).",
            "choices": ["student", "teacher"],
        },
    )
    fastbert_backbone_epochs: float = field(
        default=2.0,
        metadata={"help": "Epochs of stage 1 (task fine-tuning); the rest of num_train_epochs is stage 2."},
    )
    fastbert_branches_learning_rate: float | None = field(
        default=1e-3,
        metadata={"help": "Peak learning rate of stage 2 (fresh branches); None: the run's learning_rate."},
    )
    fastbert_speed: float = field(
        default=0.5,
        metadata={"help": "Exit threshold in [0, 1] saved in the model's config and used to evaluate the student."},
    )
    fastbert_speeds: list[float] = field(
        default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        metadata={"help": "Speeds of the speed table and curve (results.json method_results, the PNG)."},
    )
    fastbert_branch_hidden_size: int = field(default=128, metadata={"help": "Width of each branch classifier."})
    fastbert_branch_pooling: str = field(
        default="mean", metadata={"help": "What a branch reads.", "choices": list(BRANCH_POOLINGS)}
    )
    fastbert_timing_batch_sizes: list[int] = field(
        default_factory=lambda: [1, 32], metadata={"help": "Batch sizes the speed table times."}
    )
    fastbert_timing_rows: list[int] = field(
        default_factory=lambda: [128, 256],
        metadata={"help": "Evaluation rows timed at each of fastbert_timing_batch_sizes (accuracy uses them all)."},
    )
    fastbert_timing_repeats: int = field(default=2, metadata={"help": "Timing rounds (minimum taken)."})

    def __post_init__(self) -> None:
        if self.fastbert_backbone not in ("student", "teacher"):
            raise ValueError(f"fastbert_backbone={self.fastbert_backbone!r} is not one of 'student', 'teacher'.")
        if self.fastbert_backbone == "teacher" and self.fastbert_backbone_epochs != 0:
            raise ValueError(
                f"fastbert_backbone='teacher' wraps an already fine-tuned model: stage 1 must be skipped, set "
                f"fastbert_backbone_epochs=0 (got {self.fastbert_backbone_epochs})."
            )
        check_speed(self.fastbert_speed)
        for speed in self.fastbert_speeds:
            check_speed(speed)
        if len(self.fastbert_timing_rows) != len(self.fastbert_timing_batch_sizes):
            raise ValueError(
                f"fastbert_timing_rows={self.fastbert_timing_rows} needs one row count per batch size in "
                f"fastbert_timing_batch_sizes={self.fastbert_timing_batch_sizes}."
            )
        if self.fastbert_branches_learning_rate is not None and not self.fastbert_branches_learning_rate > 0:
            raise ValueError(f"fastbert_branches_learning_rate={self.fastbert_branches_learning_rate} must be > 0.")
