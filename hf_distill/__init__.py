"""hf_distill: knowledge distillation of BERT-family models as a drop-in `transformers.Trainer`."""

__version__ = "0.1.0"

from .arguments import DistillationTrainingArguments
from .data import DistillationDataCollator
from .hub import HubPushError, push_student
from .model_card import render_model_card
from .trainer import DistillationTrainer

__all__ = [
    "DistillationDataCollator",
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "HubPushError",
    "push_student",
    "render_model_card",
    "__version__",
]
